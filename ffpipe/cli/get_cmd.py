"""``ffpipe get STEP -o PATH``: copy a step's artifact out of the cache (see ``ffpipe show``).

Exit codes: 0 copied; 1 the step is not in the cache; 2 an unknown step or pipeline, or PATH
cannot be written.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from ffpipe.cli.show_cmd import add_step_arguments
from ffpipe.errors import ExitCode, UserError


def register(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``ffpipe get``."""
    add_step_arguments(parser)
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="PATH")


def run(args: argparse.Namespace) -> int:
    """Copy the artifact to PATH (a folder artifact as a folder)."""
    from ffpipe.cli.artifacts import find_artifact

    found = find_artifact(args)
    if found is None:
        return ExitCode.FAILED
    source, target = Path(found.path), args.output
    try:
        if target.parent != Path(""):
            target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copyfile(source, target)
    except OSError as error:
        raise UserError(f"cannot write {target}: {error.strerror or error}") from None
    print(f"{args.step} -> {target}")
    return 0
