"""``--engine builtin|facefusion`` and the FaceFusion options, shared by the commands that run or
key steps (run, plan, status, push, pull, show, get) and serve."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ffpipe.errors import UserError

if TYPE_CHECKING:
    from ffpipe.engine.api import Engine

BUILTIN = "builtin"
FACEFUSION = "facefusion"
ENGINES = (BUILTIN, FACEFUSION)


@dataclass(frozen=True)
class EngineChoice:
    """The in-process engine asked for, and where FaceFusion is when that is the one."""

    name: str = BUILTIN
    facefusion: Path | None = None
    facefusion_python: Path | None = None
    allow_downloads: bool = False
    ffmpeg: Path | None = None
    """The ffmpeg FaceFusion uses (``--facefusion-ffmpeg``), else its environment's."""
    devices: str | None = None
    """``--devices 0,1``: one FaceFusion worker per device."""


def add_engine_arguments(parser: argparse.ArgumentParser, *, with_engine: bool = True) -> None:
    """``--engine`` and the FaceFusion options: checkout, its Python, downloads allowed.

    ``--engine`` defaults to None here: the command's :class:`~ffpipe.cli.context.Invocation`
    then takes ``[engine] name`` from the project's settings, else the builtin engine.
    """
    if with_engine:
        parser.add_argument(
            "--engine",
            choices=ENGINES,
            default=None,
            help="engine that runs (or keys) the steps in-process (default: [engine] name in "
            "ffpipe.toml, else builtin)",
        )
    parser.add_argument(
        "--facefusion",
        type=Path,
        default=os.environ.get("FFPIPE_FACEFUSION") or None,
        metavar="PATH",
        help="FaceFusion 3.8 checkout for --engine facefusion (default: $FFPIPE_FACEFUSION)",
    )
    parser.add_argument(
        "--facefusion-python",
        type=Path,
        default=os.environ.get("FFPIPE_FACEFUSION_PYTHON") or None,
        metavar="PY",
        help="FaceFusion's own Python (default: $FFPIPE_FACEFUSION_PYTHON, else the checkout's "
        ".venv/bin/python or venv/bin/python)",
    )
    parser.add_argument(
        "--facefusion-downloads",
        action="store_true",
        help="let FaceFusion download missing models as it normally does (default: offline)",
    )
    parser.add_argument(
        "--devices",
        metavar="IDS",
        help="with --engine facefusion: one warm FaceFusion worker per device id, e.g. 0,1 "
        "(each sees only its GPU through CUDA_VISIBLE_DEVICES); requests spread over them",
    )
    parser.add_argument(
        "--facefusion-ffmpeg",
        type=Path,
        default=os.environ.get("FFPIPE_FACEFUSION_FFMPEG") or None,
        metavar="FFMPEG",
        help="the ffmpeg FaceFusion uses (default: $FFPIPE_FACEFUSION_FFMPEG, else the one in "
        "its environment, else PATH's); one that breaks FaceFusion's video reads (FFmpeg 9) is "
        "worked around, or video ops are refused",
    )


def make_engine(args: argparse.Namespace, *, strict_models: bool = False) -> Engine | None:
    """The engine ``args`` ask for (``ffpipe serve``); None for the builtin one."""
    choice = EngineChoice(
        name=getattr(args, "engine", None) or BUILTIN,
        facefusion=args.facefusion,
        facefusion_python=args.facefusion_python,
        allow_downloads=args.facefusion_downloads,
        ffmpeg=args.facefusion_ffmpeg,
        devices=getattr(args, "devices", None),
    )
    return open_engine(choice, strict_models=strict_models)


def open_engine(choice: EngineChoice, *, strict_models: bool = False) -> Engine | None:
    """The engine chosen; None for the builtin one (created lazily by the backend).

    A FaceFusion checkout that is missing, unsupported or has no usable Python is one
    :class:`UserError` with the reason.
    """
    if choice.name != FACEFUSION:
        if choice.devices:
            raise UserError("--devices places FaceFusion workers: it needs --engine facefusion")
        return None
    if choice.facefusion is None:
        raise UserError("the facefusion engine needs --facefusion PATH (or FFPIPE_FACEFUSION)")
    from ffpipe.engine.api import EngineError
    from ffpipe.engine.facefusion import FaceFusionEngine
    from ffpipe.engine.facefusion.pool import FaceFusionPool, parse_devices

    def make(device: str | None = None) -> FaceFusionEngine:
        return FaceFusionEngine(
            choice.facefusion,
            choice.facefusion_python,
            strict_models=strict_models,
            allow_downloads=choice.allow_downloads,
            ffmpeg=choice.ffmpeg,
            device=device,
        )

    try:
        if choice.devices:
            return FaceFusionPool(make, parse_devices(choice.devices))
        return make()
    except (EngineError, ValueError) as error:
        raise UserError(str(error)) from None


def start_engine(engine: Engine) -> None:
    """Start an engine's worker now, so a bad install is one message before anything runs."""
    from ffpipe.engine.facefusion import CheckoutError, FaceFusionEngine
    from ffpipe.engine.facefusion.pool import FaceFusionPool

    if isinstance(engine, (FaceFusionEngine, FaceFusionPool)):
        try:
            engine.start()
        except CheckoutError as error:
            engine.close()
            raise UserError(str(error)) from None
