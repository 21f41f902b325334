"""The REST API of jobs under ``/api/jobs``, and the job functions behind the Gradio endpoints.

Routes (errors always in the catalog's ``{"error", "detail"}`` shape with a 4xx status):

- ``POST /api/jobs``: submit. Either ``multipart/form-data`` (or, without files, a urlencoded
  form) with fields ``op``, ``params`` (a JSON
  object), optional ``job_id``, ``priority``, ``callback_url`` and one file part per file
  parameter (``target_media``, ``source_face``); or ``application/json``
  ``{"op", "params", "files": {"target_media": {"name", "data": <base64>}}, "job_id", ...}``.
  Answers 202 with the Job Status Response.
- ``GET /api/jobs?status=&op=&limit=``: jobs, newest first.
- ``GET /api/jobs/{id}``: the Job Status Response.
- ``GET /api/jobs/{id}/result``: the catalog's Success Response shape with the output files
  base64-encoded, plus the op's ``result`` document; ``GET /api/jobs/{id}/result/{name}`` streams
  one output file. A folder output (extracted frames) comes as ``<name>.zip``, as the sync
  endpoints send it: ``"archive": true`` in the first, header ``X-FFpipe-Archive: zip`` in the
  second.
- ``POST /api/jobs/{id}/cancel``: cancel; answers with the Job Status Response.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from ffpipe.catalog.jobs import ARCHIVE_HEADER
from ffpipe.server.execute import RequestError
from ffpipe.server.files import ARCHIVES_FOLDER
from ffpipe.server.jobs.service import (
    ANYONE,
    Caller,
    InvalidRequest,
    JobControl,
    JobService,
    NotFound,
    TooLarge,
    Upload,
)
from ffpipe.server.jobs.settings import JobSettings
from ffpipe.server.jobs.store import JobStore

PREFIX = "/api/jobs"

_REQUEST_OVERHEAD_BYTES = 1_000_000
Handler = Callable[..., Awaitable[Any]]


def _error(status: int, error: str, detail: str = "") -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge("request too large", f"the limit is {limit / 1e6:g} MB")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge("request too large", f"the limit is {limit / 1e6:g} MB")
        chunks.append(chunk)
    return b"".join(chunks)


def _json_object(text: str | bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvalidRequest(f"malformed {what}", f"not valid JSON: {error}") from None
    except RecursionError:
        raise InvalidRequest(f"malformed {what}", "the JSON is nested too deeply") from None
    if not isinstance(value, dict):
        raise InvalidRequest(f"malformed {what}", "expected a JSON object")
    return value


def _decode_files(files: Any) -> dict[str, Upload]:
    if files is None:
        return {}
    if not isinstance(files, dict):
        raise InvalidRequest("malformed files", "files must map parameter names to {name, data}")
    uploads = {}
    for field_name, entry in files.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("data"), str):
            raise InvalidRequest(
                "malformed files", f"files.{field_name} must be an object with base64 'data'"
            )
        try:
            content = base64.b64decode(entry["data"], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest(
                "malformed files", f"files.{field_name}.data is not valid base64"
            ) from None
        uploads[field_name] = Upload(str(entry.get("name") or field_name), content)
    return uploads


async def _submission(request: Request, file_limit: int) -> tuple[str, dict, dict, dict]:
    # Files are held to file_limit by the service; the request may carry encoding overhead too.
    limit = file_limit * 4 // 3 + _REQUEST_OVERHEAD_BYTES
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type == "application/json":
        body = _json_object(await _read_body(request, limit), "request body")
        options = {key: body[key] for key in ("job_id", "priority", "callback_url") if key in body}
        unknown = sorted(set(body) - {"op", "params", "files", *options})
        if unknown:
            raise InvalidRequest("unknown fields", ", ".join(unknown))
        params = body.get("params", {})
        if not isinstance(params, dict):
            raise InvalidRequest("malformed params", "params must be a JSON object")
        return str(body.get("op", "")), params, _decode_files(body.get("files")), options
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise TooLarge("request too large", f"the limit is {limit / 1e6:g} MB")
        try:
            form = await request.form(max_part_size=limit)
        except HTTPException as error:  # starlette's report of a multipart body it cannot parse
            raise InvalidRequest("malformed form", str(error.detail)) from None
        options: dict[str, Any] = {}
        uploads: dict[str, Upload] = {}
        op, params = "", {}
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                uploads[key] = Upload(value.filename or key, await value.read())
            elif key == "op":
                op = value
            elif key == "params":
                params = _json_object(value, "params")
            elif key in ("job_id", "callback_url"):
                options[key] = value or None
            elif key == "priority":
                options[key] = value
            else:
                raise InvalidRequest("unknown fields", key)
        return op, params, uploads, options
    raise InvalidRequest(
        "unsupported content type",
        f"{content_type or 'none'}; send multipart/form-data (curl -F op=edit "
        "-F 'target_media=@photo.jpg' -F 'params={\"face_editor_age\": 70}') or application/json "
        "with files as base64 (see docs/api.md)",
    )


def mount_jobs(
    app: FastAPI, store: JobStore, runner: JobControl, settings: JobSettings
) -> JobService:
    """Add the ``/api/jobs`` routes to ``app``; returns the service behind them."""
    service = JobService(store, runner, settings)

    def guarded(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def route(request: Request, **kwargs: Any) -> Response:
            if settings.token is not None:
                given = request.headers.get("authorization", "")
                if not hmac.compare_digest(given, f"Bearer {settings.token}"):
                    return _error(401, "unauthorized", "send Authorization: Bearer <token>")
            try:
                return await handler(request, **kwargs)
            except RequestError as error:
                return JSONResponse(error.shape(), status_code=error.status)

        return route

    def caller(request: Request) -> Caller:
        # The user the auth gate let through; none on a server without users.
        user = getattr(request.state, "ffpipe_user", None)
        return Caller(user, user in settings.admins) if user is not None else ANYONE

    async def submit_job(request: Request) -> Response:
        op, params, uploads, options = await _submission(request, settings.max_upload_bytes)
        status = await run_in_threadpool(
            service.submit, op, params, uploads, options, caller(request)
        )
        return JSONResponse(status.model_dump(mode="json"), status_code=202)

    async def list_jobs(request: Request) -> Response:
        query = request.query_params
        limit_text = query.get("limit", "100")
        if not limit_text.isdigit():
            raise InvalidRequest("invalid limit", "limit must be a whole number")
        jobs = await run_in_threadpool(
            service.list, query.get("status"), query.get("op"), int(limit_text), caller(request)
        )
        return JSONResponse({"jobs": jobs})

    async def job_status(request: Request, job_id: str) -> Response:
        status = await run_in_threadpool(service.status, job_id, caller(request))
        return JSONResponse(status.model_dump(mode="json"))

    async def job_result(request: Request, job_id: str) -> Response:
        files = await run_in_threadpool(service.result_files, job_id, caller(request))
        record = service.record(job_id, caller(request))
        data = [
            {
                "name": name,
                "data": base64.b64encode(path.read_bytes()).decode(),
                "is_file": True,
                "orig_name": path.name,
                "archive": path.parent.name == ARCHIVES_FOLDER,
            }
            for name, path in files.items()
        ]
        return JSONResponse({"job_id": job_id, "data": data, "result": record.result})

    async def job_result_file(request: Request, job_id: str, name: str) -> Response:
        files = await run_in_threadpool(service.result_files, job_id, caller(request))
        if name not in files:
            raise NotFound("no such output", f"job {job_id!r} has outputs {sorted(files)}")
        headers = {ARCHIVE_HEADER: "zip"} if files[name].parent.name == ARCHIVES_FOLDER else {}
        return FileResponse(files[name], filename=files[name].name, headers=headers)

    async def no_such_route(request: Request, rest: str) -> Response:
        raise NotFound(
            "no such route",
            f"{request.method} {request.url.path}; see GET/POST {PREFIX}, GET {PREFIX}/ID,"
            f" GET {PREFIX}/ID/result, POST {PREFIX}/ID/cancel",
        )

    async def cancel_job(request: Request, job_id: str) -> Response:
        status = await run_in_threadpool(service.cancel, job_id, caller(request))
        return JSONResponse(status.model_dump(mode="json"))

    app.add_api_route(PREFIX, guarded(submit_job), methods=["POST"])
    app.add_api_route(PREFIX, guarded(list_jobs), methods=["GET"])
    app.add_api_route(PREFIX + "/{job_id}", guarded(job_status), methods=["GET"])
    app.add_api_route(PREFIX + "/{job_id}/result", guarded(job_result), methods=["GET"])
    app.add_api_route(PREFIX + "/{job_id}/result/{name}", guarded(job_result_file), methods=["GET"])
    app.add_api_route(PREFIX + "/{job_id}/cancel", guarded(cancel_job), methods=["POST"])
    app.add_api_route(
        PREFIX + "/{rest:path}", guarded(no_such_route), methods=["GET", "POST", "PUT", "DELETE"]
    )
    return service


def gradio_endpoints(service: JobService) -> dict[str, Callable[..., dict[str, Any]]]:
    """Plain functions for the server's Gradio app, by suggested ``api_name``.

    ``submit_job(op, params_json, target_media, source_face, job_id, priority, callback_url)``
    takes file paths as Gradio hands them over (or None); ``job_status(job_id)`` and
    ``cancel_job(job_id)`` take an id; each takes the ``caller`` (whose jobs it may touch) by
    keyword. Each returns the Job Status Response as a dict and raises
    :class:`~ffpipe.server.execute.RequestError` (with ``.error`` and ``.detail``) for a refused
    request.
    """

    def submit_job(
        op: str,
        params_json: str = "{}",
        target_media: str | None = None,
        source_face: str | None = None,
        job_id: str | None = None,
        priority: int = 5,
        callback_url: str | None = None,
        caller: Caller = ANYONE,
    ) -> dict[str, Any]:
        uploads = {
            name: Upload(Path(path).name, Path(path))
            for name, path in (("target_media", target_media), ("source_face", source_face))
            if path
        }
        options = {"job_id": job_id or None, "priority": priority, "callback_url": callback_url}
        params = _json_object(params_json or "{}", "params")
        return service.submit(op, params, uploads, options, caller).model_dump(mode="json")

    def job_status(job_id: str, caller: Caller = ANYONE) -> dict[str, Any]:
        return service.status(job_id, caller).model_dump(mode="json")

    def cancel_job(job_id: str, caller: Caller = ANYONE) -> dict[str, Any]:
        return service.cancel(job_id, caller).model_dump(mode="json")

    return {"submit_job": submit_job, "job_status": job_status, "cancel_job": cancel_job}
