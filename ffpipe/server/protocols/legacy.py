"""The catalog's legacy JSON protocol on the server's FastAPI app, and GET /api/capabilities.

``POST /api/predict`` takes ``{"fn_index": n, "data": [...]}`` with ``data`` in the endpoint's
parameter order and files as base64 (``{"name", "data", "is_file"}`` objects or ``data:`` URLs),
and answers ``{"data": [file, result, [files]], "duration", "average_duration"}`` with files as
``{"name", "data", "is_file": true, "orig_name"}``; failures are ``{"error", "detail"}`` with a
4xx status (5xx only for the server's own faults).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ffpipe.catalog import OPS
from ffpipe.engine.api import Engine
from ffpipe.server.errors import RequestError
from ffpipe.server.execute import ENDPOINT_ORDER, Outcome, execute, parameter_order
from ffpipe.server.http.errors import error_response
from ffpipe.server.in_use import InUse
from ffpipe.server.names import shorten_name
from ffpipe.server.settings import ServerSettings, format_size

_DATA_URL = re.compile(r"^data:[^;,]*(;[^,]*)?,", re.IGNORECASE)
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
# Two files as base64 (4/3 each) plus JSON around them.
_BODY_FACTOR = 3


def _decode_file(name: str, value: Any, settings: ServerSettings, folder: Path) -> Any:
    """A base64 file of the request written into ``folder/name/``, as a FileData dict."""
    if value is None or (isinstance(value, dict) and "path" in value and "data" not in value):
        return value
    if isinstance(value, dict) and "data" in value:
        encoded, original = value["data"], str(value.get("name") or name)
    elif isinstance(value, str) and _DATA_URL.match(value):
        encoded, original = value, name
    else:
        return value  # a plain path or URL: refused by the common file check with its reason
    if not isinstance(encoded, str):
        raise RequestError(400, "invalid file", f"{name}: 'data' must be base64 text")
    header = _DATA_URL.match(encoded)
    if header:
        if ";base64" not in (header.group(1) or "").lower():
            raise RequestError(400, "invalid file", f"{name}: only base64 data URLs are accepted")
        encoded = encoded[header.end() :]
    try:
        content = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(400, "invalid file", f"{name}: 'data' is not valid base64") from None
    if len(content) > settings.max_file_size:
        raise RequestError(
            413,
            "file too large",
            f"{name} is {format_size(len(content))}; this server accepts files up to "
            f"{format_size(settings.max_file_size)} (--max-file-size)",
        )
    (folder / name).mkdir(parents=True)
    safe = _SAFE_NAME.sub("_", Path(original.replace("\\", "/")).name).lstrip(".") or name
    safe = shorten_name(safe)
    path = folder / name / safe
    path.write_bytes(content)
    return {"path": str(path), "orig_name": safe}


def _encoded(path: Path) -> dict[str, Any]:
    return {
        "name": path.name,
        "data": base64.b64encode(path.read_bytes()).decode("ascii"),
        "is_file": True,
        "orig_name": path.name,
    }


def legacy_outputs(outcome: Outcome) -> list[Any]:
    """``data`` of a legacy answer: primary file, result document, further files."""
    primary, *extras = (outcome.files[key] for key in outcome.ordered_keys())
    return [_encoded(primary), outcome.result_with_manifest(), [_encoded(p) for p in extras]]


class Admission:
    """At most ``concurrency`` running and ``queue_size`` waiting; beyond that, queue full."""

    def __init__(self, concurrency: int, queue_size: int) -> None:
        self.limiter = anyio.CapacityLimiter(concurrency)
        self.capacity = concurrency + queue_size
        self.admitted = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            if self.admitted >= self.capacity:
                raise RequestError(
                    429,
                    "queue full",
                    f"{self.admitted} requests are running or waiting; try again later",
                )
            self.admitted += 1

    def leave(self) -> None:
        with self._lock:
            self.admitted -= 1


async def _read_json(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RequestError(400, "malformed request", f"the body is not JSON: {error}") from None


def _too_large(limit: int) -> RequestError:
    return RequestError(
        413,
        "request too large",
        f"the request body exceeds {format_size(limit)}; files are limited by --max-file-size",
    )


def _values(op: str, data: list[Any], settings: ServerSettings, folder: Path) -> dict[str, Any]:
    order = parameter_order(op)
    if len(data) > len(order):
        raise RequestError(
            400,
            "malformed request",
            f"{op} takes at most {len(order)} values in 'data' ({', '.join(order)}); "
            f"got {len(data)}",
        )
    values = dict(zip(order, data, strict=False))
    for name in OPS[op].file_fields:
        if name in values:
            values[name] = _decode_file(name, values[name], settings, folder)
    return values


def _op_of(body: Any) -> tuple[str, list[Any]]:
    if not isinstance(body, dict):
        raise RequestError(400, "malformed request", 'expected {"fn_index": n, "data": [...]}')
    fn_index, data = body.get("fn_index"), body.get("data", [])
    if isinstance(fn_index, bool) or not isinstance(fn_index, int):
        raise RequestError(400, "malformed request", "'fn_index' must be an integer")
    if not 0 <= fn_index < len(ENDPOINT_ORDER):
        listing = ", ".join(f"{i}={name}" for i, name in enumerate(ENDPOINT_ORDER))
        raise RequestError(404, "unknown fn_index", f"{fn_index}; this server has {listing}")
    if not isinstance(data, list):
        raise RequestError(400, "malformed request", "'data' must be a list")
    return ENDPOINT_ORDER[fn_index], data


def mount_legacy(
    app: FastAPI,
    engine: Engine,
    settings: ServerSettings,
    capabilities: Callable[[], dict[str, Any]],
    in_use: InUse,
) -> None:
    """Add ``POST /api/predict`` and ``GET /api/capabilities`` to ``app``; a request holds its
    files in ``in_use`` from its admission to its answer, waiting for a worker included."""
    admission = Admission(settings.concurrency, settings.queue_size)
    averages: dict[int, tuple[float, int]] = {}
    roots = [settings.upload_dir, settings.output_dir]
    body_limit = _BODY_FACTOR * settings.max_file_size + 1_000_000

    async def predict(request: Request) -> JSONResponse:
        try:
            body = await _read_json(request, body_limit)
            op, data = _op_of(body)
            admission.enter()
        except RequestError as error:
            return error_response(error)
        start = time.perf_counter()
        # The request's files and outputs travel inside the JSON, so none is kept afterwards.
        uploads = settings.upload_dir / "legacy" / uuid.uuid4().hex
        try:
            with in_use.claim(uploads) as held:
                values = _values(op, data, settings, uploads)
                outcome = await anyio.to_thread.run_sync(
                    lambda: execute(
                        engine,
                        op,
                        values,
                        roots=roots,
                        output_dir=settings.output_dir,
                        max_output_bytes=settings.max_output_bytes,
                        claim=held,
                    ),
                    limiter=admission.limiter,
                )
                try:
                    payload = await anyio.to_thread.run_sync(legacy_outputs, outcome)
                finally:
                    shutil.rmtree(outcome.folder, ignore_errors=True)
        except RequestError as error:
            return error_response(error)
        finally:
            shutil.rmtree(uploads, ignore_errors=True)
            admission.leave()
        duration = time.perf_counter() - start
        index = ENDPOINT_ORDER.index(op)
        total, count = averages.get(index, (0.0, 0))
        averages[index] = (total + duration, count + 1)
        return JSONResponse(
            {
                "data": payload,
                "duration": round(duration, 4),
                "average_duration": round((total + duration) / (count + 1), 4),
            }
        )

    async def capabilities_route() -> JSONResponse:
        return JSONResponse(capabilities())

    app.add_api_route("/api/predict", predict, methods=["POST"])
    app.add_api_route("/api/predict/", predict, methods=["POST"])
    app.add_api_route("/api/capabilities", capabilities_route, methods=["GET"])
