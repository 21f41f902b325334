"""Catalog section 6, Processing Options: performance and devices."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ffpipe.catalog.base import CatalogModel

Device = Literal["cuda", "cpu"]


class Performance(CatalogModel):
    """Parallelism of one request."""

    execution_device_id: str | None = Field(
        default=None, pattern=r"^[0-9]+$", description="GPU to use, e.g. '0'; unset: none."
    )
    execution_queue_count: int = Field(
        default=1, ge=1, le=8, description="Faces or frames processed at once, 1-8."
    )
    execution_thread_count: int = Field(default=1, ge=1, le=128, description="CPU threads, 1-128.")


class MemoryManagement(CatalogModel):
    """Device each model runs on."""

    face_detector_device: Device = Field(default="cpu", description="Device of the detector.")
    face_recognizer_device: Device = Field(default="cpu", description="Device of the recognizer.")
    face_enhancer_device: Device = Field(default="cpu", description="Device of the enhancer.")


class ProcessingOptions(Performance, MemoryManagement):
    """Every processing option of the catalog."""
