"""The ``ffpipe`` command: one module per subcommand, imported only when that command runs.

Each command module defines ``register(parser)`` to add its arguments and ``run(args) -> int``;
its one-line summary is in :data:`COMMANDS`, shared option types in :mod:`ffpipe.cli.options`.
Importing lazily keeps ``ffpipe run`` on a fully cached pipeline from loading gradio, OpenCV or
dlib.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from ffpipe import __version__
from ffpipe.errors import UserError

COMMANDS: dict[str, str] = {
    "validate": "check pipeline files and report every mistake with its location",
    "plan": "show the steps in run order, their parameters and whether each will run and why",
    "graph": "draw the DAG of a pipeline as mermaid or dot",
    "schema": "write (or check) the JSON Schemas generated from the catalog models",
    "ops": "list the ops, or one op's parameters with types, ranges, defaults",
    "run": "run a pipeline, reusing cached steps",
    "status": "say whether the working tree still matches a pipeline's lock file",
    "cache": "list, garbage-collect or verify the workspace cache",
    "push": "upload pipelines' cached steps to the remote cache",
    "pull": "fetch pipelines' steps from the remote cache and write their outputs",
    "show": "print where a step's cached artifact is, or its result document",
    "get": "copy a step's cached artifact out of the cache",
    "init": "write a starter pipeline, ffpipe.toml and .gitignore lines into a folder",
    "serve": "serve the catalog API over HTTP with the builtin engine or a FaceFusion install",
    "jobs": "list, inspect, wait for or cancel jobs on a server",
    "runs": "list the runs with what changed between them, or prune old run records (gc)",
    "diff": "compare two runs step by step: parameters, inputs, outputs and their pictures",
    "report": "write the HTML report of a run: its DAG, steps, thumbnails and contact sheets",
}

EXIT_INTERRUPTED = 130


def _command_module(name: str) -> ModuleType:
    return importlib.import_module(f"ffpipe.cli.{name}_cmd")


def _parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ffpipe", description="Declarative face pipelines.")
    parser.add_argument("--version", action="version", version=f"ffpipe {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = next((arg for arg in argv if arg in COMMANDS), None)
    for name, summary in COMMANDS.items():
        sub = commands.add_parser(name, help=summary, description=summary)
        if name == chosen:
            _command_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ffpipe`` console script; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = _parser(args_list).parse_args(args_list)
    try:
        return int(_command_module(args.command).run(args))
    except UserError as error:
        print(f"ffpipe: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("ffpipe: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader (e.g. `| head`) left; say nothing more, and keep Python from complaining
        # about the unflushable stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
