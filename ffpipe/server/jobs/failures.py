"""How a failed job keeps its error: the catalog's ``{"error", "detail"}``, as JSON in the store.

The worker records the same :class:`~ffpipe.server.errors.RequestError` document a synchronous
route would have answered; the status document, the result route and webhooks read it back. Jobs
failed by an older server hold plain text, which reads back as the document's ``error``.
"""

from __future__ import annotations

import json

from ffpipe.server.errors import RequestError


def encode(error: RequestError) -> str:
    """The text stored in a failed job's ``error`` column."""
    return json.dumps(error.shape(), sort_keys=True)


def decode(stored: str | None) -> dict[str, str] | None:
    """The catalog error document of a failed job, or None when it has none."""
    if stored is None:
        return None
    try:
        document = json.loads(stored)
    except json.JSONDecodeError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("error"), str):
        return {"error": document["error"], "detail": str(document.get("detail", ""))}
    return {"error": stored, "detail": ""}
