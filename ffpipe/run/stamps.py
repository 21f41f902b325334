"""What a completed run leaves for the no-op fast path (:mod:`ffpipe.run.noop`) to replay.

Built by the runner at the end of a successful full run; None when a later run could not be
answered from it: URL inputs (their content may change), globs (a new file may match),
``cache: false`` steps (they always run) or folder outputs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ffpipe.run.noop import signature
from ffpipe.run.planner import fused_into
from ffpipe.run.records import run_record
from ffpipe.run.statuses import RunStatus, StepStatus

if TYPE_CHECKING:
    from ffpipe.backends.base import BackendIdentity
    from ffpipe.cache.workspace import Workspace
    from ffpipe.pipeline.instance import LoadedPipeline
    from ffpipe.run.outcome import StepOutcome


def replayable(pipeline: LoadedPipeline, selected: Sequence[str], downloads: int) -> bool:
    """Whether nothing outside the stamp's files could change this pipeline's decisions."""
    if downloads or any(isinstance(value, list) for value in pipeline.inputs.values()):
        return False
    return all(pipeline.instances[node].cache for node in selected)


def run_stamp(
    *,
    pipeline: LoadedPipeline,
    identity: BackendIdentity,
    workspace: Workspace,
    selected: Sequence[str],
    outcomes: Mapping[str, StepOutcome],
    files_read: Mapping[str, tuple[int, int, int]],
    outputs: Mapping[str, Path],
    lock: Path | None,
    jobs: int,
    run_id: str,
) -> dict[str, Any] | None:
    """The stamp of a successful run: what to check, and the events and record to replay."""
    cached = {node: _as_cached(outcome) for node, outcome in outcomes.items()}
    reused = [o for o in cached.values() if o.status == StepStatus.CACHED]
    digests = {digest for outcome in reused for digest in outcome.outputs.values()}
    if any(digest.startswith("tree:") for digest in digests):
        return None
    objects = {}
    for digest in sorted(digests):
        path = Path(os.path.abspath(workspace.objects.path(digest)))
        objects[str(path)] = path.stat().st_size
    written = [*outputs.values(), *([lock] if lock is not None else [])]
    if any(path.is_dir() for path in written):
        return None
    label = f"{identity.kind} ({identity.engine} {identity.engine_version})"
    record = run_record(
        run_id=run_id,
        pipeline=pipeline,
        identity=identity,
        status=RunStatus.OK,
        started=0.0,
        duration=0.0,
        jobs=jobs,
        outcomes=cached,
        outputs=outputs,
    )
    return {
        "run_id": run_id,
        "files": {path: list(info) for path, info in sorted(files_read.items())},
        "objects": objects,
        "keys": sorted({o.key for o in cached.values() if o.key and o.status == StepStatus.CACHED}),
        "written": {str(Path(os.path.abspath(p))): signature(p) for p in written},
        "start": {
            "pipeline": pipeline.name,
            "steps": len({pipeline.instances[node].step for node in selected}),
            "instances": len(selected),
            "jobs": jobs,
            "backend": label,
        },
        "events": _events(selected, cached),
        "done": {
            "ran": 0,
            "cached": sum(o.status == StepStatus.CACHED for o in cached.values()),
            "failed": 0,
            "skipped": sum(o.status != "cached" for o in cached.values()),
            "outputs": {name: str(path) for name, path in outputs.items()},
        },
        "record": record,
    }


def _as_cached(outcome: StepOutcome) -> StepOutcome:
    """How the next run, with nothing changed, will see a step that ran or was cached."""
    if outcome.status not in ("ran", "cached"):
        return outcome
    reasons = (fused_into(outcome.fused_into),) if outcome.fused_into else ()
    return replace(outcome, status=StepStatus.CACHED, reasons=reasons, duration=0.0, job_id=None)


def _events(selected: Sequence[str], outcomes: Mapping[str, StepOutcome]) -> list[Any]:
    """The events of a run where every step is cached: one per group, at its first member."""
    events: list[Any] = []
    for node in selected:
        outcome = outcomes[node]
        if outcome.status != "cached":
            events.append(["step_skipped", {"step": node, "reason": outcome.reasons[0]}])
            continue
        group = outcome.group
        if group and node != group[0]:
            continue
        holder = outcomes[group[-1]] if group else outcome
        step = "+".join(group) if group else node
        events.append(["step_cached", {"step": step, "key": holder.key}])
        events += [["step_warning", {"step": step, "message": m}] for m in holder.warnings]
    return events
