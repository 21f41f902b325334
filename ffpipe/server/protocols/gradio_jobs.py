"""The job service as gradio endpoints (after ``capabilities`` in fn_index order).

``submit_job``, ``job_status`` and ``cancel_job`` answer the catalog's Job Status Response. Files
arrive as gradio files and pass the same path check as every op endpoint before the job service
copies them.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.data_classes import FileData

from ffpipe.server.errors import RequestError
from ffpipe.server.files import FileRejected, incoming_path
from ffpipe.server.jobs.service import ANYONE, Caller, JobService, Upload, parse_json_object
from ffpipe.server.protocols.gradio_errors import gradio_error

JOB_ENDPOINTS = ("submit_job", "job_status", "cancel_job")
_FILE_PARAMETERS = ("target_media", "source_face")


def _guarded(function: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return function(*args, **kwargs)
        except RequestError as failure:
            raise gradio_error(failure) from None

    return call


def submit_paths(
    service: JobService,
    op: str,
    params_json: str = "{}",
    target_media: str | None = None,
    source_face: str | None = None,
    job_id: str | None = None,
    priority: int = 5,
    callback_url: str | None = None,
    caller: Caller = ANYONE,
) -> dict[str, Any]:
    """Submit a job whose files are server files (paths as gradio hands them over, or None).

    Returns the Job Status Response as a dict; a refused submission raises
    :class:`~ffpipe.server.errors.RequestError`.
    """
    uploads = {
        name: Upload(Path(path).name, Path(path))
        for name, path in (("target_media", target_media), ("source_face", source_face))
        if path
    }
    options = {"job_id": job_id or None, "priority": priority, "callback_url": callback_url}
    params = parse_json_object(params_json or "{}", "params")
    return service.submit(op, params, uploads, options, caller).model_dump(mode="json")


def caller_of(request: gr.Request | None, admins: frozenset[str]) -> Caller:
    """Who calls: the user the auth gate let through (gradio hands it over as ``username``)."""
    user = getattr(request, "username", None)
    return Caller(user, user in admins) if user is not None else ANYONE


def _submit_endpoint(
    service: JobService, roots: Sequence[Path], admins: frozenset[str]
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
                raise RequestError(403, "file not allowed", str(rejected)) from None
        return submit_paths(
            service,
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
    admins = service.settings.admins
    gr.api(
        _guarded(_submit_endpoint(service, roots, admins)),
        api_name="submit_job",
        api_description="Queue an op as a durable job (job_id optional, priority 1-10, "
        "callback_url); returns the Job Status Response.",
    )
    answers: dict[str, Callable[[str, Caller, str | None], Any]] = {
        "job_status": service.status,
        "cancel_job": service.cancel,
    }
    for name, answer in answers.items():

        def endpoint(
            job_id: str,
            owner: str | None = None,
            request: gr.Request | None = None,
            _answer: Callable[[str, Caller, str | None], Any] = answer,
        ) -> dict:
            caller = caller_of(request, admins)
            return _answer(job_id, caller, owner).model_dump(mode="json")

        endpoint.__name__ = name
        endpoint.__annotations__ = {
            "job_id": str,
            "owner": str | None,
            "request": gr.Request,
            "return": dict,
        }
        keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
        endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [
                inspect.Parameter("job_id", keyword, annotation=str),
                # Ids are unique per owner: an admin names whose job (empty: a job without one).
                inspect.Parameter("owner", keyword, annotation=str | None, default=None),
                inspect.Parameter("request", keyword, annotation=gr.Request, default=None),
            ],
            return_annotation=dict,
        )
        gr.api(_guarded(endpoint), api_name=name, queue=False)
