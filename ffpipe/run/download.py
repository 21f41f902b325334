"""Fetching http(s) inputs into the object store, with a size limit, a timeout and a media check."""

from __future__ import annotations

import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ffpipe.errors import UserError

MAX_DOWNLOAD_BYTES = 1 << 30
DOWNLOAD_TIMEOUT = 60.0
_CHUNK = 1 << 20


class DownloadError(UserError):
    """An input URL that could not be fetched, or that is not an image or a video."""


def is_url(value: str) -> bool:
    """Whether a file value is an http(s) URL rather than a local path."""
    return value.startswith(("http://", "https://"))


def looks_like_media(head: bytes) -> bool:
    """Whether the first bytes of a file are those of an image or video container we read."""
    if head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF8", b"BM", b"\x1aE\xdf\xa3")):
        return True
    if head[:4] == b"RIFF" and head[8:12] in (b"WEBP", b"AVI "):
        return True
    return head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide")


def fetch(
    url: str,
    into: Path,
    *,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    timeout: float = DOWNLOAD_TIMEOUT,
) -> Path:
    """Download ``url`` to a new file inside the folder ``into`` and return its path.

    Raises DownloadError with a message for the user on HTTP errors, oversize or non-media bodies.
    """
    into.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=into, prefix="download-")
    target = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as sink, _open(url, timeout) as response:
            declared = response.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise DownloadError(f"{url}: {declared} bytes is over the limit of {max_bytes}")
            size = 0
            head = b""
            while chunk := response.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise DownloadError(f"{url}: more than the limit of {max_bytes} bytes")
                if len(head) < 16:
                    head += chunk[:16]
                sink.write(chunk)
        if not looks_like_media(head):
            kind = response.headers.get("Content-Type", "unknown type")
            raise DownloadError(f"{url}: the body is not an image or a video ({kind})")
    except OSError as error:
        target.unlink(missing_ok=True)
        raise DownloadError(f"{url}: download failed ({error})") from None
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target


def _open(url: str, timeout: float) -> Any:
    try:
        return urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as error:
        raise DownloadError(f"{url}: HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DownloadError(f"{url}: cannot download ({reason})") from None
