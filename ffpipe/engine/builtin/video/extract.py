"""The ``extract_frames`` op: the kept frames of a video, written out as numbered images."""

from __future__ import annotations

from contextlib import closing
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av

from ffpipe.catalog.ops import OPS, ExtractFramesParams
from ffpipe.engine.api import EngineError, EngineOutput, RunContext, output_file
from ffpipe.engine.builtin.video.decode import FramePlan
from ffpipe.engine.builtin.video.flow import map_frames
from ffpipe.engine.builtin.video.images import encode_image, frame_name
from ffpipe.engine.builtin.video.probe import open_video
from ffpipe.engine.builtin.video.progress import FrameProgress
from ffpipe.engine.builtin.video.staging import staged
from ffpipe.engine.builtin.video.timeline import Slot


def extract_frames(target: Path, params: ExtractFramesParams, context: RunContext) -> EngineOutput:
    """Write the frames of ``target`` (after trim and ``output_video_fps``) into a folder.

    The folder, ``files["output"]``, is named by ``output_path`` or ``<target stem>_frames`` and
    holds ``frame_000000.<format>`` onwards, one file per output frame.
    """
    fmt, quality = params.extract_frame_format, params.extract_frame_quality
    context.out_dir.mkdir(parents=True, exist_ok=True)
    name = params.output_path or OPS["extract_frames"].default_output_name(target.name)
    folder = output_file("extract_frames", name, target, context.out_dir)
    fps = params.output_video_fps
    rate = Fraction(fps).limit_denominator(1001) if fps else None
    size = (0, 0)

    def encoded(slot: Slot[av.VideoFrame]) -> Slot[bytes]:
        # Conversion and image compression are the costly parts: they run on the workers.
        nonlocal size
        image = slot.payload.to_ndarray(format="rgb24")
        size = (image.shape[1], image.shape[0])
        return replace(slot, payload=encode_image(image, fmt, quality))  # type: ignore[arg-type]

    with open_video(target) as source:
        plan = FramePlan(source, params.trim_frame_start or 0, params.trim_frame_end, rate)
        progress = FrameProgress(context, plan.expected_output)
        written = 0
        with staged(folder, directory=True) as temporary:
            strategy, workers = params.video_memory_strategy, params.execution_queue_count
            frames = map_frames(encoded, plan.slots(), strategy, workers)
            # Closing joins the decoder and worker threads before the source is closed.
            with closing(frames):
                for slot in frames:
                    for _ in range(slot.repeat):
                        (temporary / frame_name(written, fmt)).write_bytes(slot.payload)
                        written += 1
                    progress.advance(written)
            if written == 0:
                raise EngineError("no frames left to extract after trimming")
            progress.finish()
    assert plan.rate is not None
    return EngineOutput(
        files={"output": folder},
        result={
            "frames": written,
            "frames_in": plan.frames_in,
            "format": fmt,
            "quality": quality,
            "fps": float(plan.rate),
            "resolution": f"{size[0]}x{size[1]}",
            "substitutions": [],
        },
    )
