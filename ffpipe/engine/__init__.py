"""The engine contract and the two engines behind it.

:mod:`ffpipe.engine.api` is the contract every engine fulfils (the op call, its context, its output
and its errors). :mod:`ffpipe.engine.builtin` is the CPU engine and :mod:`ffpipe.engine.facefusion`
drives a FaceFusion install; neither imports the other. Importing this package loads neither.
"""

from __future__ import annotations

from ffpipe.engine.api import (
    CancelledError,
    Engine,
    EngineError,
    EngineOutput,
    FaceNotFoundError,
    MediaError,
    RunContext,
    UnsupportedError,
)

__all__ = [
    "CancelledError",
    "Engine",
    "EngineError",
    "EngineOutput",
    "FaceNotFoundError",
    "MediaError",
    "RunContext",
    "UnsupportedError",
]
