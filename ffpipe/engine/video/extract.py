"""The ``extract_frames`` op: the kept frames of a video, written out as numbered images."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

from ffpipe.catalog.ops import ExtractFramesParams
from ffpipe.engine.api import EngineError, EngineOutput, RunContext
from ffpipe.engine.video.decode import FramePlan
from ffpipe.engine.video.flow import map_frames
from ffpipe.engine.video.images import frame_name, write_image
from ffpipe.engine.video.probe import open_video
from ffpipe.engine.video.staging import staged
from ffpipe.engine.video.timeline import Slot

_PROGRESS_STEP = 0.01


def extract_frames(target: Path, params: ExtractFramesParams, context: RunContext) -> EngineOutput:
    """Write the frames of ``target`` (after trim and ``output_video_fps``) into a folder.

    The folder, ``files["output"]``, is named by ``output_path`` or ``<target stem>_frames`` and
    holds ``frame_000000.<format>`` onwards, one file per output frame.
    """
    fmt, quality = params.extract_frame_format, params.extract_frame_quality
    context.out_dir.mkdir(parents=True, exist_ok=True)
    folder = context.out_dir / (params.output_path or f"{target.stem}_frames")
    rate = (
        Fraction(params.output_video_fps).limit_denominator(1001)
        if params.output_video_fps
        else None
    )
    with open_video(target) as source:
        plan = FramePlan(source, params.trim_frame_start or 0, params.trim_frame_end, rate)
        expected = plan.expected_output
        written = 0
        reported = -1.0

        def decode(slot: Slot[av.VideoFrame]) -> Slot[av.VideoFrame]:
            # Converting to RGB is the costly part; it runs on the strategy's worker threads.
            return Slot(
                slot.index,
                slot.time,
                slot.payload.to_ndarray(format="rgb24"),
                slot.first,
                slot.repeat,
            )

        with staged(folder, directory=True) as temporary:
            slots = map_frames(
                decode, plan.slots(), params.video_memory_strategy, params.execution_queue_count
            )
            for slot in slots:
                context.check_cancelled()
                for _ in range(slot.repeat):
                    write_image(temporary / frame_name(written, fmt), slot.payload, fmt, quality)
                    written += 1
                if (
                    expected
                    and (fraction := min(written / expected, 1.0)) - reported >= _PROGRESS_STEP
                ):
                    context.report(fraction, "frames")
                    reported = fraction
            if written == 0:
                raise EngineError("no frames left to extract after trimming")
            if reported < 1.0:
                context.report(1.0, "frames")
        height, width = slot.payload.shape[:2]
    assert plan.rate is not None
    return EngineOutput(
        files={"output": folder},
        result={
            "frames": written,
            "frames_in": plan.frames_in,
            "format": fmt,
            "quality": quality,
            "fps": float(plan.rate),
            "resolution": f"{width}x{height}",
            "substitutions": [],
        },
    )
