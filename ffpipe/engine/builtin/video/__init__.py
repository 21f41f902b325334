"""Video on the builtin engine: streaming decode -> per-frame work -> encode, with PyAV.

Nothing is written to disk between decoding and encoding; memory is bounded by the
``video_memory_strategy`` (see :mod:`ffpipe.engine.builtin.video.flow` for what each one keeps),
not by
the length of the video. Quality and preset mappings are documented in
:mod:`ffpipe.engine.builtin.video.encoding`, frame-rate resampling in
:mod:`ffpipe.engine.builtin.video.timeline`.
"""

from ffpipe.engine.builtin.video.encoding import encoders, quality_to_crf
from ffpipe.engine.builtin.video.extract import extract_frames
from ffpipe.engine.builtin.video.probe import VideoInfo, is_video, probe
from ffpipe.engine.builtin.video.process import FrameFn, process_video

__all__ = [
    "FrameFn",
    "VideoInfo",
    "encoders",
    "extract_frames",
    "is_video",
    "probe",
    "process_video",
    "quality_to_crf",
]
