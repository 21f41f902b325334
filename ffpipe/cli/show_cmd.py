"""``ffpipe show STEP [--result]``: where a step's artifact is in the cache, or its result.

STEP is an instance id (``swap``, ``swap[target=b.jpg]``); the pipeline is ``-f FILE``, or the
one pipeline with a lock file in the current folder. Exit codes: 0 shown; 1 the step is not in
the cache (the plan's reason is said); 2 an unknown step or pipeline.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ffpipe.cli import options
from ffpipe.cli.engine_options import add_engine_arguments
from ffpipe.errors import ExitCode


def register(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``ffpipe show``."""
    add_step_arguments(parser)
    parser.add_argument("--result", action="store_true", help="print the result document")


def add_step_arguments(parser: argparse.ArgumentParser) -> None:
    """``STEP``, ``-f FILE`` and what planning the pipeline needs (shared with ``get``)."""
    parser.add_argument("step", metavar="STEP", help="step or instance id, e.g. swap[target=b.jpg]")
    parser.add_argument("-f", "--file", type=Path, metavar="FILE", help="pipeline file")
    options.add_params(parser)
    options.add_workspace(parser)
    options.add_server(parser)
    add_engine_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Print the artifact's path (or the result document)."""
    from ffpipe.cli.artifacts import find_artifact

    found = find_artifact(args)
    if found is None:
        return ExitCode.FAILED
    if args.result:
        print(json.dumps(found.result, indent=2, sort_keys=True, default=str))
    else:
        print(found.path)
    sys.stdout.flush()
    return 0
