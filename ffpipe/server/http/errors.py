"""A :class:`~ffpipe.server.errors.RequestError` as an HTTP answer.

:func:`error_response` is the answer of a FastAPI route; :func:`send_error` is the answer of an
ASGI middleware, which refuses a request before any route sees it. Their bodies differ only in
spacing, as they always have: FastAPI writes compact JSON, the middleware Python's default.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from fastapi.responses import JSONResponse

from ffpipe.server.errors import RequestError
from ffpipe.server.http.asgi import Send


def error_response(error: RequestError) -> JSONResponse:
    """The answer of a FastAPI route that refuses a request."""
    return JSONResponse(error.shape(), status_code=error.status)


async def send_error(
    send: Send, error: RequestError, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """Answer a request from ASGI middleware with ``error`` (and any further ``headers``)."""
    body = json.dumps(error.shape()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
