"""What `ffpipe serve` is configured with, and the parsing of its size arguments."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PORT = 9002
DEFAULT_MAX_FILE_SIZE = 100 * 1000 * 1000
DEFAULT_MAX_OUTPUT_BYTES = 4 * 1000**3
"""A request's output at most (``--max-output-size``): a 20 s 1080p clip's frames as PNG fit."""

_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?i?b?)\s*$", re.IGNORECASE)
_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}


def parse_size(text: str) -> int:
    """Bytes in a size such as ``100MB``, ``512kb``, ``2GiB`` or ``1048576``.

    Decimal units (kB, MB, GB) are powers of 1000, binary ones (KiB, MiB, GiB) powers of 1024.
    """
    match = _SIZE_RE.match(text)
    unit = match.group(2).lower() if match else ""
    if unit in {"k", "m", "g", "t"}:
        unit += "b"
    if not match or unit not in _UNITS:
        raise ValueError(f"{text!r} is not a size such as 100MB, 512kB or 2GiB")
    size = int(float(match.group(1)) * _UNITS[unit])
    if size <= 0:
        raise ValueError(f"{text!r} must be a positive size")
    return size


def format_size(size: int) -> str:
    """A human-readable size, e.g. ``100 MB``."""
    for unit, factor in (("GB", 1000**3), ("MB", 1000**2), ("kB", 1000)):
        if size >= factor:
            return f"{size / factor:g} {unit}"
    return f"{size} bytes"


@dataclass(frozen=True)
class ServerSettings:
    """Everything a running server needs to know besides its engine."""

    data_dir: Path
    """Holds ``uploads/`` (gradio's upload cache) and ``outputs/`` (one folder per request)."""
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    credentials: dict[str, str] = field(default_factory=dict)
    """user -> password; empty means no authentication."""
    admins: frozenset[str] = frozenset()
    """Users who may see every user's jobs (``admin user:password`` in the auth file)."""
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    concurrency: int = 1
    """Requests processed at once (gradio's default_concurrency_limit)."""
    queue_size: int = 16
    """Requests waiting at most (gradio's queue max_size); beyond, a clean queue-full error."""
    job_workers: int = 1
    """Jobs processed at once by the durable queue."""
    callback_allowlist: tuple[str, ...] = ()
    """Private or loopback hosts/networks job callbacks may reach (public ones always may)."""
    retention: str = "7d,20GB"
    """How long and how much of uploads, outputs and finished jobs is kept (``--retention``)."""
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
    """The most one request or job may write (``--max-output-size``), checked before it runs."""
    trusted_proxies: tuple[str, ...] = ()
    """Peers whose ``X-Forwarded-For`` names the client (``--trusted-proxy``); from any other
    peer the header is ignored, so it cannot dodge the per-address login throttle."""

    @property
    def upload_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def output_dir(self) -> Path:
        return self.data_dir / "outputs"

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in {"0.0.0.0", ""} else self.host
        return f"http://{host}:{self.port}/"

    def limits(self) -> dict[str, object]:
        """The limits part of the capabilities document."""
        return {
            "max_file_size": self.max_file_size,
            "max_file_size_text": format_size(self.max_file_size),
            "concurrency": self.concurrency,
            "queue_size": self.queue_size,
            "auth": bool(self.credentials),
        }
