"""Catalog section 5, Output Configuration."""

from __future__ import annotations

from pydantic import Field

from ffpipe.catalog.base import CatalogModel, Quality, Resolution


class ImageOutput(CatalogModel):
    """Encoding of image results."""

    output_image_quality: Quality = Field(default=90, description="JPEG quality, 1-100.")
    output_image_resolution: Resolution | None = Field(
        default=None, description="Output size as WIDTHxHEIGHT; unset keeps the target's size."
    )


class VideoOutput(CatalogModel):
    """Size of video results (quality is part of video assembly)."""

    output_video_resolution: Resolution | None = Field(
        default=None, description="Output size as WIDTHxHEIGHT; unset keeps the target's size."
    )
