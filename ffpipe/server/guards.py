"""Refuse an unknown ``fn_index`` on gradio's queue before gradio answers it with a 500."""

from __future__ import annotations

import json
from typing import Any

from ffpipe.server.auth import ASGIApp, Receive, Scope, Send

QUEUE_JOIN_PATHS = frozenset({"/gradio_api/queue/join", "/gradio_api/queue/join/"})
_MAX_JOIN_BODY = 1_000_000


class FnIndexGuard:
    """ASGI middleware: a queue join naming no endpoint gets a 404 in the catalog's shape."""

    def __init__(self, app: ASGIApp, endpoint_count: int) -> None:
        self.app = app
        self.endpoint_count = endpoint_count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in QUEUE_JOIN_PATHS:
            await self.app(scope, receive, send)
            return
        body, more = await _read_body(receive)
        fn_index = _fn_index(body) if not more else None
        if isinstance(fn_index, int) and not 0 <= fn_index < self.endpoint_count:
            await _not_found(send, fn_index, self.endpoint_count)
            return
        await self.app(scope, _replay(body, more, receive), send)


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The request body, up to a limit; ``more`` says whether some is still unread."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body, False
        if len(body) > _MAX_JOIN_BODY:
            return body, True


def _replay(body: bytes, more: bool, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return replay


def _fn_index(body: bytes) -> Any:
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return document.get("fn_index") if isinstance(document, dict) else None


async def _not_found(send: Send, fn_index: int, count: int) -> None:
    payload = json.dumps(
        {
            "error": "unknown fn_index",
            "detail": f"{fn_index}; this server has fn_index 0 to {count - 1} "
            "(see GET /api/capabilities)",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
