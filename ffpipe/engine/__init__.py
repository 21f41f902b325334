"""The builtin CPU engine and the contracts around it.

:class:`BuiltinEngine` runs catalog ops on local files; :class:`FramePipeline` applies the
per-frame ops (swap, enhance, edit) to one frame at a time, for images and for the video module.
"""

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
from ffpipe.engine.builtin import ENGINE_VERSION, BuiltinEngine
from ffpipe.engine.faces import Face, detect_faces, embedding_distance
from ffpipe.engine.frames import FramePipeline, FrameReport
from ffpipe.engine.images import MAX_PIXELS
from ffpipe.engine.masks import blend, build_mask

__all__ = [
    "ENGINE_VERSION",
    "MAX_PIXELS",
    "BuiltinEngine",
    "CancelledError",
    "Engine",
    "EngineError",
    "EngineOutput",
    "Face",
    "FaceNotFoundError",
    "FramePipeline",
    "FrameReport",
    "MediaError",
    "RunContext",
    "UnsupportedError",
    "blend",
    "build_mask",
    "detect_faces",
    "embedding_distance",
]
