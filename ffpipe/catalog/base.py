"""Shared building blocks for the catalog models."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

FILE_MARK = "x-ffpipe-file"
"""JSON Schema key set on parameters that carry a file (a path, a URL or a step's artifact)."""

RESOLUTION_PATTERN = r"^[1-9][0-9]{0,4}x[1-9][0-9]{0,4}$"
_RESOLUTION_RE = re.compile(RESOLUTION_PATTERN)
MAX_RESOLUTION_SIDE = 16384


class CatalogModel(BaseModel):
    """Base of every catalog parameter group: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def file_field(description: str, **kwargs: Any) -> Any:
    """A parameter whose value is a file: a local path, an http(s) URL or a step artifact."""
    return Field(description=description, json_schema_extra={FILE_MARK: True}, **kwargs)


def parse_resolution(value: str) -> tuple[int, int]:
    """Split a catalog resolution such as ``1280x720`` into (width, height)."""
    if not _RESOLUTION_RE.match(value):
        raise ValueError(f"{value!r} is not a resolution of the form WIDTHxHEIGHT, e.g. 1280x720")
    width, height = (int(part) for part in value.split("x"))
    if width > MAX_RESOLUTION_SIDE or height > MAX_RESOLUTION_SIDE:
        raise ValueError(f"{value!r} exceeds the largest side of {MAX_RESOLUTION_SIDE} pixels")
    return width, height


def _check_resolution(value: str) -> str:
    parse_resolution(value)
    return value


Resolution = Annotated[
    str,
    Field(pattern=RESOLUTION_PATTERN, examples=["512x512", "1280x720", "1920x1080"]),
    AfterValidator(_check_resolution),
]
Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Ratio = Annotated[float, Field(ge=0.0, le=2.0)]
Signed = Annotated[float, Field(ge=-1.0, le=1.0)]
Angle = Annotated[float, Field(ge=-30.0, le=30.0)]
Quality = Annotated[int, Field(ge=1, le=100)]
FrameIndex = Annotated[int, Field(ge=0)]

__all__ = [
    "FILE_MARK",
    "MAX_RESOLUTION_SIDE",
    "RESOLUTION_PATTERN",
    "Angle",
    "CatalogModel",
    "FrameIndex",
    "Quality",
    "Ratio",
    "Resolution",
    "Signed",
    "Unit",
    "file_field",
    "parse_resolution",
]
