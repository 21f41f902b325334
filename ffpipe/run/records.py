"""Run records: ``<workspace>/runs/<id>/events.jsonl`` as the run goes, ``run.json`` at the end."""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ffpipe.run.events import Event
from ffpipe.run.provenance import git_state
from ffpipe.run.statuses import StepStatus

if TYPE_CHECKING:
    from ffpipe.backends.base import BackendIdentity
    from ffpipe.pipeline.instance import LoadedPipeline, StepInstance
    from ffpipe.run.outcome import StepOutcome


def new_run_id() -> str:
    """A sortable, unique run id: UTC time and a random suffix."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def write_json_atomically(path: Path, document: Any) -> None:
    """Write ``document`` as JSON next to ``path`` and rename it over ``path``."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, path)


class RunRecorder:
    """Appends every event to the run's events file and writes its run.json."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._events = (folder / "events.jsonl").open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._events.write(json.dumps(event.to_dict()) + "\n")
            self._events.flush()

    def finish(self, record: dict[str, Any]) -> Path:
        """Write run.json and close the events file; returns run.json's path."""
        with self._lock:
            self._events.close()
        path = self.folder / "run.json"
        write_json_atomically(path, record)
        return path


def run_record(
    *,
    run_id: str,
    pipeline: LoadedPipeline,
    identity: BackendIdentity,
    status: str,
    started: float,
    duration: float,
    jobs: int,
    outcomes: Mapping[str, StepOutcome],
    outputs: Mapping[str, Path],
) -> dict[str, Any]:
    """The run.json document: what ran, what was reused and why, with each step's warnings."""
    backend = {
        "kind": identity.kind,
        "engine": identity.engine,
        "engine_version": identity.engine_version,
        "server": identity.server,
    }
    steps = {
        node: {
            "status": outcome.status,
            "cached": outcome.status == StepStatus.CACHED,
            "why": list(outcome.reasons),
            "key": outcome.key,
            "duration": round(outcome.duration, 6),
            "backend": backend,
            "substitutions": outcome.result.get("substitutions", []),
            "provenance": outcome.result.get("provenance"),
            "warnings": outcome.warnings,
            "outputs": outcome.outputs,
            "error": outcome.error,
            "fused_into": outcome.fused_into,
            "fused": list(outcome.group),
            "job_id": outcome.job_id,
            "worker": outcome.worker,
            **_instance_fields(pipeline, node, outcome),
        }
        for node, outcome in outcomes.items()
    }
    return {
        "run_id": run_id,
        "pipeline": pipeline.name,
        "file": str(pipeline.path),
        "git": git_state(pipeline.path.parent),
        "pipeline_digest": pipeline.digest,
        "params": dict(pipeline.params),
        "status": status,
        "started": started,
        "duration": round(duration, 6),
        "backend": backend,
        "jobs": jobs,
        "steps": steps,
        "outputs": {name: str(path) for name, path in outputs.items()},
        "matrix_axes": _matrix_axes(pipeline, outcomes),
        "step_order": [node for node in pipeline.instances if node in outcomes],
    }


def _instance_fields(pipeline: LoadedPipeline, node: str, outcome: StepOutcome) -> dict[str, Any]:
    """What the run's report draws of a step: its op, place in the DAG, parameters and files."""
    instance = pipeline.instances.get(node)
    if instance is None:
        return {}
    return {
        "op": instance.op,
        "step": instance.step,
        "matrix": dict(instance.matrix),
        "needs": sorted(instance.needs),
        "params": outcome.params,
        "written": written_values(instance),
        "at_default": at_default(instance),
        "inputs": {
            name: {"path": outcome.input_paths.get(name), "digest": digest}
            for name, digest in outcome.inputs.items()
        },
        "file_names": outcome.file_names,
        "faces_found": outcome.result.get("faces_found"),
        "faces_processed": outcome.result.get("faces_processed"),
    }


def written_values(instance: StepInstance) -> dict[str, Any]:
    """The step's parameters as the pipeline wrote them (matrix values filled in): a value
    taken from another step stays the reference, ``steps.swap.output``, not the file it was."""
    # Imported here: the no-op fast path imports this module and must not load the pipeline
    # language or the catalog.
    from ffpipe.pipeline.instance import Deferred

    return {
        name: _reference(value.source) if isinstance(value, Deferred) else value
        for name, value in instance.params.items()
    }


def at_default(instance: StepInstance) -> list[str]:
    """The parameters written with the op's default value (the report marks them)."""
    from ffpipe.catalog import OPS
    from ffpipe.pipeline.instance import Deferred

    spec = OPS.get(instance.op)
    if spec is None:
        return []
    fields = spec.params.model_fields
    same = []
    for name, value in instance.params.items():
        if name in fields and not isinstance(value, Deferred):
            default = fields[name].get_default(call_default_factory=True)
            if default is not None and value == default and type(value) is type(default):
                same.append(name)
    return sorted(same)


def _reference(source: str) -> str:
    """``steps.swap.output`` of ``"{{ steps.swap.output }}"``; other templates as written."""
    inner = source.strip()
    if inner.startswith("{{") and inner.endswith("}}") and inner.count("{{") == 1:
        return inner[2:-2].strip()
    return source


def _matrix_axes(pipeline: LoadedPipeline, outcomes: Mapping[str, StepOutcome]) -> list[str]:
    """The matrix's axis names in the order the pipeline file gives them."""
    axes: list[str] = []
    for node in outcomes:
        instance = pipeline.instances.get(node)
        for axis in instance.matrix if instance is not None else ():
            if axis not in axes:
                axes.append(axis)
    return axes
