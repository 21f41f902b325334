"""One log line per HTTP request: method, path, status, duration and user."""

from __future__ import annotations

import logging
import time
from typing import Any

from ffpipe.server.http.auth import ASGIApp, Receive, Scope, Send

LOG = logging.getLogger("ffpipe.server")


class RequestLog:
    """ASGI middleware writing ``METHOD /path STATUS 12.3ms user=NAME`` after each response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_note(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            elapsed = (time.perf_counter() - start) * 1000
            user = scope.get("state", {}).get("ffpipe_user", "-")
            client = scope.get("client") or ("-", 0)
            LOG.info(
                "%s %s %s %d %.1fms user=%s",
                client[0],
                scope.get("method", "-"),
                scope.get("path", "-"),
                status,
                elapsed,
                user,
            )
