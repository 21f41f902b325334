"""The server's one refusal: :class:`RequestError`, the catalog's ``{"error", "detail"}`` document
with the HTTP status it is answered with.

Every part of the server raises it, whatever protocol the request came by; each way out renders it
with one function: ``ffpipe.server.http.errors.error_response`` for FastAPI routes,
``ffpipe.server.http.errors.send_error`` for the ASGI middleware that answers before any route,
and ``ffpipe.server.protocols.gradio_errors.gradio_error`` for gradio endpoints.
"""

from __future__ import annotations

import re

INVALID_STATUS = 422
"""HTTP status of a request the catalog's models refuse, on every route."""

_STATUS_TITLE = re.compile(r"^HTTP ([45][0-9][0-9])$")


class RequestError(Exception):
    """A request refused in a way the caller can act on: its HTTP ``status`` and the catalog's
    ``error`` (what went wrong, short) and ``detail`` (why, and what to do)."""

    def __init__(self, status: int, error: str, detail: str = "") -> None:
        super().__init__(f"{error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail

    def shape(self) -> dict[str, str]:
        """The catalog's error document."""
        return {"error": self.error, "detail": self.detail}


def status_title(status: int) -> str:
    """The title of a gradio error that carries its HTTP status.

    gradio answers every exception on its ``run`` and ``api`` routes with a 500 and passes only
    the error's message and title on; the title tells the error-shape guard the real status.
    """
    return f"HTTP {status}"


def status_of_title(title: str) -> int | None:
    """The HTTP status a :func:`status_title` names; None for any other title."""
    carried = _STATUS_TITLE.match(title)
    return int(carried.group(1)) if carried is not None else None
