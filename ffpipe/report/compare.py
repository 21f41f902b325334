"""Two runs side by side, step by step: parameters old -> new, inputs and outputs that changed,
and for each changed image or video how much it changed (:mod:`ffpipe.report.difference`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ffpipe.cache.errors import CacheError
from ffpipe.cache.objects import ObjectStore
from ffpipe.report.difference import Difference, compare_files
from ffpipe.report.history import input_label
from ffpipe.report.runs import RunNotFound, RunRecord, all_runs, find_run


@dataclass
class Change:
    """One named value that differs: ``None`` on a side means absent there."""

    name: str
    old: str | None
    new: str | None

    def describe(self) -> str:
        return f"{self.name}: {self.old if self.old is not None else '(unset)'} -> " + (
            self.new if self.new is not None else "(unset)"
        )


@dataclass
class OutputChange:
    """A step output in both runs: its digests, stored files and how far apart they are."""

    name: str
    digest_a: str | None
    digest_b: str | None
    path_a: Path | None
    path_b: Path | None
    difference: Difference | None = None

    @property
    def same(self) -> bool:
        return self.digest_a == self.digest_b


@dataclass
class StepChange:
    """What differs in one step instance between run A and run B."""

    node: str
    step: str
    matrix: dict[str, Any]
    status_a: str | None
    status_b: str | None
    params: list[Change] = field(default_factory=list)
    inputs: list[Change] = field(default_factory=list)
    outputs: list[OutputChange] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(
            self.params
            or self.inputs
            or any(not output.same for output in self.outputs)
            or self.status_a is None
            or self.status_b is None
        )


@dataclass
class RunComparison:
    """Run A against run B (B is usually the newer)."""

    a: RunRecord
    b: RunRecord
    params: list[Change]
    steps: list[StepChange]

    def to_dict(self) -> dict[str, Any]:
        """The comparison as ``ffpipe diff --json`` prints it."""
        return {
            "a": self.a.run_id,
            "b": self.b.run_id,
            "params": [vars(change) for change in self.params],
            "steps": [
                {
                    "node": step.node,
                    "status": [step.status_a, step.status_b],
                    "params": [vars(change) for change in step.params],
                    "inputs": [vars(change) for change in step.inputs],
                    "outputs": [
                        {
                            "name": output.name,
                            "digests": [output.digest_a, output.digest_b],
                            "same": output.same,
                            "difference": output.difference.to_dict()
                            if output.difference is not None
                            else None,
                        }
                        for output in step.outputs
                    ],
                }
                for step in self.steps
                if step.changed
            ],
        }


def pick_runs(runs_dir: Path, first: str | None, second: str | None) -> tuple[RunRecord, RunRecord]:
    """The two runs to compare: both given; one given and the latest run of its pipeline after
    it; or none given and the last two runs of the latest run's pipeline."""
    if first is not None and second is not None:
        return find_run(runs_dir, first), find_run(runs_dir, second)
    anchor = find_run(runs_dir, first)
    same_pipeline = [r for r in all_runs(runs_dir) if r.pipeline == anchor.pipeline]
    folders = [r.folder for r in same_pipeline]
    if first is not None:
        later = same_pipeline[folders.index(anchor.folder) + 1 :]
        if not later:
            raise RunNotFound(f"no run of {anchor.pipeline} after {anchor.run_id} to compare with")
        return anchor, later[-1]
    if len(same_pipeline) < 2:
        raise RunNotFound(f"{anchor.pipeline} has run only once: nothing to compare it with")
    return same_pipeline[-2], same_pipeline[-1]


def compare_runs(objects: ObjectStore, a: RunRecord, b: RunRecord) -> RunComparison:
    """Every difference between runs ``a`` and ``b``, outputs measured where both are pictures."""
    order = [n for n in b.document.get("step_order", []) if n in b.steps]
    order += [n for n in b.steps if n not in order]
    order += [n for n in a.steps if n not in order]
    steps = [_step(objects, node, a.steps.get(node), b.steps.get(node)) for node in order]
    params = _changes(a.document.get("params") or {}, b.document.get("params") or {})
    return RunComparison(a, b, params, steps)


def _step(
    objects: ObjectStore,
    node: str,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
) -> StepChange:
    either = new or old or {}
    old, new = old or {}, new or {}
    inputs_old = {k: input_label(v) for k, v in (old.get("inputs") or {}).items()}
    inputs_new = {k: input_label(v) for k, v in (new.get("inputs") or {}).items()}
    params_old = {k: v for k, v in (old.get("params") or {}).items() if k not in inputs_old}
    params_new = {k: v for k, v in (new.get("params") or {}).items() if k not in inputs_new}
    change = StepChange(
        node=node,
        step=str(either.get("step") or node),
        matrix=dict(either.get("matrix") or {}),
        status_a=old.get("status"),
        status_b=new.get("status"),
        params=_changes(params_old, params_new),
        inputs=_changes(inputs_old, inputs_new),
    )
    outputs_old, outputs_new = old.get("outputs") or {}, new.get("outputs") or {}
    for name in sorted(set(outputs_old) | set(outputs_new), key=lambda n: (n != "output", n)):
        digest_a, digest_b = outputs_old.get(name), outputs_new.get(name)
        output = OutputChange(
            name, digest_a, digest_b, _stored(objects, digest_a), _stored(objects, digest_b)
        )
        if not output.same and output.path_a is not None and output.path_b is not None:
            try:
                output.difference = compare_files(output.path_a, output.path_b)
            except (OSError, ValueError):
                output.difference = None
        change.outputs.append(output)
    return change


def _changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    names = sorted(set(old) | set(new))
    return [
        Change(name, _text(old.get(name)), _text(new.get(name)))
        for name in names
        if old.get(name) != new.get(name) or (name in old) != (name in new)
    ]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _stored(objects: ObjectStore, digest: str | None) -> Path | None:
    if not digest:
        return None
    try:
        path = objects.path(digest)
    except (CacheError, ValueError):
        return None
    return path if path.exists() else None
