"""Check calls on gradio's own routes before gradio answers a mistake with a 500 and no message.

gradio's queue (``/gradio_api/queue/join``) and its direct routes (``/gradio_api/call/NAME``,
``/gradio_api/run/NAME``, ``/gradio_api/api/NAME``) fail with a bare 500 for an unknown endpoint,
a ``data`` that is no list, or fewer values than the endpoint takes; its keyword route
(``/gradio_api/call/v2/NAME``, a JSON object of parameter values) for an endpoint it does not
list, an unknown parameter or a missing value. gradio_client always sends every value; a raw
HTTP caller may send only the first few, as the legacy ``/api/predict`` allows: the missing ones
are filled in with their defaults here, and a missing required value, an unknown endpoint or a
malformed body is answered in the catalog's ``{"error", "detail"}`` shape.

Files too: gradio trips over a file value it cannot take (a UI file box given anything but an
uploaded FileData, a ``meta`` that is no object, a FileData outside its upload folder) with a
500 or an error event that says nothing, so :func:`file_refusal` decides what a file value may
be before gradio sees it, on every route. So do its other components (a slider given null or a
string, a dropdown a value outside its choices): an endpoint whose function carries a values
check (:func:`check_values_with`, the UI's events) has its values checked here, the missing
ones filled in first.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ffpipe.server.errors import RequestError, status_of_title
from ffpipe.server.files import (
    FILE_DATA_MARK,
    FileRejected,
    allowed_path,
    call_objects,
    is_file_data,
    referenced_files,
)
from ffpipe.server.http.asgi import ASGIApp, Receive, Scope, Send
from ffpipe.server.http.errors import send_error
from ffpipe.server.in_use import InUse

MAX_JSON_DEPTH = 64
"""Arrays and objects nested deeper than this are refused before any JSON parser sees them
(Python's recursion limit turns a body of 100,000 brackets into a crash otherwise)."""
_QUEUE_JOIN = re.compile(r"^/gradio_api/queue/join/?$")
_KEYWORD_CALL = re.compile(r"^/gradio_api/call/v2/(?P<name>[^/]+)/?$")
_KEYWORDS_GRADIO_TAKES = frozenset({"oauth_token"})
_DIRECT_CALL = re.compile(r"^/gradio_api/(?P<route>call|run|api)/(?P<name>[^/]+)/?$")
_MAX_BODY = 1_000_000
_FORM_TYPES = (b"multipart/form-data", b"application/x-www-form-urlencoded")
_UPLOAD = re.compile(r"^/gradio_api/upload/?$")
_STREAMED_INPUT = re.compile(r"^/gradio_api/stream/[^/]+(/close)?/?$")
_REQUIRED = object()
_VALUES_CHECK = "ffpipe_values_check"

ValuesCheck = Callable[[Mapping[str, Any]], None]
"""Raises :class:`~ffpipe.server.errors.RequestError` for a value (by parameter name) that the
endpoint's components cannot take."""


def check_values_with(function: Callable[..., Any], check: ValuesCheck) -> None:
    """Have the endpoint guard run ``check`` on every call of the endpoint ``function`` (all its
    values, the missing ones filled in with their defaults) before gradio sees the call."""
    setattr(function, _VALUES_CHECK, check)


@dataclass(frozen=True)
class EndpointShape:
    """One gradio endpoint: its fn_index, api_name and its inputs' defaults (``None`` if none)."""

    fn_index: int
    api_name: str
    parameters: tuple[str, ...]
    defaults: tuple[Any, ...]
    """Per parameter its default, or the module's required marker."""
    file_inputs: Mapping[str, bool] = field(default_factory=dict)
    """Parameters whose component takes nothing but gradio FileData (the UI's file boxes), and
    whether each takes a list of them."""
    listed: bool = True
    """gradio lists it in its API (the keyword route serves only those)."""
    check: ValuesCheck | None = None
    """What its function says of its values (:func:`check_values_with`), if it says anything."""

    def complete(self, data: list[Any]) -> list[Any]:
        """``data`` with the missing trailing values set to their defaults."""
        if len(data) > len(self.parameters):
            raise RequestError(
                400,
                "malformed request",
                f"{self.api_name} takes at most {len(self.parameters)} values in 'data' "
                f"({', '.join(self.parameters)}); got {len(data)}",
            )
        missing = [
            name
            for name, default in zip(
                self.parameters[len(data) :], self.defaults[len(data) :], strict=True
            )
            if default is _REQUIRED
        ]
        if missing:
            raise RequestError(
                400,
                "malformed request",
                f"{self.api_name} needs a value for {', '.join(missing)} "
                f"('data' holds {len(data)} of {', '.join(self.parameters)})",
            )
        return [*data, *self.defaults[len(data) :]]

    def check_keywords(self, values: Mapping[str, Any]) -> None:
        """Refuse keyword ``values`` naming no parameter or leaving a required one out."""
        unknown = sorted(set(values) - set(self.parameters) - _KEYWORDS_GRADIO_TAKES)
        if unknown:
            raise RequestError(
                400,
                "malformed request",
                f"{self.api_name} has no parameter {', '.join(unknown)} "
                f"(it takes {', '.join(self.parameters)})",
            )
        missing = [
            name
            for name, default in zip(self.parameters, self.defaults, strict=True)
            if default is _REQUIRED and name not in values
        ]
        if missing:
            raise RequestError(
                400, "malformed request", f"{self.api_name} needs a value for {', '.join(missing)}"
            )


def endpoint_shapes(blocks: Any) -> list[EndpointShape]:
    """The shape of every API endpoint of a built gradio Blocks."""
    shapes = []
    for fn_index, block_fn in blocks.fns.items():
        if not block_fn.api_name:
            continue
        count = len(block_fn.inputs)
        parameters = list(inspect.signature(block_fn.fn).parameters.values())[:count]
        takes = [_takes_file_data(block) for block in block_fn.inputs]
        shapes.append(
            EndpointShape(
                fn_index=fn_index,
                api_name=str(block_fn.api_name),
                parameters=tuple(parameter.name for parameter in parameters),
                defaults=tuple(
                    _REQUIRED if parameter.default is inspect.Parameter.empty else parameter.default
                    for parameter in parameters
                ),
                file_inputs={
                    parameter.name: kind == "many"
                    for parameter, kind in zip(parameters, takes, strict=False)
                    if kind is not None
                },
                listed=getattr(block_fn, "api_visibility", "public") == "public",
                check=getattr(block_fn.fn, _VALUES_CHECK, None),
            )
        )
    return shapes


def _takes_file_data(block: Any) -> str | None:
    """``one`` or ``many`` if gradio validates the component's value as FileData, else None."""
    # Imported here: gradio reads its settings from the environment when first imported, and
    # the server sets them just before (ffpipe.server.app.prepare_environment).
    from gradio.data_classes import FileData, ListFiles

    model = getattr(block, "data_model", None)
    if isinstance(model, type) and issubclass(model, FileData):
        return "one"
    if isinstance(model, type) and issubclass(model, ListFiles):
        return "many"
    return None


class EndpointGuard:
    """ASGI middleware: calls on gradio's routes name a known endpoint and enough values, and
    their files are files gradio takes: uploads, in ``uploads`` (gradio's upload folder).

    ``roots`` are the server's folders a call's files may lie in (held in use while it runs).
    """

    def __init__(
        self,
        app: ASGIApp,
        shapes: list[EndpointShape],
        roots: Sequence[Path] = (),
        *,
        uploads: Sequence[Path],
        in_use: InUse,
    ) -> None:
        self.app = app
        self.roots = tuple(roots)
        self.uploads = tuple(uploads)
        self.in_use = in_use
        self.by_index: Mapping[int, EndpointShape] = {shape.fn_index: shape for shape in shapes}
        self.by_name: Mapping[str, EndpointShape] = {shape.api_name: shape for shape in shapes}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        direct = _DIRECT_CALL.match(path)
        keywords = _KEYWORD_CALL.match(path)
        guarded = direct or keywords or _QUEUE_JOIN.match(path)
        if scope.get("method") == "POST" and _STREAMED_INPUT.match(path):
            # gradio's streamed inputs replace a queued call's data, unchecked; no input streams.
            await send_error(send, _no_streamed_inputs(path))
            return
        if scope.get("method") != "POST" or not guarded:
            await self.app(scope, receive, send)
            return
        body, more = await _read_body(receive)
        if more or len(body) > _MAX_BODY:  # files are uploaded apart: no call is this big
            await send_error(send, _call_too_large())
            return
        try:
            if keywords:
                values: Any = self._check_keywords(body, keywords.group("name"))
            else:
                body, values = self._checked(body, direct.group("name") if direct else None)
        except RequestError as refusal:
            await send_error(send, refusal)
            return
        headers = [(key, value) for key, value in scope["headers"] if key != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        # The call's files are held until gradio has answered it: a queued call by then sits in
        # gradio's queue, which retention watches itself, and a direct one has run.
        with self.in_use.claim(*referenced_files(values, self.roots)):
            await self.app({**scope, "headers": headers}, _replay(body, False, receive), send)

    def _checked(self, raw: bytes, api_name: str | None) -> tuple[bytes, list[Any]]:
        """The call's body with its missing values filled in, and those values; or a refusal."""
        document = _json_object(raw, 'expected {"data": [...]}')
        shape = self._endpoint(document.get("fn_index"), api_name)
        data = document.get("data", [])
        if not isinstance(data, list):
            raise RequestError(400, "malformed request", "'data' must be a list")
        self._check_files(shape, zip(shape.parameters, data, strict=False))
        completed = shape.complete(data)
        if shape.check is not None:
            shape.check(dict(zip(shape.parameters, completed, strict=True)))
        return json.dumps({**document, "data": completed}).encode(), completed

    def _check_keywords(self, raw: bytes, api_name: str) -> dict[str, Any]:
        """The call's values by parameter name; or a refusal."""
        values = _json_object(raw, 'expected {"parameter": value, ...}')
        shape = self.by_name.get(api_name)
        if shape is None or not shape.listed:
            listed = [name for name, known in self.by_name.items() if known.listed]
            raise RequestError(
                404,
                "unknown endpoint",
                f"{api_name}; this server has {', '.join(listed)} (see GET /api/capabilities)",
            )
        shape.check_keywords(values)
        self._check_files(shape, values.items())
        if shape.check is not None:
            defaults = dict(zip(shape.parameters, shape.defaults, strict=True))
            given = {name: values[name] for name in shape.parameters if name in values}
            shape.check({**defaults, **given})
        return values

    def _check_files(self, shape: EndpointShape, values: Iterable[tuple[str, Any]]) -> None:
        for name, value in values:
            refusal = file_refusal(name, value, shape.file_inputs.get(name), self.uploads)
            if refusal is not None:
                raise RequestError(403, "file not allowed", refusal)

    def _endpoint(self, fn_index: Any, api_name: str | None) -> EndpointShape:
        last = max(self.by_index, default=0)
        if fn_index is not None:
            shape = self.by_index.get(fn_index) if type(fn_index) is int else None
            if shape is None:
                raise RequestError(
                    404,
                    "unknown fn_index",
                    f"{fn_index}; this server has fn_index 0 to {last} (see GET /api/capabilities)",
                )
            return shape
        shape = self.by_name.get(api_name or "")
        if shape is None:
            raise RequestError(
                404,
                "unknown endpoint",
                f"{api_name or 'no fn_index'}; this server has {', '.join(self.by_name)} "
                "(see GET /api/capabilities)",
            )
        return shape


def _no_streamed_inputs(path: str) -> RequestError:
    return RequestError(
        404,
        "no such route",
        f"POST {path}: this server takes no streamed inputs; send a call's values with it "
        "(POST /gradio_api/queue/join or /gradio_api/call/NAME)",
    )


def _call_too_large() -> RequestError:
    return RequestError(
        413,
        "request too large",
        f"a call's body may be at most {_MAX_BODY / 1e6:g} MB; upload its files first "
        "(POST /gradio_api/upload) and send their FileData",
    )


def _json_object(raw: bytes, expected: str) -> dict[str, Any]:
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RequestError(400, "malformed request", f"the body is not JSON: {error}") from None
    except RecursionError:
        raise RequestError(400, "malformed request", "the JSON body is nested too deeply") from None
    if not isinstance(document, dict):
        raise RequestError(400, "malformed request", expected)
    return document


def file_refusal(
    name: str, value: Any, takes_list: bool | None, roots: Sequence[Path]
) -> str | None:
    """Why gradio must not be handed ``value`` of parameter ``name``, or None if it may.

    ``takes_list`` is None for a parameter taking any value, else whether its component takes a
    list of FileData rather than one. Such a component takes only uploads marked as FileData
    (gradio fails on anything else with no message). In any value, anything gradio would take
    for a file (an object with a ``path`` and a ``meta``) must be an upload, in ``roots``: gradio
    moves nothing else (a bare 500), and an unmarked ``{"path"}`` is left to the endpoint, which
    checks it itself (:func:`~ffpipe.server.files.incoming_path`).
    """
    if takes_list is not None and value is not None:
        files = value if takes_list else [value]
        if not isinstance(files, list) or not all(is_file_data(file) for file in files):
            shown = json.dumps(value)
            return (
                f"{name} takes {'a list of files' if takes_list else 'a file'} uploaded to this "
                f'server, as gradio FileData {{"path": ..., "meta": {{"_type": '
                f'"{FILE_DATA_MARK}"}}}} (POST /gradio_api/upload first); got '
                f"{shown if len(shown) <= 200 else shown[:200] + '...'}"
            )
    for reference in _file_references(value):
        refusal = _reference_refusal(name, reference, roots)
        if refusal is not None:
            return refusal
    return None


def _file_references(value: Any) -> list[dict[str, Any]]:
    """The objects of ``value`` gradio looks at as files, as it finds them
    (:func:`~ffpipe.server.files.call_objects`): those with a string ``path`` and a ``meta``."""
    return [
        found
        for found in call_objects(value)
        if isinstance(found.get("path"), str) and "meta" in found
    ]


def _reference_refusal(name: str, reference: dict[str, Any], roots: Sequence[Path]) -> str | None:
    from gradio.data_classes import FileData  # see _takes_file_data
    from pydantic import ValidationError

    if not isinstance(reference["meta"], dict):
        return f'{name}: a file\'s "meta" must be {{"_type": "{FILE_DATA_MARK}"}}'
    if reference["meta"].get("_type") != FILE_DATA_MARK:
        return None  # not a file to gradio: the endpoint reads it as a value
    try:
        FileData.model_validate(reference)
    except ValidationError as invalid:
        problems = "; ".join(
            f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in invalid.errors()
        )
        return f"{name}: not a gradio FileData ({problems})"
    if not roots:
        return None
    try:
        allowed_path(name, reference, roots)
    except FileRejected as rejected:
        return str(rejected)
    return None


def json_depth(raw: bytes, limit: int = MAX_JSON_DEPTH) -> int:
    """How deep arrays and objects nest in ``raw`` (strings skipped), counted to ``limit + 1``."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return 0  # cannot nest deeper than it has brackets: no need to walk it
    scan = _DepthScan(limit)
    scan.feed(raw)
    return scan.deepest


_JSON_MARKS = re.compile(rb'[\[\]{}"\\]')


@dataclass
class _DepthScan:
    """:func:`json_depth` of a body that arrives in chunks: where it stands carries over."""

    limit: int
    depth: int = 0
    deepest: int = 0
    in_string: bool = False
    escaped: bool = False
    """The chunk's first byte is escaped (the last one ended in a backslash in a string)."""

    def feed(self, chunk: bytes) -> bool:
        """Whether the body so far nests deeper than ``limit``."""
        skipped = 0 if self.escaped else -1
        self.escaped = False
        for mark in _JSON_MARKS.finditer(chunk):  # the bytes between marks never matter
            at, byte = mark.start(), chunk[mark.start()]
            if at == skipped:
                continue
            if self.in_string:
                if byte == 0x5C:  # backslash: the next byte is taken as it is
                    skipped = at + 1
                    self.escaped = skipped == len(chunk)
                elif byte == 0x22:  # quote
                    self.in_string = False
            elif byte == 0x22:
                self.in_string = True
            elif byte in (0x5B, 0x7B):  # [ {
                self.depth += 1
                self.deepest = max(self.deepest, self.depth)
                if self.deepest > self.limit:
                    return True
            elif byte in (0x5D, 0x7D):  # ] }
                self.depth -= 1
        return self.deepest > self.limit


class JsonDepthGuard:
    """ASGI middleware: a request body (any but a form) nested deeper than
    :data:`MAX_JSON_DEPTH` is answered 400 in the catalog's shape, on every route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        content_type = dict(scope.get("headers", [])).get(b"content-type", b"")
        # Any body but a form is checked: FastAPI and gradio parse a body as JSON whatever
        # content type it claims (text/plain included), and deep nesting there is a 500.
        if content_type.split(b";", 1)[0].strip().lower() in _FORM_TYPES:
            await self.app(scope, receive, send)
            return
        body, more = await _read_body(receive)
        scan = _DepthScan(MAX_JSON_DEPTH)
        if scan.feed(body):
            await send_error(send, _too_deep())
            return
        if not more:
            await self.app(scope, _replay(body, more, receive), send)
            return
        await self._scanning_the_rest(scope, body, receive, send, scan)

    async def _scanning_the_rest(
        self, scope: Scope, start: bytes, receive: Receive, send: Send, scan: _DepthScan
    ) -> None:
        # A long body (a legacy call with base64 files) passes on chunk by chunk, each scanned
        # before the app has it; none parses it before its end, so one nested too deeply is
        # refused here and the app is told the client left (its own answer is dropped).
        refused = started = False

        async def scanning_receive() -> Any:
            nonlocal refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request" and scan.feed(message.get("body", b"")):
                refused = True
                if not started:
                    await send_error(send, _too_deep())
                return {"type": "http.disconnect"}
            return message

        async def quiet_send(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            if not refused:
                started = started or message["type"] == "http.response.start"
                await send(message)

        try:
            await self.app(scope, _replay(start, True, scanning_receive), quiet_send)
        except Exception:
            if not refused:
                raise


def _too_deep() -> RequestError:
    return RequestError(
        400, "malformed request", f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep"
    )


class UploadNameGuard:
    """ASGI middleware: an upload part with an empty file name is answered 400 in the catalog's
    shape. Such a part arrives as a plain form field, and gradio's upload route then raises (a
    bare 500) before anything is stored."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        if scope.get("method") != "POST" or not _UPLOAD.match(path):
            await self.app(scope, receive, send)
            return
        started = False

        async def noting_send(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, noting_send)
        except TypeError:
            if started:
                raise
            await send_error(
                send,
                RequestError(
                    400,
                    "malformed upload",
                    "every part of an upload must be a file with a file name "
                    '(Content-Disposition: form-data; name="files"; filename="photo.jpg")',
                ),
            )


class ErrorShapeGuard:
    """ASGI middleware: an error gradio answers on its call routes gets the catalog's shape.

    gradio says ``{"detail": "Queue is full"}`` (503) when its queue is full and ``{"error":
    null}`` when it hides an exception; a client of the catalog expects ``{"error", "detail"}``.
    The status is kept (a full queue stays 503, which gradio_client reads as such), except for a
    catalog error our endpoints raised as a gradio error: gradio answers it 500 on the ``run``
    and ``api`` routes, and its title (:func:`~ffpipe.server.errors.status_title`) restores the
    status it has.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        direct = _DIRECT_CALL.match(path)
        answers_json = _QUEUE_JOIN.match(path) or (direct and direct.group("route") != "call")
        if scope.get("method") != "POST" or not answers_json:
            await self.app(scope, receive, send)
            return
        held: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def reshaping_send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 400:
                held.update(message)
                return
            if not held or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                await send_error(send, _reshaped(held["status"], b"".join(chunks)))

        await self.app(scope, receive, reshaping_send)


def _reshaped(status: int, raw: bytes) -> RequestError:
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        document = {"detail": raw.decode("utf-8", "replace")[:500]}
    if not isinstance(document, dict):
        document = {"detail": str(document)[:500]}
    error, detail = document.get("error"), document.get("detail")
    carried = status_of_title(str(document.get("title", "")))
    if isinstance(error, str) and carried is not None:
        # A catalog error raised as a gradio error: its message is the catalog's JSON shape.
        shape = _catalog_shape(error)
        if shape is not None:
            return RequestError(carried, *shape)
    if isinstance(error, str) and error:
        return RequestError(status, error, detail if isinstance(detail, str) else "")
    text = detail if isinstance(detail, str) else ""
    if status == 503 and "queue" in text.lower():
        # The status stays: gradio_client reads a 503 here as "queue is full, try again".
        return RequestError(503, "queue full", f"{text} Try again later.")
    fallback = "internal error" if status >= 500 else "request refused"
    return RequestError(status, fallback, text or "the server gave no reason; see its log")


def _catalog_shape(message: str) -> tuple[str, str] | None:
    try:
        document = json.loads(message)
    except (json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(document, dict) or not isinstance(document.get("error"), str):
        return None
    detail = document.get("detail")
    return document["error"], detail if isinstance(detail, str) else ""


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The request body, up to a limit; ``more`` says whether some is still unread."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body, False
        if len(body) > _MAX_BODY:
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
