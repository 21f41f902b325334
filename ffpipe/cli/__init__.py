"""The ``ffpipe`` command: one module per subcommand, imported only when that command runs.

Each command module defines ``register(parser)`` to add its arguments and ``run(args) -> int``;
its one-line summary is in :data:`COMMANDS`, shared option types in :mod:`ffpipe.cli.options`.
A command that loads a pipeline turns its arguments into one typed
:class:`~ffpipe.cli.context.Invocation` (project, workspace, outputs, engine, backend, remote).
Importing lazily keeps ``ffpipe run`` on a fully cached pipeline from loading gradio, OpenCV or
dlib.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from types import ModuleType

from ffpipe.errors import ExitCode, UserError

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
    "import": "turn FaceFusion job files into a pipeline",
    "export": "write a pipeline as a FaceFusion job that its job-run runs",
    "completion": "print a shell completion script: ffpipe completion bash|zsh|fish",
}


def _command_module(name: str) -> ModuleType:
    return importlib.import_module(f"ffpipe.cli.{name}_cmd")


class _VersionAction(argparse.Action):
    """``--version``: ffpipe's version and its engines', looked up only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(
            option_strings, dest, nargs=0, help="show ffpipe's and its engines' versions"
        )

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from ffpipe.cli.version import versions

        print(versions())
        parser.exit()


def _parser(argv: Sequence[str], *, every_command: bool = False) -> argparse.ArgumentParser:
    """The parser; only the chosen command's arguments are registered (all of them for shell
    completion, ``every_command``)."""
    parser = argparse.ArgumentParser(prog="ffpipe", description="Declarative face pipelines.")
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = next((arg for arg in argv if arg in COMMANDS), None)
    for name, summary in COMMANDS.items():
        sub = commands.add_parser(name, help=summary, description=summary)
        if every_command or name == chosen:
            _command_module(name).register(sub)
        add_common(sub)
    return parser


def add_common(parser: argparse.ArgumentParser) -> None:
    """``-v/--verbose`` and ``-q/--quiet`` on a command and every action under it, so they may
    come anywhere after the command's name. Read them with ``getattr``: the default is to leave
    them out, so a nested action's default cannot reset what was given before it."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="say more (-vv: debug logging)",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print only errors; the exit code says the rest",
    )
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for nested in dict.fromkeys(action.choices.values()):
                add_common(nested)


@contextlib.contextmanager
def _verbosity(args: argparse.Namespace) -> Iterator[None]:
    """Logging by ``-v`` (info) and ``-vv`` (debug); ``-q`` sends standard output nowhere."""
    verbose = int(getattr(args, "verbose", 0) or 0)
    if verbose:
        logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.INFO)
    if not getattr(args, "quiet", False):
        yield
        return
    with open(os.devnull, "w", encoding="utf-8") as nowhere, contextlib.redirect_stdout(nowhere):
        yield


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ffpipe`` console script; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = _parser(args_list).parse_args(args_list)
    if getattr(args, "quiet", False) and getattr(args, "verbose", 0):
        print("ffpipe: error: -q and -v say opposite things; give one", file=sys.stderr)
        return UserError.exit_code
    try:
        with _verbosity(args):
            return int(_command_module(args.command).run(args))
    except UserError as error:
        print(f"ffpipe: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("ffpipe: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # The reader (e.g. `| head`) left; say nothing more, and keep Python from complaining
        # about the unflushable stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.OK
