"""Backends run ops for the runner: ``local`` (the builtin engine in-process) or ``gradio``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ffpipe.backends.base import (
    Backend,
    BackendError,
    BackendIdentity,
    StepRequest,
    StepResult,
    TransientBackendError,
)

if TYPE_CHECKING:
    from ffpipe.engine.api import Engine


def make_backend(
    server: str | None = None,
    *,
    config: Path | None = None,
    folder: Path | None = None,
    engine: Engine | None = None,
    **options: Any,
) -> Backend:
    """The local backend, or a Gradio backend when a server URL is given or configured.

    ``engine`` (e.g. a FaceFusion engine) runs the steps in-process instead of the builtin
    engine; it rules out a server.

    The configuration (endpoint mapping, auth file, timeout, url) comes from ``config``, else from
    ``ffpipe.toml``/``ffpipe.yaml`` in ``folder`` (default: the current folder) when there is
    one. The Gradio module is imported only for a server, so local and cached runs never load
    gradio_client.
    """
    from ffpipe.backends.config import ServerConfig

    if engine is not None:
        if server:
            raise ValueError("an in-process engine and a server cannot both run the steps")
        from ffpipe.backends.local import LocalBackend

        return LocalBackend(engine=engine, **options)
    settings = ServerConfig.load(config) if config else ServerConfig.discover(folder or Path.cwd())
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
