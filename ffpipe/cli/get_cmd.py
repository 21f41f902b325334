"""``ffpipe get STEP -o PATH``: copy a step's artifact out of the cache (see ``ffpipe show``).

PATH ending in a separator, or naming an existing folder, receives a file artifact under its own
name; a folder artifact is copied as that folder.

Exit codes: 0 copied; 1 the step is not in the cache; 2 an unknown step or pipeline, or PATH
cannot be written.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from ffpipe.cli.show_cmd import add_step_arguments
from ffpipe.errors import ExitCode, UserError


def register(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``ffpipe get``."""
    add_step_arguments(parser)
    parser.add_argument("-o", "--output", required=True, metavar="PATH")


def run(args: argparse.Namespace) -> int:
    """Copy the artifact to PATH (a folder artifact as a folder)."""
    from ffpipe.cli.artifacts import find_artifact

    found = find_artifact(args)
    if found is None:
        return ExitCode.FAILED
    source = Path(found.path)
    target = _target(args.output, source)
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


def _target(given: str, source: Path) -> Path:
    """Where a file artifact goes: into ``given`` when it names a folder, else ``given`` itself."""
    seps = (os.sep, os.altsep) if os.altsep else (os.sep,)
    if source.is_file() and (given.endswith(seps) or Path(given).is_dir()):
        return Path(given) / source.name
    return Path(given)
