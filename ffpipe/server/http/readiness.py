"""Refuse requests until the server has mounted every route and its login check.

gradio starts answering as soon as it is launched, before the legacy and job routes are mounted
and before the login check is installed: for a moment ``/api/*`` would answer 404 and gradio's
routes 401 to good credentials. Until :meth:`ReadinessGate` is told the app is ready, every
request gets 503 in the catalog's shape, which clients retry.
"""

from __future__ import annotations

import threading

from ffpipe.server.errors import RequestError
from ffpipe.server.http.asgi import ASGIApp, Receive, Scope, Send
from ffpipe.server.http.errors import send_error

RETRY_AFTER_SECONDS = 1
_GATED = ("/api/", "/gradio_api/")
_STARTUP_CHECK = "/gradio_api/startup-events"
"""gradio requests it (and ``HEAD /``) of itself while launching, before the app can be ready:
they pass."""


class ReadinessGate:
    """ASGI middleware: API and gradio routes answer 503 until ``ready`` is set."""

    def __init__(self, app: ASGIApp, ready: threading.Event) -> None:
        self.app = app
        self.ready = ready

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        gated = path.startswith(_GATED) and path != _STARTUP_CHECK
        if not gated or self.ready.is_set():
            await self.app(scope, receive, send)
            return
        await send_error(
            send,
            RequestError(503, "server starting", "the server is not ready yet; retry shortly"),
            headers=[(b"retry-after", str(RETRY_AFTER_SECONDS).encode())],
        )
