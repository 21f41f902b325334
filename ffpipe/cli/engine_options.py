"""``--engine builtin|facefusion`` and the FaceFusion options, shared by run, plan and serve."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ffpipe.errors import UserError

if TYPE_CHECKING:
    from ffpipe.engine.api import Engine

ENGINES = ("builtin", "facefusion")


def add_engine_arguments(parser: argparse.ArgumentParser, *, with_engine: bool = True) -> None:
    """``--engine`` and the FaceFusion options: checkout, its Python, downloads allowed."""
    if with_engine:
        parser.add_argument(
            "--engine",
            choices=ENGINES,
            default="builtin",
            help="engine that runs the steps in-process (default builtin)",
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
    """The engine ``args`` ask for; None for the builtin one (created lazily by the backend).

    A FaceFusion checkout that is missing, unsupported or has no usable Python is one
    :class:`UserError` with the reason.
    """
    if getattr(args, "engine", "builtin") != "facefusion":
        if getattr(args, "devices", None):
            raise UserError("--devices places FaceFusion workers: it needs --engine facefusion")
        return None
    if args.facefusion is None:
        raise UserError("--engine facefusion needs --facefusion PATH (or FFPIPE_FACEFUSION)")
    from ffpipe.engine.api import EngineError
    from ffpipe.engine.facefusion import FaceFusionEngine
    from ffpipe.engine.facefusion.pool import FaceFusionPool, parse_devices

    def make(device: str | None = None) -> FaceFusionEngine:
        return FaceFusionEngine(
            args.facefusion,
            args.facefusion_python,
            strict_models=strict_models,
            allow_downloads=args.facefusion_downloads,
            ffmpeg=args.facefusion_ffmpeg,
            device=device,
        )

    try:
        if getattr(args, "devices", None):
            return FaceFusionPool(make, parse_devices(args.devices))
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
