"""The REST API of jobs under ``/api/jobs``: a FastAPI router over the job service.

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

A job id is the submitter's own: another user may use the same id. An admin who sees several
users' jobs of one id adds ``?owner=NAME`` to the last four routes.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from ffpipe.catalog.jobs import ARCHIVE_HEADER
from ffpipe.server.errors import RequestError
from ffpipe.server.files import ARCHIVES_FOLDER
from ffpipe.server.http.errors import error_response
from ffpipe.server.jobs.service import (
    ANYONE,
    Caller,
    InvalidRequest,
    JobService,
    NotFound,
    TooLarge,
    Upload,
    parse_json_object,
)
from ffpipe.server.jobs.settings import JobSettings
from ffpipe.server.jobs.store import JobRecord

PREFIX = "/api/jobs"

_REQUEST_OVERHEAD_BYTES = 1_000_000


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
        body = parse_json_object(await _read_body(request, limit), "request body")
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
                params = parse_json_object(value, "params")
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


class _CatalogErrorRoute(APIRoute):
    """A route that answers a :class:`~ffpipe.server.errors.RequestError` (its own or its
    dependencies') in the catalog's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestError as error:
                return error_response(error)

        return answer


class JobRoutes:
    """The route handlers of ``/api/jobs``, over one job service."""

    def __init__(self, service: JobService, settings: JobSettings) -> None:
        self.service = service
        self.settings = settings

    def check_token(self, request: Request) -> None:
        """Refuse a request without the job API's bearer token, when it has one."""
        if self.settings.token is None:
            return
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given, f"Bearer {self.settings.token}"):
            raise RequestError(401, "unauthorized", "send Authorization: Bearer <token>")

    def caller(self, request: Request) -> Caller:
        """The user the auth gate let through; none on a server without users."""
        user = getattr(request.state, "ffpipe_user", None)
        return Caller(user, user in self.settings.admins) if user is not None else ANYONE

    async def submit_job(self, request: Request) -> Response:
        limit = self.settings.max_upload_bytes
        op, params, uploads, options = await _submission(request, limit)
        status = await run_in_threadpool(
            self.service.submit, op, params, uploads, options, self.caller(request)
        )
        return JSONResponse(status.model_dump(mode="json"), status_code=202)

    async def list_jobs(self, request: Request) -> Response:
        query = request.query_params
        limit_text = query.get("limit", "100")
        if not limit_text.isdigit():
            raise InvalidRequest("invalid limit", "limit must be a whole number")
        jobs = await run_in_threadpool(
            self.service.list,
            query.get("status"),
            query.get("op"),
            int(limit_text),
            self.caller(request),
        )
        return JSONResponse({"jobs": jobs})

    def _record(self, request: Request, job_id: str) -> JobRecord:
        """The job ``job_id`` of the caller; ``?owner=NAME`` picks one user's (for admins)."""
        return self.service.record(job_id, self.caller(request), request.query_params.get("owner"))

    async def job_status(self, request: Request, job_id: str) -> Response:
        status = await run_in_threadpool(
            lambda: self.service.status_document(
                self._record(request, job_id), self.caller(request)
            )
        )
        return JSONResponse(status.model_dump(mode="json"))

    async def job_result(self, request: Request, job_id: str) -> Response:
        record = await run_in_threadpool(self._record, request, job_id)
        files = await run_in_threadpool(self.service.result_files, record)
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

    async def job_result_file(self, request: Request, job_id: str, name: str) -> Response:
        record = await run_in_threadpool(self._record, request, job_id)
        files = await run_in_threadpool(self.service.result_files, record)
        if name not in files:
            raise NotFound("no such output", f"job {job_id!r} has outputs {sorted(files)}")
        headers = {ARCHIVE_HEADER: "zip"} if files[name].parent.name == ARCHIVES_FOLDER else {}
        return FileResponse(files[name], filename=files[name].name, headers=headers)

    async def cancel_job(self, request: Request, job_id: str) -> Response:
        status = await run_in_threadpool(
            self.service.cancel,
            job_id,
            self.caller(request),
            request.query_params.get("owner"),
        )
        return JSONResponse(status.model_dump(mode="json"))

    async def no_such_route(self, request: Request, rest: str) -> Response:
        raise NotFound(
            "no such route",
            f"{request.method} {request.url.path}; see GET/POST {PREFIX}, GET {PREFIX}/ID,"
            f" GET {PREFIX}/ID/result, POST {PREFIX}/ID/cancel",
        )


def jobs_router(service: JobService, settings: JobSettings) -> APIRouter:
    """The ``/api/jobs`` routes over ``service``, for ``app.include_router``."""
    routes = JobRoutes(service, settings)
    router = APIRouter(route_class=_CatalogErrorRoute, dependencies=[Depends(routes.check_token)])
    router.add_api_route(PREFIX, routes.submit_job, methods=["POST"])
    router.add_api_route(PREFIX, routes.list_jobs, methods=["GET"])
    router.add_api_route(PREFIX + "/{job_id}", routes.job_status, methods=["GET"])
    router.add_api_route(PREFIX + "/{job_id}/result", routes.job_result, methods=["GET"])
    router.add_api_route(
        PREFIX + "/{job_id}/result/{name}", routes.job_result_file, methods=["GET"]
    )
    router.add_api_route(PREFIX + "/{job_id}/cancel", routes.cancel_job, methods=["POST"])
    router.add_api_route(
        PREFIX + "/{rest:path}", routes.no_such_route, methods=["GET", "POST", "PUT", "DELETE"]
    )
    return router
