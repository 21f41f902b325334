"""Catalog section 7, Job Queue Management, and the catalog's response shapes."""

from __future__ import annotations

from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from ffpipe.catalog.base import CatalogModel


class JobState(str, Enum):
    """Where a job is. A str enum: records, JSON and messages hold the bare value."""

    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    __str__ = str.__str__


ACTIVE_STATES = (JobState.QUEUED.value, JobState.PROCESSING.value)
FINAL_STATES = (JobState.COMPLETED.value, JobState.FAILED.value, JobState.CANCELLED.value)
ALL_STATES = ACTIVE_STATES + FINAL_STATES
"""The states by name, in lifecycle order."""

ARCHIVE_HEADER = "X-FFpipe-Archive"
"""Response header (value ``zip``) of a job result file that is a folder output, zipped."""


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
        default=None,
        max_length=2048,
        description="http(s) URL that receives the job's final status by POST.",
    )

    @field_validator("callback_url")
    @classmethod
    def _well_formed_http(cls, value: str | None) -> str | None:
        if value is not None:
            problem = callback_url_problem(value)
            if problem is not None:
                raise ValueError(f"callback_url {problem}")
        return value


def callback_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a callback destination, or None when it is a well-formed http(s) URL.

    Checked at submission so that a URL no HTTP client can send to never reaches the delivery queue.
    """
    if any(ord(character) <= 0x20 or ord(character) == 0x7F for character in url):
        return "must not contain spaces or control characters"
    if not url.isascii():
        return "must be ASCII (percent-encode or punycode other characters)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        return f"is malformed: {error}"
    if parts.scheme not in ("http", "https"):
        return "must be an http:// or https:// URL"
    if not parts.hostname:
        return "has no host"
    if port == 0:
        return "has port 0"
    return None


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
