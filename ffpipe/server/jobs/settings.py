"""How the job service is configured: where it keeps data, its webhook secret and limits."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from ffpipe.server.output_budget import DEFAULT_MAX_OUTPUT_BYTES

DEFAULT_MAX_UPLOAD_BYTES = 100 * 1000 * 1000
SECRET_FILE = "webhook-secret"
DB_FILE = "jobs.sqlite3"
INPUTS_FOLDER = "job-inputs"
OUTPUTS_FOLDER = "job-outputs"


@dataclass(frozen=True)
class JobSettings:
    """Settings of the job service shared by the REST API, the workers and the webhooks."""

    data_dir: Path
    """Holds ``jobs.sqlite3``, staged uploads (``job-inputs/``), outputs (``job-outputs/``) and
    ``webhook-secret``; the names do not clash with the server's own ``uploads/`` and ``outputs/``.
    """
    secret: bytes
    """Key of the HMAC-SHA256 signature on webhook bodies."""
    callback_allowlist: tuple[str, ...] = ()
    """Hosts, addresses or networks (CIDR) that callbacks may reach although not public."""
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_output_bytes: int | None = DEFAULT_MAX_OUTPUT_BYTES
    """The most one job may write (checked before it runs)."""
    token: str | None = None
    """When set, every request needs ``Authorization: Bearer <token>``."""
    admins: frozenset[str] = frozenset()
    """Users (of the server's auth file) who may list, fetch and cancel every user's jobs;
    others see only the jobs they submitted."""
    public_url: str | None = None
    """Base URL of the server; makes result links in status documents absolute."""
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 600.0
    max_delivery_attempts: int = 12
    delivery_timeout_seconds: float = 5.0
    delivery_concurrency: int = 8
    """Webhooks sent at once, so one slow receiver does not hold up the others."""

    @property
    def db_path(self) -> Path:
        return self.data_dir / DB_FILE

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / INPUTS_FOLDER

    @property
    def outputs_dir(self) -> Path:
        return self.data_dir / OUTPUTS_FOLDER


def load_or_create_secret(data_dir: Path) -> bytes:
    """The server's webhook secret, kept in ``data_dir`` (created once, readable by owner only).

    Kept across restarts so receivers can go on verifying callbacks of jobs finished after one.
    """
    path = data_dir / SECRET_FILE
    if path.exists():
        return path.read_text().strip().encode()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first
        return path.read_text().strip().encode()
    with os.fdopen(descriptor, "w") as handle:
        handle.write(value + "\n")
    return value.encode()
