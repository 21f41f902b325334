"""Credentials from ``--auth-file`` and the gate that requires them on every route.

Gradio's own login (``POST /login``, a session cookie) is what ``gradio_client.Client(url,
auth=(user, password))`` uses; raw HTTP clients and the legacy ``/api/predict`` may instead send
``Authorization: Basic``. The gate accepts either on every path, so no route (gradio's
unprotected ones such as ``/gradio_api/cancel`` included) is reachable without credentials;
the only exceptions are the login form and the two probes gradio's ``launch()`` sends itself
(``/gradio_api/startup-events`` and ``HEAD /``), which return nothing of the user's.

The auth file holds one ``user:password`` per line; a line ``admin user:password`` makes that user
an admin, who may see, fetch and cancel every user's jobs (others see only their own).

Failed logins are slowed down: after :data:`FREE_FAILURES` wrong passwords for one user from one
address (or :data:`FREE_FAILURES_PER_ADDRESS` for any users from one address), each further try
must wait twice as long as the one before, up to :data:`MAX_BACKOFF_SECONDS`; a try made too soon
is answered 429 without its password being checked. The same wrong password again (a client
retrying a stale one) is not another guess. A right password clears that user's count.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import hashlib
import hmac
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ffpipe.server.errors import RequestError
from ffpipe.server.http.asgi import ASGIApp, Receive, Scope, Send
from ffpipe.server.http.errors import send_error

# The login form itself, and the two probes gradio's launch() sends to its own URL before it
# returns (running startup events twice is a no-op; HEAD / returns no content).
_OPEN_PATHS = frozenset({"/login", "/login/", "/gradio_api/startup-events"})
_OPEN_HEAD_PATHS = frozenset({"/"})


class AuthFileError(ValueError):
    """An auth file that cannot be used."""


ADMIN_PREFIX = "admin "
FREE_FAILURES = 5
FREE_FAILURES_PER_ADDRESS = 50
BASE_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 60.0
_FORGET_AFTER_SECONDS = 900.0
_MAX_TRACKED = 10_000
CLIENT_ADDRESS: contextvars.ContextVar[str] = contextvars.ContextVar(
    "ffpipe_client_address", default=""
)
"""The address of the request being handled, for checks (gradio's login) that do not get it."""


@dataclass(frozen=True)
class AuthFile:
    """The users of ``--auth-file``: user -> password, and which of them are admins."""

    credentials: dict[str, str]
    admins: frozenset[str] = frozenset()


def read_auth_file(path: Path) -> AuthFile:
    """``user:password`` lines, ``admin user:password`` for admins (blank lines and ``#``
    comments ignored)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise AuthFileError(f"cannot read auth file {path}: {error.strerror}") from None
    credentials: dict[str, str] = {}
    admins: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        admin = line.startswith(ADMIN_PREFIX)
        user, colon, password = line.removeprefix(ADMIN_PREFIX).partition(":")
        if not colon or not user.strip() or not password:
            raise AuthFileError(f"{path}:{number}: expected 'user:password'")
        credentials[user.strip()] = password
        if admin:
            admins.add(user.strip())
    if not credentials:
        raise AuthFileError(f"auth file {path} names no user")
    return AuthFile(credentials, frozenset(admins))


def load_auth_file(path: Path) -> dict[str, str]:
    """The user -> password part of :func:`read_auth_file`."""
    return read_auth_file(path).credentials


@dataclass
class _Failures:
    guesses: set[str] = field(default_factory=set)
    """Digests of the distinct wrong passwords: a client retrying a stale one guesses once."""
    last: float = 0.0
    blocked_until: float = 0.0


@dataclass
class LoginThrottle:
    """Counts failed logins per (user, address) and per address; tells how long to wait."""

    free_failures: int = FREE_FAILURES
    free_failures_per_address: int = FREE_FAILURES_PER_ADDRESS
    base_seconds: float = BASE_BACKOFF_SECONDS
    max_seconds: float = MAX_BACKOFF_SECONDS
    clock: Callable[[], float] = time.monotonic
    _entries: OrderedDict[tuple[str, ...], _Failures] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_seconds(self, user: str, address: str) -> float:
        """How long until ``user`` may try again from ``address`` (0: now)."""
        now = self.clock()
        with self._lock:
            waits = [
                entry.blocked_until - now
                for key in ((user, address), (address,))
                if (entry := self._entries.get(key)) is not None
            ]
        return max([0.0, *waits])

    def failed(self, user: str, address: str, password: str) -> None:
        """Record a wrong password (one already tried from there does not count again)."""
        now = self.clock()
        guess = hashlib.sha256(f"{user}\0{password}".encode()).hexdigest()
        with self._lock:
            for key, free in (
                ((user, address), self.free_failures),
                ((address,), self.free_failures_per_address),
            ):
                entry = self._entries.pop(key, None) or _Failures()
                if now - entry.last > _FORGET_AFTER_SECONDS:
                    entry = _Failures()
                entry.last = now
                self._entries[key] = entry
                if guess in entry.guesses:
                    continue
                entry.guesses.add(guess)
                count = len(entry.guesses)
                if count > free:
                    doublings = min(count - free - 1, 32)
                    delay = min(self.base_seconds * 2**doublings, self.max_seconds)
                    entry.blocked_until = now + delay
            while len(self._entries) > _MAX_TRACKED:
                self._entries.popitem(last=False)

    def succeeded(self, user: str, address: str) -> None:
        """A right password: that user's count from that address starts again."""
        with self._lock:
            self._entries.pop((user, address), None)

    def check(self, credentials: dict[str, str], user: str, password: str, address: str) -> bool:
        """Whether the password is right, recording the outcome; False, unchecked, while the
        user or address must wait."""
        if self.wait_seconds(user, address) > 0:
            return False
        if check_password(credentials, user, password):
            self.succeeded(user, address)
            return True
        self.failed(user, address, password)
        return False


def check_password(credentials: dict[str, str], user: str, password: str) -> bool:
    """Whether ``user`` exists and ``password`` is theirs (compared in constant time)."""
    expected = credentials.get(user)
    if expected is None:
        hmac.compare_digest(password.encode(), password.encode())
        return False
    return hmac.compare_digest(expected.encode(), password.encode())


def basic_credentials(header: str) -> tuple[str, str] | None:
    """``(user, password)`` of an ``Authorization: Basic ...`` header value, else None."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, _, password = decoded.partition(":")
    return user, password


def basic_user(header: str, credentials: dict[str, str]) -> str | None:
    """The user of a valid ``Authorization: Basic ...`` header value, else None."""
    given = basic_credentials(header)
    if given is None:
        return None
    return given[0] if check_password(credentials, *given) else None


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

    def __init__(
        self,
        app: ASGIApp,
        credentials: dict[str, str],
        throttle: LoginThrottle | None = None,
    ) -> None:
        self.app = app
        self.credentials = credentials
        self.throttle = throttle or LoginThrottle()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.credentials:
            await self.app(scope, receive, send)
            return
        address = (scope.get("client") or ("",))[0]
        CLIENT_ADDRESS.set(address)
        if _is_open(scope):
            wait = self.throttle.wait_seconds("", address) if scope["path"] != "/" else 0.0
            if wait > 0:
                await _too_many(send, wait)
                return
            await self.app(scope, receive, send)
            return
        user = None
        given = basic_credentials(_header(scope, b"authorization"))
        if given is not None:
            wait = self.throttle.wait_seconds(given[0], address)
            if wait > 0:
                await _too_many(send, wait)
                return
            if self.throttle.check(self.credentials, *given, address):
                user = given[0]
        user = user or session_user(scope)
        if user is None:
            await _unauthorized(send)
            return
        scope.setdefault("state", {})["ffpipe_user"] = user
        await self.app(scope, receive, send)


def _is_open(scope: Scope) -> bool:
    path = scope["path"]
    return path in _OPEN_PATHS or (scope.get("method") == "HEAD" and path in _OPEN_HEAD_PATHS)


async def _unauthorized(send: Send) -> None:
    await send_error(
        send,
        RequestError(
            401,
            "authentication required",
            "this server needs credentials: gradio_client.Client(url, auth=(user, password)), or"
            " an 'Authorization: Basic' header",
        ),
        [(b"www-authenticate", b'Basic realm="ffpipe"')],
    )


async def _too_many(send: Send, wait: float) -> None:
    seconds = math.ceil(wait)
    await send_error(
        send,
        RequestError(
            429,
            "too many failed logins",
            f"wait {seconds} s before trying again; each further wrong password doubles the wait",
        ),
        [(b"retry-after", str(seconds).encode())],
    )
