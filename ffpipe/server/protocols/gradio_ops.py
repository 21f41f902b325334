"""The gradio app: one named API endpoint per op, in the catalog's fn_index order.

fn_index 0 = swap, 1 = enhance, 2 = edit, then detect, video, extract_frames, process,
capabilities, submit_job, job_status and cancel_job. Parameters carry the catalog's names and are
callable by keyword. Each op endpoint returns three values: the primary output file, the result
document (with a ``ffpipe_files`` manifest saying which file is which and which are zipped
directories), and a list of any further files.

Files must be sent as files: with gradio_client 2.x that is ``handle_file(path)``. The catalog's
example passes plain paths; gradio_client sends a plain string as it is, without uploading it, so
the server answers "file not allowed" with that advice (it never reads a path a caller names).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.data_classes import FileData

from ffpipe.catalog import op_spec
from ffpipe.engine.api import Engine
from ffpipe.server.errors import RequestError
from ffpipe.server.execute import (
    CAPABILITIES_ENDPOINT,
    ENDPOINT_ORDER,
    Outcome,
    execute,
    parameter_order,
)
from ffpipe.server.files import referenced_files
from ffpipe.server.in_use import InUse, PathSource
from ffpipe.server.jobs.service import JobService
from ffpipe.server.protocols.gradio_errors import gradio_error
from ffpipe.server.protocols.gradio_jobs import register_job_endpoints
from ffpipe.server.protocols.signatures import endpoint_parameters
from ffpipe.server.settings import ServerSettings

EndpointFn = Callable[..., Any]


def file_data(path: Path) -> dict[str, Any]:
    """A gradio FileData document for a server file (gradio copies it into its cache)."""
    return {"path": str(path), "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}


def make_op_endpoint(
    op: str, engine: Engine, settings: ServerSettings, in_use: InUse
) -> EndpointFn:
    """The gradio function of ``op``, with a signature generated from the catalog model."""
    order = parameter_order(op)
    roots = [settings.upload_dir, settings.output_dir]

    def endpoint(*args: Any) -> Any:
        progress = args[-1] if args and isinstance(args[-1], gr.Progress) else None
        values = dict(zip(order, args[: len(order)], strict=False))

        def report(fraction: float, stage: str) -> None:
            if progress is not None:
                progress(fraction, desc=stage)

        try:
            with in_use.claim() as claim:
                outcome = execute(
                    engine,
                    op,
                    values,
                    roots=roots,
                    output_dir=settings.output_dir,
                    progress=report,
                    max_output_bytes=settings.max_output_bytes,
                    claim=claim,
                )
        except RequestError as error:
            raise gradio_error(error) from None
        return gradio_outputs(outcome)

    parameters = endpoint_parameters(op, order, FileData)
    returns = tuple[FileData, dict, list[FileData]]
    endpoint.__name__ = op
    endpoint.__qualname__ = op
    endpoint.__doc__ = op_spec(op).description
    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        parameters, return_annotation=returns
    )
    endpoint.__annotations__ = {
        **{parameter.name: parameter.annotation for parameter in parameters},
        "return": returns,
    }
    return endpoint


def _track_progress(blocks: gr.Blocks, api_name: str, endpoint: EndpointFn) -> None:
    # gr.api cannot take a gr.Progress parameter (it would become an API input), so the
    # parameter is added to the signature after registration; gradio then passes a Progress
    # as the last positional argument and reports its updates to the caller's job.status().
    signature = inspect.signature(endpoint)
    progress = inspect.Parameter(
        "progress", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=gr.Progress()
    )
    endpoint.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), progress]
    )
    for block_fn in blocks.fns.values():
        if block_fn.api_name == api_name:
            block_fn.tracks_progress = True


def gradio_outputs(outcome: Outcome) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
    """The three endpoint outputs of one request."""
    keys = outcome.ordered_keys()
    primary, *extras = (outcome.files[key] for key in keys)
    return (
        file_data(primary),
        outcome.result_with_manifest(),
        [file_data(path) for path in extras],
    )


def queued_files(blocks: gr.Blocks, roots: Sequence[Path]) -> PathSource:
    """The server files of every request gradio's queue holds, waiting or running: gradio drops
    a request only once it has answered it, or its caller went away while it waited.

    gradio runs its queue itself and has no hook for a request's end, so its own table of the
    requests it holds is read (checked by :func:`build_blocks`, which refuses to build on a
    gradio that keeps it differently rather than let retention delete queued inputs).
    """

    def files() -> list[Path]:
        events = list(blocks._queue.event_ids_to_events.values())
        return referenced_files([getattr(event.data, "data", None) for event in events], roots)

    return files


def _check_queue_table(blocks: gr.Blocks) -> None:
    table = getattr(getattr(blocks, "_queue", None), "event_ids_to_events", None)
    if not isinstance(table, dict):
        raise RuntimeError(
            f"gradio {gr.__version__} keeps its queue differently from the versions ffpipe "
            "knows: retention could not see which uploads queued requests still need"
        )


def build_blocks(
    engine: Engine,
    settings: ServerSettings,
    capabilities: Callable[[], dict[str, Any]],
    jobs: JobService,
    in_use: InUse,
) -> gr.Blocks:
    """The headless gradio app: every op endpoint, ``capabilities``, then the job endpoints.

    Retention leaves alone the files of every request in its queue (``in_use`` watches it)."""
    with gr.Blocks(title="ffpipe serve", analytics_enabled=False) as blocks:
        for op in ENDPOINT_ORDER:
            endpoint = make_op_endpoint(op, engine, settings, in_use)
            gr.api(endpoint, api_name=op, api_description=op_spec(op).description)
            _track_progress(blocks, op, endpoint)

        def capabilities_endpoint() -> dict:
            return capabilities()

        gr.api(
            capabilities_endpoint,
            api_name=CAPABILITIES_ENDPOINT,
            api_description="Engine, version, ops, models (exact or substituted), encoders, "
            "devices and limits of this server.",
            queue=False,
        )
        register_job_endpoints(jobs, [settings.upload_dir, settings.output_dir])
    blocks.queue(default_concurrency_limit=settings.concurrency, max_size=settings.queue_size)
    _check_queue_table(blocks)
    in_use.watch(queued_files(blocks, [settings.upload_dir, settings.output_dir]))
    return blocks
