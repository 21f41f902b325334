"""``ffpipe pull [FILE ...]``: fetch pipelines' steps from the remote cache and write their
outputs, running nothing.

Without files, the pipelines named by the lock files under the current folder. Every object is
verified against its digest; a corrupt one is refused. Exit codes: 0 every step was there (or
in the workspace already); 1 some were not (run the pipeline to render them); 2 no remote, or
``--require-remote`` and it failed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ffpipe.cli import options, remote_support
from ffpipe.cli.context import Invocation
from ffpipe.cli.engine_options import add_engine_arguments
from ffpipe.words import plural


def register(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``ffpipe pull``."""
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE", help="pipeline files")
    options.add_params(parser)
    options.add_workspace(parser)
    parser.add_argument(
        "--out", type=Path, help="output root (default: out/ in the pipelines' project)"
    )
    options.add_server(parser)
    options.add_remote(parser)
    parser.add_argument("-j", "--jobs", type=options.positive_int, help="transfers at once")
    add_engine_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Pull every pipeline; say what was fetched and what is missing."""
    from ffpipe.cache.workspace import Workspace
    from ffpipe.run.reporters import make_reporter

    files = args.files or remote_support.locked_pipelines(Path.cwd())
    invocation = Invocation.of(args, files)
    invocation.needed_remote_url()
    if not files:
        print("no pipeline files given and no lock files found: nothing to pull")
        return 0
    missing_any = False
    reporter = make_reporter()
    with Workspace(invocation.workspace) as workspace:
        source = invocation.remote_source(workspace, fetching=True, emit=reporter)
        if source is None:
            return 0
        for file in files:
            wanted, _ = remote_support.pipeline_entries(
                file, invocation, workspace, source.planning_twin()
            )
            fetched = source.fetch(wanted) if wanted else []
            written, missing = remote_support.write_cached_outputs(file, invocation, workspace)
            print(
                f"{file}: {plural(len(fetched), 'step')} fetched, "
                f"{plural(len(written), 'output')} written"
                + (f"; not in the remote: {', '.join(missing)}" if missing else "")
            )
            for name, path in written.items():
                print(f"  {name}: {path}")
            missing_any = missing_any or bool(missing)
    return 1 if missing_any else 0
