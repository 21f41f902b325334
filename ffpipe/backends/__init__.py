"""Backends run ops for the runner: ``local`` (the builtin engine in-process) or ``gradio``."""

from __future__ import annotations

from typing import Any

from ffpipe.backends.base import (
    Backend,
    BackendError,
    BackendIdentity,
    StepRequest,
    StepResult,
    TransientBackendError,
)


def make_backend(server: str | None = None, **options: Any) -> Backend:
    """The local backend, or a Gradio backend when a server URL is given.

    The Gradio module is imported only then, so local and cached runs never load gradio_client.
    """
    if server:
        from ffpipe.backends.gradio import GradioBackend

        return GradioBackend(server, **options)
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
