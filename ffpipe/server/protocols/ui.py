"""The browser UI of ``ffpipe serve`` at ``/``: a tab per op and a jobs tab, generated from the
catalog models like the API endpoints.

Every UI event is registered after the API endpoints and is private (``api_visibility``), so the
API keeps its ``fn_index`` order and names, and the API listing does not show the UI. A run goes
through :func:`~ffpipe.server.execute.execute` and a job through the job service, exactly as the
API's requests do, so the same mistake gets the same catalog error text. Auth and the upload size
limit are enforced in front of every route (:mod:`ffpipe.server.http.auth`, gradio's upload limit),
so they cover the UI too.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import gradio as gr
from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from ffpipe import media
from ffpipe.catalog import OPS, op_spec
from ffpipe.engine.api import Engine
from ffpipe.server.errors import INVALID_STATUS, RequestError
from ffpipe.server.execute import (
    ENDPOINT_ORDER,
    describe_errors,
    execute,
    parameter_order,
    value_errors,
)
from ffpipe.server.http.guards import ValuesCheck, check_values_with
from ffpipe.server.in_use import InUse
from ffpipe.server.jobs.service import Caller, JobService
from ffpipe.server.protocols.gradio_jobs import caller_of, submit_paths
from ffpipe.server.protocols.ui_widgets import ParamWidget, make_widget
from ffpipe.server.settings import ServerSettings

PRIVATE = "private"
JOB_COLUMNS = ["job_id", "op", "status", "progress", "ETA (s)", "result"]
JOBS_REFRESH_SECONDS = 1.0
FOCUS = {
    "swap": "face_swapper_model",
    "enhance": "face_enhancer_model",
    "edit": "face_editor_age",
    "detect": "face_detector_model",
    "video": "output_video_encoder",
    "extract_frames": "extract_frame_format",
    "process": "processors",
}
"""The parameter people open an op's tab for: its group starts open, with the first group;
the other groups start folded."""


def _group_of(op: str, name: str) -> str:
    """The catalog group that declares ``name`` (its model class's docstring)."""
    for cls in reversed(OPS[op].params.__mro__):
        if name in getattr(cls, "__annotations__", {}) and cls.__doc__:
            return cls.__doc__.strip().splitlines()[0].rstrip(".")
    return "Parameters"


def _signed(
    function: Callable[..., Any], widgets: Sequence[ParamWidget], check: ValuesCheck
) -> Callable[..., Any]:
    """Give ``function(*values, progress, request)`` one named parameter per widget, its
    default the widget's (gradio and the server's endpoint guard read the signature: a raw call
    sending only the first values gets the defaults the page shows), then gradio's progress
    tracker and the request (whose ``username`` says whose jobs these are). The guard refuses
    the values ``check`` refuses before gradio sees them."""
    keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
    parameters = [
        inspect.Parameter(widget.name, keyword, default=widget.component.value)
        for widget in widgets
    ]
    parameters.append(inspect.Parameter("progress", keyword, default=gr.Progress()))
    parameters.append(inspect.Parameter("request", keyword, annotation=gr.Request, default=None))

    def call(*args: Any) -> Any:
        return function(*args)

    call.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    call.__annotations__ = {"request": gr.Request}
    check_values_with(call, check)
    return call


def _escaped(text: str) -> str:
    """``text`` shown as it is by gradio's Markdown (a pattern's brackets and stars included)."""
    return "".join("\\" + char if char in _MARKDOWN_SPECIAL else char for char in text)


_MARKDOWN_SPECIAL = frozenset("\\`*_{}[]()#+!|<>~^$")


def _error_text(error: RequestError) -> str:
    return f"**{_escaped(error.error)}**: {_escaped(error.detail)}"


class _OpTab:
    """One op's tab: its widgets, a run button, a job button and the result panes."""

    def __init__(
        self,
        op: str,
        engine: Engine,
        settings: ServerSettings,
        submit_job: Callable[..., dict[str, Any]],
        models: dict[str, Any],
        in_use: InUse,
    ) -> None:
        self.op = op
        self.engine = engine
        self.settings = settings
        self.in_use = in_use
        self.submit_job = submit_job
        self.widgets: list[ParamWidget] = []
        self._build(models)

    def _build(self, models: dict[str, Any]) -> None:
        op = self.op
        gr.Markdown(op_spec(op).description)
        with gr.Row():
            with gr.Column(scale=3):
                self._inputs(models)
                with gr.Row():
                    run = gr.Button(f"Run {op}", variant="primary", elem_id=f"run-{op}")
                    job = gr.Button("Submit as job", elem_id=f"job-{op}")
            with gr.Column(scale=2):
                error = gr.Markdown(elem_id=f"error-{op}", elem_classes=["ffpipe-error"])
                image = gr.Image(
                    label="result", type="filepath", interactive=False, elem_id=f"image-{op}"
                )
                video = gr.Video(
                    label="result video", interactive=False, visible=False, elem_id=f"video-{op}"
                )
                files = gr.File(label="files", file_count="multiple", elem_id=f"files-{op}")
                document = gr.JSON(label="result document", elem_id=f"result-{op}")
        inputs = [widget.component for widget in self.widgets]
        run.click(
            _signed(self.run, self.widgets, self.check),
            inputs=inputs,
            outputs=[error, image, video, files, document],
            api_visibility=PRIVATE,
        )
        job.click(
            _signed(self.submit, self.widgets, self.check),
            inputs=inputs,
            outputs=[error],
            api_visibility=PRIVATE,
            queue=False,
        )

    def _inputs(self, models: dict[str, Any]) -> None:
        order = parameter_order(self.op)
        files = [name for name in order if name in OPS[self.op].file_fields]
        with gr.Row():
            for name in files:
                self.widgets.append(make_widget(self.op, name, models))
        groups: dict[str, list[str]] = {}
        for name in order:
            if name not in files:
                groups.setdefault(_group_of(self.op, name), []).append(name)
        for index, (group, names) in enumerate(groups.items()):
            with gr.Accordion(group, open=index == 0 or FOCUS.get(self.op) in names):
                for name in names:
                    self.widgets.append(make_widget(self.op, name, models))

    def check(self, raw: Mapping[str, Any]) -> None:
        """Refuse a widget value (by parameter name) its widget cannot take, in the catalog's
        words: a slider, number, checkbox or dropdown takes what the catalog model takes, as it
        is (gradio's components trip over anything else: ``null``, a number in a string); a
        text box takes text (what the text says is for the run to judge, as typed in the page).
        File boxes are the guard's (:func:`~ffpipe.server.http.guards.file_refusal`)."""
        values, texts = {}, {}
        for widget in self.widgets:
            if widget.name not in raw or _unset(widget, raw[widget.name]):
                continue
            if widget.kind == "value":
                values[widget.name] = raw[widget.name]
            elif widget.kind in ("text", "json"):
                texts[widget.name] = raw[widget.name]
        errors = value_errors(self.op, values) + _text_errors(texts)
        if errors:
            raise RequestError(INVALID_STATUS, "invalid parameters", describe_errors(errors))

    def _values(self, raw: Sequence[Any]) -> dict[str, Any]:
        """Parameter values of the widgets' values; ValueError for a text that is not JSON."""
        values = {}
        for widget, value in zip(self.widgets, raw, strict=False):
            converted = widget.value_of(value)
            if converted is not None:
                values[widget.name] = converted
        return values

    def run(self, *args: Any) -> tuple[Any, ...]:
        progress = args[len(self.widgets)] if len(args) > len(self.widgets) else None
        raw = args[: len(self.widgets)]

        def report(fraction: float, stage: str) -> None:
            if progress is not None:
                progress(fraction, desc=stage)

        try:
            values = self._values(raw)
            with self.in_use.claim() as claim:
                outcome = execute(
                    self.engine,
                    self.op,
                    values,
                    roots=[self.settings.upload_dir, self.settings.output_dir],
                    output_dir=self.settings.output_dir,
                    progress=report,
                    max_output_bytes=self.settings.max_output_bytes,
                    claim=claim,
                )
        except ValueError as error:
            return _failed(f"**invalid parameters**: {_escaped(str(error))}")
        except RequestError as error:
            return _failed(_error_text(error))
        primary = outcome.files[outcome.ordered_keys()[0]]
        kind = media.sniff_file(primary) if primary.is_file() else None
        image = str(primary) if kind is not None and kind.kind == "image" else None
        video = str(primary) if kind is not None and kind.kind == "video" else None
        files = [str(outcome.files[key]) for key in outcome.ordered_keys()]
        return (
            "",
            gr.update(value=image, visible=image is not None),
            gr.update(value=video, visible=video is not None),
            files,
            outcome.result,
        )

    def submit(self, *args: Any) -> str:
        raw = args[: len(self.widgets)]
        request = args[len(self.widgets) + 1] if len(args) > len(self.widgets) + 1 else None
        try:
            values = self._values(raw)
        except ValueError as error:
            return f"**invalid parameters**: {_escaped(str(error))}"
        paths = {
            name: values.pop(name)["path"]
            for name in ("target_media", "source_face")
            if isinstance(values.get(name), dict)
        }
        try:
            caller = caller_of(request, self.settings.admins)
            status = self.submit_job(self.op, json.dumps(values), **paths, caller=caller)
        except RequestError as error:
            return _error_text(error)
        return f"submitted job `{status['job_id']}` ({status['status']}): see the jobs tab"


def _unset(widget: ParamWidget, raw: Any) -> bool:
    """Whether ``raw`` is the widget left unset, as the page sends it: an optional multiselect
    left empty, a number box cleared (the page sends null), or null where the widget starts
    out null (a parameter with no default): the run then takes the parameter's default or
    says it needs one. A slider, checkbox or dropdown is never null in the page."""
    if raw == [] and widget.optional:
        return True
    return raw is None and (
        isinstance(widget.component, gr.Number) or widget.component.value is None
    )


_TEXTS = TypeAdapter(dict[str, str | None])


def _text_errors(texts: Mapping[str, Any]) -> list[ErrorDetails]:
    """pydantic's errors for the values of ``texts`` that are no text (nor ``None``)."""
    try:
        _TEXTS.validate_python(texts, strict=True)
    except ValidationError as error:
        return error.errors(include_url=False)
    return []


def _failed(message: str) -> tuple[Any, ...]:
    """The result panes of a refused request: the message, nothing else."""
    return (message, gr.update(value=None), gr.update(value=None), None, None)


def _job_rows(service: JobService, caller: Caller) -> list[list[Any]]:
    rows = []
    for job in service.list(limit=50, caller=caller):
        result = job.get("result") or {}
        if job["status"] == "completed":
            base = f"/api/jobs/{quote(job['job_id'])}/result"
            whose = caller.owner_query(job["owner"])
            shown = " ".join(
                f"[{_escaped(name)}]({base}/{quote(name)}{whose})"
                for name in result.get("files", {})
            )
        elif job["status"] == "failed":
            # The cell is Markdown (for the links above): what a user wrote must stay text.
            error, detail = str(result.get("error", "failed")), str(result.get("detail", ""))
            shown = f"{_escaped(error)}: {_escaped(detail)}"
        else:
            shown = _escaped(str(job.get("stage") or ""))
        eta = job.get("estimated_time")
        rows.append(
            [
                job["job_id"],
                job["op"],
                job["status"],
                f"{float(job.get('progress') or 0.0):.0%}",
                "" if eta is None else eta,
                shown,
            ]
        )
    return rows


def _jobs_tab(service: JobService, admins: frozenset[str]) -> None:
    gr.Markdown("Jobs of this server, newest first; refreshed every second.")
    table = gr.Dataframe(
        headers=JOB_COLUMNS,
        datatype=["str", "str", "str", "str", "number", "markdown"],
        value=[],
        interactive=False,
        elem_id="jobs-table",
    )
    timer = gr.Timer(JOBS_REFRESH_SECONDS)

    def refresh(request: gr.Request) -> list[list[Any]]:
        # Each user sees their own jobs (an admin every job), as on the job endpoints.
        return _job_rows(service, caller_of(request, admins))

    timer.tick(refresh, outputs=[table], api_visibility=PRIVATE, queue=False)


def add_ui(
    blocks: gr.Blocks,
    engine: Engine,
    settings: ServerSettings,
    capabilities: Callable[[], dict[str, Any]],
    jobs: JobService,
    in_use: InUse,
) -> None:
    """Add the UI to ``blocks``, after its API endpoints (whose fn_index order stays as it is);
    its runs hold their files in ``in_use`` as the API's do."""
    models = capabilities().get("models") or {}
    submit_job = functools.partial(submit_paths, jobs)
    with blocks:
        gr.Markdown(
            f"# ffpipe serve\n{engine.name} engine {engine.version}: model names show whether "
            "the engine runs them or stands in for them. The same parameters as the API "
            "(`GET /api/capabilities`)."
        )
        with gr.Tabs():
            for op in ENDPOINT_ORDER:
                with gr.Tab(op, id=op, elem_id=f"tab-{op}"):
                    _OpTab(op, engine, settings, submit_job, dict(models), in_use)
            with gr.Tab("jobs", id="jobs", elem_id="tab-jobs"):
                _jobs_tab(jobs, settings.admins)


_CONFIG_KEY_HEADERS = (b"host", b"x-forwarded-host", b"x-forwarded-proto", b"x-forwarded-port")
_CACHED_PATHS = frozenset({"/config", "/gradio_api/info"})


class ConfigCache:
    """ASGI middleware: ``GET /config`` and ``GET /gradio_api/info`` answered from the bytes of
    their first answer.

    The UI makes the app's config about three times larger, and gradio deep-copies and walks it
    (and builds the API description from it) on every request: every
    ``gradio_client.Client(url)`` fetches both, so a burst of new clients would queue behind the
    copying. Neither changes once the server runs; only the root URL (from the request's host
    headers) and the user differ, so those are the key. Calls with a query (gradio's deep links,
    pages, ``all_endpoints``) are passed on as they are.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self._answers: dict[tuple[Any, ...], tuple[dict[str, Any], bytes]] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") != "GET"
            or scope["path"] not in _CACHED_PATHS
            or scope.get("query_string")
        ):
            await self.app(scope, receive, send)
            return
        key = self._key(scope)
        kept = self._answers.get(key)
        if kept is None:
            kept = await self._answer(scope, receive, send)
            if kept is not None:
                self._answers[key] = kept
            return
        start, body = kept
        await send(start)
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _key(scope: Any) -> tuple[Any, ...]:
        headers = tuple(
            (name, value) for name, value in scope.get("headers", []) if name in _CONFIG_KEY_HEADERS
        )
        user = scope.get("state", {}).get("ffpipe_user")
        return (
            scope["path"],
            scope.get("scheme"),
            scope.get("root_path"),
            user,
            tuple(sorted(headers)),
        )

    async def _answer(
        self, scope: Any, receive: Any, send: Any
    ) -> tuple[dict[str, Any], bytes] | None:
        """Pass the request on, sending the answer as it comes; return it when it can be kept."""
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def keep(message: Any) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, keep)
        if start.get("status") != 200:
            return None
        return start, b"".join(chunks)
