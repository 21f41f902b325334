"""Credentials from ``--auth-file`` and the gate that requires them on every route.

Gradio's own login (``POST /login``, a session cookie) is what ``gradio_client.Client(url,
auth=(user, password))`` uses; raw HTTP clients and the legacy ``/api/predict`` may instead send
``Authorization: Basic``. The gate accepts either on every path, so no route (gradio's
unprotected ones such as ``/gradio_api/cancel`` included) is reachable without credentials;
the only exceptions are the login form and the two probes gradio's ``launch()`` sends itself
(``/gradio_api/startup-events`` and ``HEAD /``), which return nothing of the user's.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The login form itself, and the two probes gradio's launch() sends to its own URL before it
# returns (running startup events twice is a no-op; HEAD / returns no content).
_OPEN_PATHS = frozenset({"/login", "/login/", "/gradio_api/startup-events"})
_OPEN_HEAD_PATHS = frozenset({"/"})


class AuthFileError(ValueError):
    """An auth file that cannot be used."""


def load_auth_file(path: Path) -> dict[str, str]:
    """``user:password`` lines (blank lines and ``#`` comments ignored) as user -> password."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise AuthFileError(f"cannot read auth file {path}: {error.strerror}") from None
    credentials: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, colon, password = line.partition(":")
        if not colon or not user.strip() or not password:
            raise AuthFileError(f"{path}:{number}: expected 'user:password'")
        credentials[user.strip()] = password
    if not credentials:
        raise AuthFileError(f"auth file {path} names no user")
    return credentials


def check_password(credentials: dict[str, str], user: str, password: str) -> bool:
    """Whether ``user`` exists and ``password`` is theirs (compared in constant time)."""
    expected = credentials.get(user)
    if expected is None:
        hmac.compare_digest(password.encode(), password.encode())
        return False
    return hmac.compare_digest(expected.encode(), password.encode())


def basic_user(header: str, credentials: dict[str, str]) -> str | None:
    """The user of a valid ``Authorization: Basic ...`` header value, else None."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, _, password = decoded.partition(":")
    return user if check_password(credentials, user, password) else None


def _cookies(scope: Scope) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, val = part.strip().partition("=")
                cookies[key] = val
    return cookies


def _header(scope: Scope, wanted: bytes) -> str:
    for name, value in scope.get("headers", []):
        if name == wanted:
            return value.decode("latin-1")
    return ""


def session_user(scope: Scope) -> str | None:
    """The user of a gradio login cookie on this request, if the cookie is a live session."""
    app = scope.get("app")
    tokens = getattr(app, "tokens", None)
    cookie_id = getattr(app, "cookie_id", None)
    if not tokens or cookie_id is None:
        return None
    cookies = _cookies(scope)
    for name in (f"access-token-{cookie_id}", f"access-token-unsecure-{cookie_id}"):
        user = tokens.get(cookies.get(name, ""))
        if user is not None:
            return user
    return None


def gate_user(request: Any) -> str | None:
    """The user :class:`AuthGate` let through on ``request`` (gradio's ``auth_dependency``).

    gradio checks its own login cookie on its routes; handing it the gate's verdict instead makes
    ``Authorization: Basic`` work there too (an upload, a raw call), as on every other route.
    """
    return getattr(request.state, "ffpipe_user", None)


class AuthGate:
    """ASGI middleware: every HTTP request but the login form needs Basic auth or a session."""

    def __init__(self, app: ASGIApp, credentials: dict[str, str]) -> None:
        self.app = app
        self.credentials = credentials

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.credentials or _is_open(scope):
            await self.app(scope, receive, send)
            return
        user = basic_user(_header(scope, b"authorization"), self.credentials) or session_user(scope)
        if user is None:
            await _unauthorized(send)
            return
        scope.setdefault("state", {})["ffpipe_user"] = user
        await self.app(scope, receive, send)


def _is_open(scope: Scope) -> bool:
    path = scope["path"]
    return path in _OPEN_PATHS or (scope.get("method") == "HEAD" and path in _OPEN_HEAD_PATHS)


async def _unauthorized(send: Send) -> None:
    body = json.dumps(
        {
            "error": "authentication required",
            "detail": "this server needs credentials: gradio_client.Client(url, auth=(user, "
            "password)), or an 'Authorization: Basic' header",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b'Basic realm="ffpipe"'),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
