"""Backends run ops for the runner: ``local`` (the builtin engine in-process) or ``gradio``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ffpipe.backends.base import (
    Backend,
    BackendError,
    BackendIdentity,
    StepRequest,
    StepResult,
    TransientBackendError,
)


def make_backend(
    server: str | None = None, *, config: Path | None = None, **options: Any
) -> Backend:
    """The local backend, or a Gradio backend when a server URL is given or configured.

    The configuration (endpoint mapping, auth file, timeout, url) comes from ``config``, else from
    ``ffpipe.toml``/``ffpipe.yaml`` in the current folder when there is one. The Gradio module is
    imported only for a server, so local and cached runs never load gradio_client.
    """
    from ffpipe.backends.config import ServerConfig

    settings = ServerConfig.load(config) if config else ServerConfig.discover(Path.cwd())
    url = server or settings.url
    if url:
        from ffpipe.backends.gradio import GradioBackend

        return GradioBackend(url, config=settings, **options)
    from ffpipe.backends.local import LocalBackend

    return LocalBackend(**options)


__all__ = [
    "Backend",
    "BackendError",
    "BackendIdentity",
    "StepRequest",
    "StepResult",
    "TransientBackendError",
    "make_backend",
]
