"""What `ffpipe serve` is configured with."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ffpipe.units import format_size

DEFAULT_PORT = 9002
DEFAULT_MAX_FILE_SIZE = 100 * 1000 * 1000


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
