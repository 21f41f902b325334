"""Argument types and the options several commands share, written once.

The types raise :class:`argparse.ArgumentTypeError`, so a bad value is one usage line and exit
code 2 before any work. This module imports nothing heavy: ``ffpipe run`` and ``ffpipe plan``
parse their arguments on the no-op fast path, where every millisecond of import counts.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

ENV_WORKSPACE = "FFPIPE_WORKSPACE"
ENV_SERVER = "FFPIPE_SERVER"
ENV_CLUSTER = "FFPIPE_CLUSTER"
DEFAULT_WORKSPACE = ".ffpipe"


def positive_int(text: str) -> int:
    """A whole number above zero (``--jobs 2``, ``--limit 50``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
    return value


def positive_float(text: str) -> float:
    """A finite number above zero (``--interval 0.5``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
    return value


def port(text: str) -> int:
    """A TCP port to listen on, 1-65535 (0, "any free port", is refused: the server and its
    clients must know the port it listens on)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return value


def size(text: str) -> int:
    """Bytes in a size: ``2GB`` (powers of 1000), ``500MiB`` (of 1024), ``123``, ``0``."""
    from ffpipe.units import UnitError, parse_size

    try:
        return parse_size(text)
    except UnitError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def positive_size(text: str) -> int:
    """A :func:`size` above zero (``--max-file-size 100MB``)."""
    value = size(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
    return value


def duration(text: str) -> float:
    """Seconds above zero: a plain number (``2.5``) or with units (``30s``, ``1w``, ``1d12h``)."""
    if _is_number(text):  # also nan and inf, refused as numbers rather than as spellings
        return positive_float(text)
    from ffpipe.units import UnitError, parse_duration

    try:
        value = parse_duration(text)
    except UnitError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def add_pipeline_files(parser: argparse.ArgumentParser) -> None:
    """``FILE [FILE ...]``: the pipeline files a command works on."""
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="pipeline files")


def add_params(parser: argparse.ArgumentParser) -> None:
    """``-p NAME=VALUE`` overrides, shared by the commands that load a pipeline."""
    parser.add_argument(
        "-p",
        "--param",
        dest="params",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a pipeline param (repeatable)",
    )
    parser.add_argument(
        "--max-instances",
        type=positive_int,
        default=None,
        metavar="N",
        help="matrix combinations a pipeline may expand to (default 1000)",
    )
    parser.add_argument(
        "--allow-outside-files",
        action="store_true",
        help="let inputs and globs name files outside the pipeline's folder or project",
    )


def add_workspace(parser: argparse.ArgumentParser) -> None:
    """``--workspace DIR``; absent, the command's Invocation takes FFPIPE_WORKSPACE, else
    ``.ffpipe`` in the project root."""
    parser.add_argument(
        "--workspace",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"cache and run records (default: ${ENV_WORKSPACE}, else {DEFAULT_WORKSPACE} in the "
        "pipeline's project root)",
    )


def add_server(parser: argparse.ArgumentParser) -> None:
    """``--server URL`` (default FFPIPE_SERVER; absent means the in-process engine), ``--config``.

    Engine choices for the in-process backend belong beside these.
    """
    parser.add_argument(
        "--server",
        default=os.environ.get(ENV_SERVER) or None,
        metavar="URL",
        help=f"run on a catalog server (gradio) instead of in-process (default: ${ENV_SERVER}, "
        "else the url in ffpipe.toml)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="settings: server url, auth_file, timeout, endpoints; remote cache; engine (default: "
        "ffpipe.toml in the pipeline's project root)",
    )


def add_fuse(parser: argparse.ArgumentParser) -> None:
    """``--no-fuse``: run chained per-frame video steps one by one instead of in one pass."""
    parser.add_argument(
        "--no-fuse",
        action="store_true",
        help="run per-frame steps on a video one by one (one decode and encode each)",
    )


def add_selection(parser: argparse.ArgumentParser, verb: str) -> None:
    """``--target``, ``--force``, ``--force-all``: which steps, and which to redo."""
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="STEP",
        help=f"{verb} only STEP and what it needs (repeatable)",
    )
    parser.add_argument(
        "--force",
        action="append",
        default=[],
        metavar="STEP",
        help=f"{verb} STEP even if cached (repeatable)",
    )
    parser.add_argument("--force-all", action="store_true", help="ignore the cache entirely")


def add_remote(parser: argparse.ArgumentParser, *, run: bool = False) -> None:
    """``--remote URL`` and ``--require-remote``; for ``run`` also ``--pull/--no-pull/--push``."""
    parser.add_argument(
        "--remote",
        metavar="URL",
        help="remote cache: a folder or fsspec URL (default: $FFPIPE_REMOTE, else [cache] remote "
        "in ffpipe.toml)",
    )
    parser.add_argument(
        "--require-remote",
        action="store_true",
        help="fail when the remote cache cannot be reached (default: go on locally)",
    )
    if run:
        parser.add_argument(
            "--pull",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="fetch steps the workspace lacks from the remote cache (default: on when one "
            "is configured)",
        )
        parser.add_argument(
            "--push", action="store_true", help="upload this run's steps to the remote cache"
        )


def add_cluster(parser: argparse.ArgumentParser) -> None:
    """``--cluster ADDRESS``: a Dask scheduler that runs the steps."""
    parser.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="Dask scheduler that runs the steps, e.g. tcp://scheduler:8786 (default: "
        f"${ENV_CLUSTER}, else [cluster] scheduler in the project's ffpipe.toml); needs a "
        "remote cache",
    )
