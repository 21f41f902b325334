"""The job service as gradio endpoints (after ``capabilities`` in fn_index order).

``submit_job``, ``job_status`` and ``cancel_job`` answer the catalog's Job Status Response. Files
arrive as gradio files and pass the same path check as every op endpoint before the job service
copies them.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.data_classes import FileData

from ffpipe.server.execute import RequestError
from ffpipe.server.files import FileRejected, incoming_path
from ffpipe.server.http.guards import status_title
from ffpipe.server.jobs.service import ANYONE, Caller, JobService
from ffpipe.server.protocols.rest_jobs import gradio_endpoints

JOB_ENDPOINTS = ("submit_job", "job_status", "cancel_job")
_FILE_PARAMETERS = ("target_media", "source_face")


def _error(error: str, detail: str, status: int) -> gr.Error:
    return gr.Error(
        json.dumps({"error": error, "detail": detail}),
        title=status_title(status),
        print_exception=False,
    )


def _guarded(function: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return function(*args, **kwargs)
        except RequestError as failure:
            raise _error(failure.error, failure.detail, failure.status) from None

    return call


def caller_of(request: gr.Request | None, admins: frozenset[str]) -> Caller:
    """Who calls: the user the auth gate let through (gradio hands it over as ``username``)."""
    user = getattr(request, "username", None)
    return Caller(user, user in admins) if user is not None else ANYONE


def _submit_endpoint(
    submit: Callable[..., dict[str, Any]], roots: Sequence[Path], admins: frozenset[str]
) -> Callable[..., dict[str, Any]]:
    def submit_job(
        op: str,
        params_json: str = "{}",
        target_media: FileData | None = None,
        source_face: FileData | None = None,
        job_id: str | None = None,
        priority: int = 5,
        callback_url: str | None = None,
        request: gr.Request | None = None,
    ) -> dict[str, Any]:
        """Queue an op (or a ``process`` chain) as a durable job; returns its status."""
        given = {"target_media": target_media, "source_face": source_face}
        paths: dict[str, str | None] = {}
        for name in _FILE_PARAMETERS:
            value = given[name]
            if value is None:
                paths[name] = None
                continue
            document = value.model_dump() if isinstance(value, FileData) else value
            try:
                paths[name] = str(incoming_path(name, document, roots))
            except FileRejected as rejected:
                raise _error("file not allowed", str(rejected), 403) from None
        return submit(
            op,
            params_json,
            job_id=job_id,
            priority=priority,
            callback_url=callback_url,
            caller=caller_of(request, admins),
            **paths,
        )

    # gradio reads the annotations to know which parameters are files; give it real types.
    submit_job.__annotations__ = {
        "op": str,
        "params_json": str,
        "target_media": FileData | None,
        "source_face": FileData | None,
        "job_id": str | None,
        "priority": int,
        "callback_url": str | None,
        "request": gr.Request,
        "return": dict,
    }
    return submit_job


def register_job_endpoints(service: JobService, roots: Sequence[Path]) -> None:
    """Add the job endpoints to the gradio Blocks being built (call inside its context)."""
    functions = gradio_endpoints(service)
    admins = service.settings.admins
    gr.api(
        _guarded(_submit_endpoint(functions["submit_job"], roots, admins)),
        api_name="submit_job",
        api_description="Queue an op as a durable job (job_id optional, priority 1-10, "
        "callback_url); returns the Job Status Response.",
    )
    for name in ("job_status", "cancel_job"):
        function = functions[name]

        def endpoint(
            job_id: str,
            request: gr.Request | None = None,
            _function: Callable[..., dict[str, Any]] = function,
        ) -> dict:
            return _function(job_id, caller=caller_of(request, admins))

        endpoint.__name__ = name
        endpoint.__annotations__ = {"job_id": str, "request": gr.Request, "return": dict}
        keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
        endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [
                inspect.Parameter("job_id", keyword, annotation=str),
                inspect.Parameter("request", keyword, annotation=gr.Request, default=None),
            ],
            return_annotation=dict,
        )
        gr.api(_guarded(endpoint), api_name=name, queue=False)
