"""File names clients send, cut to a length every file system stores (255 bytes at most)."""

from __future__ import annotations

from pathlib import Path

MAX_FILE_NAME_CHARS = 120
"""Uploads keep at most this much of the client's file name, extension included: 255 bytes is
the usual limit, names may be UTF-8, and prefixes and suffixes get added along the way."""


def shorten_name(name: str, limit: int = MAX_FILE_NAME_CHARS) -> str:
    """``name`` cut to ``limit`` characters, keeping a short extension."""
    if len(name) <= limit:
        return name
    suffix = Path(name).suffix
    suffix = suffix if 0 < len(suffix) <= 16 else ""
    return name[: limit - len(suffix)] + suffix
