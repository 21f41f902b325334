"""``ffpipe status FILE``: does the working tree still match the pipeline's lock file?

Exit 0 when it does; 1 when it does not (each difference is listed) or there is no lock file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ffpipe.cli.run_cmd import add_workspace_argument
from ffpipe.cli.validate_cmd import add_pipeline_arguments, load_options

HELP = "say whether the working tree still matches a pipeline's lock file"


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="pipeline files")
    add_pipeline_arguments(parser)
    add_workspace_argument(parser)


def run(args: argparse.Namespace) -> int:
    from ffpipe.cache.workspace import Workspace
    from ffpipe.run.lockfile import differences, lock_path, read_lock
    from ffpipe.spec import load_pipeline, parse_overrides

    overrides = parse_overrides(args.params)
    stats = Workspace(args.workspace).stats
    up_to_date = True
    for path in args.files:
        pipeline = load_pipeline(path, overrides, load_options(args))
        lock_file = lock_path(path)
        lock = read_lock(lock_file)
        if lock is None:
            print(f"{path}: no lock file {lock_file.name}; run `ffpipe run {path}` first")
            up_to_date = False
            continue
        found = differences(pipeline, lock, lambda value: stats.digest(Path(value)))
        if found:
            up_to_date = False
            print(f"{path}: out of date with {lock_file.name}")
            for difference in found:
                print(f"  {difference}")
        else:
            print(f"{path}: up to date")
    return 0 if up_to_date else 1
