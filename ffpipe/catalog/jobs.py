"""Catalog section 7, Job Queue Management, and the catalog's response shapes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from ffpipe.catalog.base import CatalogModel

JobState = Literal["queued", "processing", "completed", "failed", "cancelled"]


class JobOptions(CatalogModel):
    """Options of an asynchronous submission."""

    job_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="Job identifier; a UUID is generated when absent.",
    )
    priority: int = Field(default=5, ge=1, le=10, description="Priority 1-10, higher runs first.")
    callback_url: str | None = Field(
        default=None, description="http(s) URL that receives the job's final status by POST."
    )

    @field_validator("callback_url")
    @classmethod
    def _http_only(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("callback_url must be an http:// or https:// URL")
        return value


class JobStatus(CatalogModel):
    """The catalog's Job Status Response."""

    job_id: str
    status: JobState
    progress: float = Field(ge=0.0, le=1.0)
    estimated_time: int | None = Field(default=None, ge=0)
    result: Any = None


class ErrorResponse(CatalogModel):
    """The catalog's Error Response."""

    error: str
    detail: str = ""
