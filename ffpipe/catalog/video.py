"""Catalog section 4, Video Processing: frame control, extraction, assembly."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, ValidationInfo, field_validator

from ffpipe.catalog.base import CatalogModel, FrameIndex, Quality

VideoMemoryStrategy = Literal["strict", "moderate", "tolerant"]
FrameFormat = Literal["jpg", "png", "bmp"]
VideoEncoder = Literal["libx264", "libx265", "libvpx-vp9", "h264_nvenc", "hevc_nvenc"]
VideoPreset = Literal[
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"
]
VIDEO_ENCODERS: tuple[str, ...] = get_args(VideoEncoder)
VIDEO_PRESETS: tuple[str, ...] = get_args(VideoPreset)


class FrameControl(CatalogModel):
    """Which frames are processed, at what rate, and whether audio is kept."""

    trim_frame_start: FrameIndex | None = Field(
        default=None, description="First frame to keep (0-based); unset starts at the beginning."
    )
    trim_frame_end: FrameIndex | None = Field(
        default=None,
        description="Frame at which the output ends (exclusive, 0-based); unset runs to the end.",
    )
    output_video_fps: float | None = Field(
        default=None,
        ge=0.001,
        le=240.0,
        description="Output frame rate; unset keeps the source's. At least 0.001: rates are kept"
        " as fractions over at most 1001, and anything smaller would become 0.",
    )
    skip_audio: bool = Field(default=False, description="Leave the audio out of the output.")
    video_memory_strategy: VideoMemoryStrategy = Field(
        default="strict", description="How many frames and models are kept in memory at once."
    )

    @field_validator("trim_frame_end")
    @classmethod
    def _end_after_start(cls, value: int | None, info: ValidationInfo) -> int | None:
        start = info.data.get("trim_frame_start")
        if value is not None and start is not None and value <= start:
            raise ValueError(f"trim_frame_end {value} must be after trim_frame_start {start}")
        return value


class FrameExtraction(CatalogModel):
    """Writing individual frames out as images."""

    extract_frames: bool = Field(default=False, description="Extract individual frames.")
    extract_frame_quality: Quality = Field(default=90, description="JPEG quality, 1-100.")
    extract_frame_format: FrameFormat = Field(default="png", description="Frame image format.")


class VideoAssembly(CatalogModel):
    """How processed frames are encoded into the output video."""

    output_video_encoder: VideoEncoder = Field(default="libx264", description="Video encoder.")
    output_video_preset: VideoPreset = Field(
        default="veryfast", description="Encoder speed/size trade-off."
    )
    output_video_quality: int = Field(
        default=80, ge=0, le=100, description="Video quality, 0-100 (higher is better)."
    )


class TemporaryFiles(CatalogModel):
    """Intermediate frames written while processing a video."""

    keep_temp: bool = Field(default=False, description="Keep the processed frames as files.")
    temp_frame_format: FrameFormat = Field(default="png", description="Format of temp frames.")
    temp_frame_quality: Quality = Field(default=100, description="Quality of temp frames, 1-100.")
