"""Encoder settings: which encoders exist, and how catalog quality and presets map onto them.

Quality (0-100, higher is better) maps linearly onto each encoder's constant-quality scale, the
same scale FaceFusion uses:

- libx264 and libx265: ``crf = round(51 - 0.51 * quality)``; 0 -> 51 (smallest), 100 -> 0.
- libvpx-vp9: ``crf = round(63 - 0.63 * quality)`` with ``b:v 0`` (pure constant quality).

Presets are passed to x264 and x265 as they are. libvpx-vp9 has no presets; each one maps to a
``deadline`` and ``cpu-used`` pair (lower cpu-used is slower and smaller):

============  ========  ========
preset        deadline  cpu-used
============  ========  ========
ultrafast     realtime  8
superfast     realtime  6
veryfast      good      5
faster        good      4
fast          good      3
medium        good      2
slow          good      1
slower        good      0
veryslow      best      0
============  ========  ========

The same frames always give the same bytes, in any process on any run (a local run and a
``ffpipe serve`` run of the same step agree byte for byte):

- Muxers run with FFmpeg's ``bitexact`` flag (:data:`CONTAINER_OPTIONS`): Matroska and WebM then
  write no random segment UID and no muxing date, and no container records a library version.
- Streams carry the ``bitexact`` codec flag, so their headers name no library version.
- Encoders run on a fixed number of threads (:data:`ENCODER_THREADS`), never "as many as the
  processor has": x264 splits work between frame threads, and x265 between frame threads, in
  ways that change the bytes, so an automatic count gave other bytes on a machine with more
  cores (or under ``taskset``).
- On processors with AVX-512, libx264 is held to AVX2 code (``asm=AVX2``): its AVX-512 code, as
  built into the PyAV wheels, gave different bytes for identical frames now and then (like a
  read of uninitialised memory; with ``asm`` at AVX2 or below, or without macroblock-tree rate
  control, the bytes never varied). x264's code paths are bit-exact with each other otherwise,
  so the bytes are those of any AVX2 machine, at a small cost in speed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import av

from ffpipe.engine.api import UnsupportedError

SOFTWARE_ENCODERS: tuple[str, ...] = ("libx264", "libx265", "libvpx-vp9")
GPU_ENCODERS: tuple[str, ...] = ("h264_nvenc", "hevc_nvenc")

VP9_PRESETS: dict[str, tuple[str, int]] = {
    "ultrafast": ("realtime", 8),
    "superfast": ("realtime", 6),
    "veryfast": ("good", 5),
    "faster": ("good", 4),
    "fast": ("good", 3),
    "medium": ("good", 2),
    "slow": ("good", 1),
    "slower": ("good", 0),
    "veryslow": ("best", 0),
}

CONTAINER_FORMATS: dict[str, str] = {
    ".mp4": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
}
"""Output file extension -> FFmpeg muxer."""

CONTAINER_OPTIONS: dict[str, str] = {"fflags": "+bitexact"}
"""Options of every output container: no random IDs, dates or library versions in its bytes."""
BITEXACT_CODEC_OPTIONS: dict[str, str] = {"flags": "+bitexact"}
"""Options of every output stream, video and audio."""
ENCODER_THREADS = 4
"""Threads of every video encoder, on any machine (their count changes the bytes)."""

_CONTAINER_ENCODERS: dict[str, tuple[str, ...]] = {
    ".mp4": SOFTWARE_ENCODERS,
    ".mov": ("libx264", "libx265"),
    ".mkv": SOFTWARE_ENCODERS,
    ".webm": ("libvpx-vp9",),
}


@dataclass(frozen=True)
class EncoderSettings:
    """Everything needed to open a video stream for one catalog encoder, preset and quality."""

    codec: str
    crf: int
    options: dict[str, str]


def encoders() -> list[str]:
    """The software video encoders this PyAV build can open (GPU encoders are never listed)."""
    return list(_available_encoders())


@cache
def _available_encoders() -> tuple[str, ...]:
    available = []
    for name in SOFTWARE_ENCODERS:
        try:
            av.codec.Codec(name, "w")
        except (av.error.FFmpegError, ValueError):
            continue
        available.append(name)
    return tuple(available)


@cache
def _has_avx512() -> bool:
    """Whether this processor has AVX-512 (read where the system tells; False where it does not)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    return " avx512f" in flags


def quality_to_crf(encoder: str, quality: int) -> int:
    """The constant rate factor that catalog ``quality`` (0-100) stands for with ``encoder``."""
    top = 63 if encoder == "libvpx-vp9" else 51
    return round(top - quality * top / 100)


def encoder_settings(encoder: str, preset: str, quality: int) -> EncoderSettings:
    """Codec options for the catalog's ``output_video_encoder``/``_preset``/``_quality``."""
    if encoder in GPU_ENCODERS:
        raise UnsupportedError(
            f"output_video_encoder {encoder} needs an NVIDIA GPU, not available on this engine; "
            f"use one of {', '.join(encoders())}"
        )
    if encoder not in encoders():
        raise UnsupportedError(
            f"output_video_encoder {encoder} is not available on this engine; "
            f"use one of {', '.join(encoders())}"
        )
    crf = quality_to_crf(encoder, quality)
    options = {"crf": str(crf), "threads": str(ENCODER_THREADS), **BITEXACT_CODEC_OPTIONS}
    if encoder == "libvpx-vp9":
        deadline, cpu_used = VP9_PRESETS[preset]
        options |= {"b": "0", "deadline": deadline, "cpu-used": str(cpu_used), "row-mt": "1"}
    else:
        options["preset"] = preset
    if encoder == "libx264" and _has_avx512():
        options["x264-params"] = "asm=AVX2"
    if encoder == "libx265":
        # x265 sizes its thread pool and frame threads from the processor count otherwise.
        options["x265-params"] = f"log-level=error:pools={ENCODER_THREADS}:frame-threads=1"
    return EncoderSettings(codec=encoder, crf=crf, options=options)


def check_container(suffix: str, encoder: str) -> str:
    """The muxer for an output extension; raises if the container cannot hold ``encoder``."""
    fmt = CONTAINER_FORMATS.get(suffix.lower())
    if fmt is None:
        raise UnsupportedError(
            f"cannot write a {suffix or 'extension-less'} video; "
            f"name the output {', '.join(CONTAINER_FORMATS)}"
        )
    if encoder not in _CONTAINER_ENCODERS[suffix.lower()]:
        fitting = [ext for ext, names in _CONTAINER_ENCODERS.items() if encoder in names]
        raise UnsupportedError(
            f"a {suffix} file cannot hold {encoder} video; use output_path ending in "
            f"{' or '.join(fitting)}, or another output_video_encoder"
        )
    return fmt


def fits_container(suffix: str, encoder: str) -> bool:
    """Whether an output named ``*suffix`` can hold ``encoder`` video."""
    return encoder in _CONTAINER_ENCODERS.get(suffix.lower(), ())


def audio_codec_for(suffix: str) -> str:
    """Audio is re-encoded to Opus in WebM and to AAC everywhere else."""
    return "libopus" if suffix.lower() == ".webm" else "aac"
