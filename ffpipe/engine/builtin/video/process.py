"""The ``video`` op and every per-frame op on a video: decode, process, encode, in one stream.

- Frames: trimmed to ``[trim_frame_start, trim_frame_end)`` (source frame indices), resampled to
  ``output_video_fps`` (see :mod:`.timeline`), passed to the frame function once per kept source
  frame (a repeated frame is processed once), resized to ``output_video_resolution`` (the
  source's size by default, rounded down to even sides as yuv420p requires).
- Encoding: ``output_video_encoder``/``_preset``/``_quality`` as documented in :mod:`.encoding`.
  The container follows the output name's extension (.mp4, .mov, .mkv, .webm), by default the
  target's name (as .mp4 if the target's kind cannot hold the encoder). Identical frames give
  identical bytes in every container (see :mod:`.encoding` for how).
- Audio: the source's first audio track, cut to the kept time range and re-encoded (AAC; Opus in
  WebM), unless ``skip_audio``.
- Temp frames: streaming writes none. With ``keep_temp`` every output frame is also written as
  ``temp_frame_format`` (``temp_frame_quality`` applies to jpg; png and bmp are lossless) into
  ``<output stem>_frames``, returned as ``files["frames"]`` and ``result["frames_dir"]``.
- Result document: frames_in, frames_out, fps, resolution, encoder, preset, crf, audio, duration.
- Frame functions: a plain :data:`FrameFn` is called per kept frame, on the workers of the memory
  strategy. A :class:`FollowingFrameFn` (faces followed from frame to frame) also has a part that
  sees every frame in order on the decoding side; only its second part runs on the workers, so its
  output does not depend on their number.

The output and the frames folder are written under temporary names and renamed at the end, so a
failure anywhere (a damaged source, the frame function, cancellation) leaves nothing behind.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, closing, nullcontext
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import av
import cv2
import numpy as np

from ffpipe.catalog import OPS, CatalogModel, parse_resolution
from ffpipe.engine.api import EngineError, EngineOutput, RunContext, output_file
from ffpipe.engine.builtin.video.audio import AudioCarrier
from ffpipe.engine.builtin.video.decode import FramePlan
from ffpipe.engine.builtin.video.encoding import (
    CONTAINER_OPTIONS,
    EncoderSettings,
    audio_codec_for,
    check_container,
    encoder_settings,
    fits_container,
)
from ffpipe.engine.builtin.video.flow import map_frames
from ffpipe.engine.builtin.video.images import frame_name, write_image
from ffpipe.engine.builtin.video.probe import open_video
from ffpipe.engine.builtin.video.progress import FrameProgress
from ffpipe.engine.builtin.video.staging import staged
from ffpipe.engine.builtin.video.timeline import Slot
from ffpipe.media import sniff_file

FrameFn = Callable[[np.ndarray, int], np.ndarray]
"""Called with an RGB uint8 frame (H, W, 3) and its 0-based index in the source video."""


@runtime_checkable
class FollowingFrameFn(Protocol):
    """A frame function with a part that must see the frames in order (following faces).

    ``follow`` takes the kept source frames, in order, as (RGB image, index, time in seconds,
    copies in the output), and gives one answer per frame, in the same order; it may read a few
    frames ahead before answering. It runs on one thread, the decoding side. Each frame is then
    processed by ``__call__``, on whatever worker the memory strategy gives it, with its answer.
    Only ``__call__`` runs in parallel.
    """

    def follow(self, frames: Iterable[tuple[np.ndarray, int, float, int]]) -> Iterator[Any]:
        """One answer per frame of ``frames``, in order."""
        ...

    def __call__(self, image: np.ndarray, index: int, followed: Any) -> np.ndarray:
        """The processed frame."""
        ...


@dataclass(frozen=True)
class VideoSettings:
    """The catalog parameters that shape a video result, read once from the op's params."""

    trim_start: int
    trim_end: int | None
    fps: float | None
    resolution: tuple[int, int] | None
    encoder: str
    preset: str
    quality: int
    skip_audio: bool
    strategy: str
    workers: int
    keep_temp: bool
    temp_format: str
    temp_quality: int
    output_path: str | None

    @classmethod
    def from_params(cls, params: CatalogModel) -> VideoSettings:
        """Settings from any op model that includes the catalog's video groups."""
        resolution = getattr(params, "output_video_resolution", None)
        return cls(
            trim_start=getattr(params, "trim_frame_start", None) or 0,
            trim_end=getattr(params, "trim_frame_end", None),
            fps=getattr(params, "output_video_fps", None),
            resolution=parse_resolution(resolution) if resolution else None,
            encoder=getattr(params, "output_video_encoder", "libx264"),
            preset=getattr(params, "output_video_preset", "veryfast"),
            quality=getattr(params, "output_video_quality", 80),
            skip_audio=getattr(params, "skip_audio", False),
            strategy=getattr(params, "video_memory_strategy", "strict"),
            workers=getattr(params, "execution_queue_count", 1),
            keep_temp=getattr(params, "keep_temp", False),
            temp_format=getattr(params, "temp_frame_format", "png"),
            temp_quality=getattr(params, "temp_frame_quality", 100),
            output_path=getattr(params, "output_path", None),
        )


def output_name(target: Path, output_path: str | None, encoder: str) -> str:
    """``output_path`` if given, else the video op's default name (as .mp4 if the container it
    names cannot hold the encoder's video)."""
    if output_path:
        return output_path
    named = Path(OPS["video"].default_output_name(target.name, sniff_file(target)))
    if fits_container(named.suffix, encoder):
        return named.name
    return f"{named.stem}.mp4"


def process_video(
    target: Path,
    frame_fn: FrameFn | FollowingFrameFn | None,
    params: CatalogModel,
    context: RunContext,
    *,
    before_commit: Callable[[], None] | None = None,
) -> EngineOutput:
    """Decode ``target``, apply ``frame_fn`` to each kept frame, and encode the result.

    ``frame_fn=None`` is the identity (the ``video`` op); a :class:`FollowingFrameFn` gets every
    frame in order first (see the module's docstring). Exceptions raised by ``frame_fn``
    propagate unchanged and leave no output behind. ``before_commit`` runs once every frame is
    encoded and before the output takes its final name: raising there (say, because no frame
    showed a face) also discards the output.
    """
    settings = VideoSettings.from_params(params)
    encoding = encoder_settings(settings.encoder, settings.preset, settings.quality)
    name = output_name(target, settings.output_path, settings.encoder)
    muxer = check_container(Path(name).suffix, settings.encoder)
    context.out_dir.mkdir(parents=True, exist_ok=True)
    final = output_file("video", name, target, context.out_dir)
    frames_dir = context.out_dir / f"{Path(name).stem}_frames"
    rate = Fraction(settings.fps).limit_denominator(1001) if settings.fps else None

    with open_video(target) as source:
        plan = FramePlan(source, settings.trim_start, settings.trim_end, rate)
        size = _output_size(settings.resolution, plan.stream)
        with (
            staged(final) as temporary,
            _maybe_staged_dir(frames_dir, settings.keep_temp) as kept,
            av.open(
                str(temporary), "w", format=muxer, container_options=CONTAINER_OPTIONS
            ) as output,
        ):
            encoded = _Encoder(output, plan, size, encoding, kept)
            try:
                encoded.add_audio(target, settings, audio_codec_for(Path(name).suffix))
                encoded.run(frame_fn, settings, context)
                encoded.flush()
                if before_commit is not None:
                    before_commit()
            finally:
                encoded.close_audio()
    assert plan.rate is not None
    width, height = size
    files = {"output": final}
    result: dict[str, Any] = {
        "frames_in": plan.frames_in,
        "frames_out": encoded.frames_out,
        "fps": float(plan.rate),
        "resolution": f"{width}x{height}",
        "encoder": encoding.codec,
        "preset": settings.preset,
        "crf": encoding.crf,
        "audio": encoded.audio_seconds > 0,
        "duration": encoded.frames_out / float(plan.rate),
        "substitutions": [],
    }
    warning = _resampling_warning(target, plan, encoded, settings.fps)
    if warning:
        result["warnings"] = [warning]
    if settings.keep_temp:
        files["frames"] = frames_dir
        result["frames_dir"] = str(frames_dir)
        result["frames_format"] = settings.temp_format
    return EngineOutput(files=files, result=result)


def _resampling_warning(
    target: Path, plan: FramePlan, encoded: _Encoder, fps: float | None
) -> str | None:
    """What resampling to a constant rate did to a source kept at its own rate, when it did
    anything: a source with irregular timestamps (a phone's variable frame rate) loses or repeats
    frames on the way to the encoder's constant rate."""
    dropped = plan.frames_in - encoded.frames_used
    if fps or not (dropped or encoded.repeats or encoded.moved):
        return None
    assert plan.rate is not None
    return (
        f"target_media {target.name} has irregular frame timestamps (a variable frame rate): "
        f"its {plan.frames_in} frames were resampled to a constant {float(plan.rate):g} fps, the "
        f"rate its header gives, since the output is written at a constant rate; {dropped} "
        f"frame(s) were dropped, {encoded.repeats} repeated and {encoded.moved} shown at another "
        f"time ({encoded.frames_out} out). Set output_video_fps to choose the rate"
    )


class _Encoder:
    """The output side of one run: the video stream, the optional audio, kept frames, counters."""

    def __init__(
        self,
        output: av.container.OutputContainer,
        plan: FramePlan,
        size: tuple[int, int],
        encoding: EncoderSettings,
        frames_dir: Path | None,
    ) -> None:
        assert plan.rate is not None
        self.output, self.plan, self.size, self.frames_dir = output, plan, size, frames_dir
        self.stream = output.add_stream(encoding.codec, rate=plan.rate)
        self.stream.width, self.stream.height = size
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = encoding.options
        self.time_base = 1 / plan.rate
        self.audio: AudioCarrier | None = None
        self.audio_seconds = 0.0
        self.frames_out = 0
        self.frames_used = 0
        """Source frames that appear in the output (each once or repeated)."""
        self.repeats = 0
        """Output frames that repeat the source frame before them."""
        self.moved = 0
        """Source frames shown more than a quarter of an output frame away from their own time."""
        self._origin: Fraction | None = None

    def add_audio(self, target: Path, settings: VideoSettings, codec: str) -> None:
        if settings.skip_audio or not self.plan.container.streams.audio:
            return
        self.audio = AudioCarrier(target, self.output, codec)

    def run(
        self,
        frame_fn: FrameFn | FollowingFrameFn | None,
        settings: VideoSettings,
        context: RunContext,
    ) -> None:
        width, height = self.size

        def work(slot: Slot[Any]) -> Slot[np.ndarray]:
            if isinstance(frame_fn, FollowingFrameFn):
                image, followed = slot.payload
                image = _checked(frame_fn(image, slot.index, followed), slot.index)
            else:
                image = slot.payload.to_ndarray(format="rgb24")
                if frame_fn is not None:
                    image = _checked(frame_fn(image, slot.index), slot.index)
            if image.shape[:2] != (height, width):
                shrink = image.shape[0] * image.shape[1] > width * height
                method = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
                image = cv2.resize(image, (width, height), interpolation=method)
            return replace(slot, payload=image)

        progress = FrameProgress(context, self.plan.expected_output)
        slots: Iterator[Slot[Any]] = self.plan.slots()
        if isinstance(frame_fn, FollowingFrameFn):
            slots = _followed(slots, frame_fn)
        frames = map_frames(work, slots, settings.strategy, settings.workers)
        # Closing joins the decoder and worker threads before the source is closed, on failure too.
        with closing(frames):
            for done in frames:
                if self.audio is not None and self.frames_out == 0:
                    self.audio.begin(done.time)
                self._count(done)
                for _ in range(done.repeat):
                    self._encode(done.payload, settings)
                progress.advance(self.frames_out)
        if self.frames_out == 0:
            raise EngineError(
                f"no frames left to encode after trimming from frame {settings.trim_start}"
            )
        progress.finish()

    def _count(self, done: Slot[Any]) -> None:
        if self._origin is None:
            self._origin = done.time
        self.frames_used += 1
        self.repeats += done.repeat - 1
        shift = abs(done.time - self._origin - done.first * self.time_base)
        self.moved += shift > self.time_base / 4

    def flush(self) -> None:
        self.output.mux(self.stream.encode(None))
        if self.audio is not None:
            self.audio_seconds = self.audio.finish(self.frames_out * self.time_base)

    def close_audio(self) -> None:
        if self.audio is not None:
            self.audio.close()

    def _encode(self, image: np.ndarray, settings: VideoSettings) -> None:
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = self.frames_out
        frame.time_base = self.time_base
        self.output.mux(self.stream.encode(frame))
        if self.frames_dir is not None:
            path = self.frames_dir / frame_name(self.frames_out, settings.temp_format)
            write_image(path, image, settings.temp_format, settings.temp_quality)
        self.frames_out += 1
        if self.audio is not None:
            self.audio.feed_until(self.frames_out * self.time_base)


def _followed(
    slots: Iterator[Slot[av.VideoFrame]], frame_fn: FollowingFrameFn
) -> Iterator[Slot[tuple[np.ndarray, Any]]]:
    """The slots as RGB frames with ``frame_fn.follow``'s answer for each, in order."""
    waiting: deque[Slot[np.ndarray]] = deque()

    def frames() -> Iterator[tuple[np.ndarray, int, float, int]]:
        for slot in slots:
            image = slot.payload.to_ndarray(format="rgb24")
            waiting.append(replace(slot, payload=image))
            yield image, slot.index, float(slot.time), slot.repeat

    answers = frame_fn.follow(frames())
    with closing(slots), closing(answers):  # type: ignore[type-var]
        for answer in answers:
            slot = waiting.popleft()
            yield replace(slot, payload=(slot.payload, answer))


def _checked(image: Any, index: int) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3:
        raise EngineError(f"frame {index}: the frame function must return an RGB uint8 image")
    return image


def _output_size(
    resolution: tuple[int, int] | None, stream: av.video.stream.VideoStream
) -> tuple[int, int]:
    """The encoded size: the requested resolution, or the source's rounded down to even sides."""
    if resolution is None:
        width, height = stream.codec_context.width, stream.codec_context.height
        return max(2, width - width % 2), max(2, height - height % 2)
    width, height = resolution
    if width % 2 or height % 2:
        raise EngineError(
            f"output_video_resolution {width}x{height}: yuv420p video needs even width and height"
        )
    return width, height


def _maybe_staged_dir(path: Path, wanted: bool) -> AbstractContextManager[Path | None]:
    return staged(path, directory=True) if wanted else nullcontext()
