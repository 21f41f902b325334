"""Catalog bounds that a value could slip past: tiny frame rates and endless processor lists."""

from __future__ import annotations

from pathlib import Path

import pytest
from _pipeline_support import write_pipeline
from pydantic import ValidationError

from ffpipe.catalog import OPS
from ffpipe.catalog.ops import MAX_PROCESSORS
from ffpipe.pipeline import PipelineErrors, load_pipeline


@pytest.mark.parametrize("fps", [0.0001, 0.0004999, 0.0009])
def test_frame_rates_that_would_round_to_nothing_are_refused(fps: float) -> None:
    with pytest.raises(ValidationError, match="output_video_fps"):
        OPS["swap"].params.model_validate(
            {"target_media": "a.mp4", "source_face": "b.jpg", "output_video_fps": fps}
        )


def test_the_smallest_frame_rate_kept_is_accepted() -> None:
    document = {"target_media": "a.mp4", "output_video_fps": 0.001}
    params = OPS["enhance"].params.model_validate(document)
    assert params.output_video_fps == 0.001  # type: ignore[attr-defined]


def test_processor_lists_are_bounded() -> None:
    process = OPS["process"].params
    process.model_validate({"target_media": "a.mp4", "processors": ["enhance"] * MAX_PROCESSORS})
    with pytest.raises(ValidationError, match="processors"):
        process.model_validate({"target_media": "a.mp4", "processors": ["enhance"] * 60})


def test_validate_locates_both(tmp_path: Path) -> None:
    path = write_pipeline(
        tmp_path,
        """
        version: 1
        steps:
          many:
            uses: process
            with:
              target_media: astronaut.jpg
              processors: [enhance, enhance, enhance, enhance, enhance, enhance, enhance, enhance,
                           enhance, enhance]
              output_video_fps: 0.0004
        """,
        photos=True,
    )
    with pytest.raises(PipelineErrors) as caught:
        load_pipeline(path)
    found = {(error.path, error.location.line) for error in caught.value.errors}
    assert found == {
        ("steps.many.with.processors", 7),
        ("steps.many.with.output_video_fps", 9),
    }
