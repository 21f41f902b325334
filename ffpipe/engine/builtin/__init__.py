"""The builtin CPU engine.

:class:`BuiltinEngine` runs catalog ops on local files; :class:`FramePipeline` applies the
per-frame ops (swap, enhance, edit) to one frame at a time, for images and for the video module.

The names below load on first use: importing a light module of this package (the engine's
name, version and stand-ins in :mod:`ffpipe.engine.builtin.capabilities`) must not load numpy,
OpenCV, dlib and PyAV, which the engine itself needs.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ffpipe.engine.builtin.capabilities import ENGINE_VERSION
    from ffpipe.engine.builtin.engine import BuiltinEngine
    from ffpipe.engine.builtin.faces import Face, detect_faces, embedding_distance
    from ffpipe.engine.builtin.frames import FramePipeline, FrameReport
    from ffpipe.engine.builtin.images import MAX_PIXELS
    from ffpipe.engine.builtin.masks import blend, build_mask

_HOMES = {
    "BuiltinEngine": "engine",
    "ENGINE_VERSION": "capabilities",
    "Face": "faces",
    "detect_faces": "faces",
    "embedding_distance": "faces",
    "FramePipeline": "frames",
    "FrameReport": "frames",
    "MAX_PIXELS": "images",
    "blend": "masks",
    "build_mask": "masks",
}

__all__ = [
    "ENGINE_VERSION",
    "MAX_PIXELS",
    "BuiltinEngine",
    "Face",
    "FramePipeline",
    "FrameReport",
    "blend",
    "build_mask",
    "detect_faces",
    "embedding_distance",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{home}"), name)
