"""Why each step will run or is cached: the plan the runner follows, with reasons for people.

Reasons come from diffing a step's new key document against the last one recorded for the same
step of the same pipeline: ``face_enhancer_blend changed 0.8 -> 0.6``, ``input target_media
(astronaut.jpg) changed``, ``engine builtin 0.3 -> 0.4``, ``no cache entry``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import networkx as nx

from ffpipe.backends.base import BackendIdentity
from ffpipe.cache.key import describe_changes
from ffpipe.cache.steps import StepEntry
from ffpipe.cache.workspace import Workspace
from ffpipe.graph import generations
from ffpipe.run.fusion import FusedGroup, Fusion, is_video_target, known_target
from ffpipe.run.prepare import PreparedStep, StepPreparer
from ffpipe.spec import resolve_condition
from ffpipe.spec.instance import LoadedPipeline, StepInstance, StepView

CACHED = "cached"
WILL_RUN = "will run"
SKIPPED = "skipped"


@dataclass(frozen=True)
class Decision:
    """What happens to one step instance: ``cached``, ``will run`` or ``skipped``, and why."""

    status: str
    reasons: tuple[str, ...] = ()
    key: str | None = None
    """None when the key depends on results of upstream steps that will run."""
    document: dict[str, Any] = field(default_factory=dict)
    entry: StepEntry | None = field(default=None, compare=False, repr=False)
    """The cache entry reused, when cached."""
    view: StepView | None = field(default=None, compare=False, repr=False)
    """What templates see of the cached step, when cached."""
    group: str | None = None
    """The fused group this step runs in (its id, e.g. ``swap+enhance``), when fused."""

    @property
    def will_run(self) -> bool:
        return self.status == WILL_RUN

    def __str__(self) -> str:
        return self.status + (f" ({'; '.join(self.reasons)})" if self.reasons else "")


def _readable(reason: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """Reword the cache's engine reasons the way people say them: ``engine builtin 0.3 -> 0.4``."""
    old_identity, new_identity = old.get("identity", {}), new.get("identity", {})
    if reason.startswith("engine_version changed"):
        engine = new_identity.get("engine", "")
        before, after = old_identity.get("engine_version"), new_identity.get("engine_version")
        return f"engine {engine} {before} -> {after}"
    if reason.startswith("engine changed"):
        return "engine " + reason.removeprefix("engine changed ")
    return reason


def miss_reasons(
    prepared: PreparedStep, previous: StepEntry | None, input_names: Mapping[str, str]
) -> tuple[str, ...]:
    """Why a prepared step has no usable cache entry."""
    if previous is None:
        return ("no cache entry",)
    old, new = previous.key_document, prepared.document
    reasons = [_readable(reason, old, new) for reason in describe_changes(old, new)]
    named = [
        reason.replace(f"input {field} ", f"input {field} ({input_names[field]}) ", 1)
        if reason.startswith("input ") and (field := reason.split()[1]) in input_names
        else reason
        for reason in reasons
    ]
    return tuple(named) or ("the cache key changed",)


def file_names(prepared: PreparedStep) -> dict[str, str]:
    """File field -> the base name of the file it names, for readable reasons."""
    return {
        name: str(prepared.params[name]).rsplit("/", 1)[-1]
        for name in prepared.document.get("inputs", {})
    }


def explain(
    pipeline: LoadedPipeline,
    graph: nx.DiGraph,
    workspace: Workspace,
    backend_identity: BackendIdentity,
    *,
    force: Collection[str] = (),
    force_all: bool = False,
    selected: Collection[str] | None = None,
    fusion: Fusion | None = None,
) -> dict[str, Decision]:
    """Decide, without running anything, what a run would do with each instance of ``graph``.

    ``force`` names steps or instances to run regardless of the cache; ``selected`` restricts the
    plan to some instances (e.g. a ``--target`` and its ancestors). URL inputs are downloaded into
    the object store, since their content is part of the key. With ``fusion`` (see
    :func:`ffpipe.run.fusion.find_fusion`), the members of a chain that fuses share one decision.
    """
    preparer = StepPreparer(pipeline, workspace, backend_identity)
    decisions: dict[str, Decision] = {}
    views: dict[str, StepView] = {}
    for generation in generations(graph):
        for node in generation:
            if node in decisions or (selected is not None and node not in selected):
                continue
            instance = pipeline.instances[node]
            group = fusion.group_headed_by(node) if fusion is not None else None
            if group is not None:
                fused = _decide_group(preparer, group, decisions, views, force, force_all)
                if fused is not None:
                    decisions.update(fused)
                    continue
            decision = _decide(
                preparer, instance, decisions, views, is_forced(instance, force, force_all)
            )
            decisions[node] = decision
    return decisions


def is_forced(instance: StepInstance, force: Collection[str], force_all: bool) -> bool:
    """Whether ``--force``/``--force-all`` name this instance (by step id or instance id)."""
    return force_all or instance.id in force or instance.step in force


def _decide(
    preparer: StepPreparer,
    instance: StepInstance,
    decisions: Mapping[str, Decision],
    views: dict[str, StepView],
    forced: bool,
) -> Decision:
    upstream = sorted(instance.needs)
    running = [name for name in upstream if name in decisions and decisions[name].will_run]
    if running:
        if forced:
            return Decision(WILL_RUN, ("forced",))
        return Decision(WILL_RUN, tuple(f"upstream {name} will run" for name in running))
    skipped = [name for name in upstream if name in decisions and decisions[name].status == SKIPPED]
    if skipped:
        return Decision(SKIPPED, (f"upstream {skipped[0]} skipped",))
    if not resolve_condition(preparer.pipeline, instance, views):
        return Decision(SKIPPED, ("condition is false",))
    prepared = preparer.prepare(instance, views)
    decision = decide_cached(preparer, prepared, forced)
    if decision.view is not None:
        views[instance.id] = decision.view
    return decision


def _decide_group(
    preparer: StepPreparer,
    group: FusedGroup,
    decisions: Mapping[str, Decision],
    views: dict[str, StepView],
    force: Collection[str],
    force_all: bool,
) -> dict[str, Decision] | None:
    """One decision for every member of a chain that fuses; None when its target is no video.

    When the chain's target comes from a step that will run, the decision is the runner's to
    make; the plan then shows the chain as fused, as it will be for a video.
    """
    pipeline = preparer.pipeline
    members = [pipeline.instances[member] for member in group.members]
    forced = any(is_forced(member, force, force_all) for member in members)
    head = members[0]
    running = [
        name for name in sorted(head.needs) if name in decisions and decisions[name].will_run
    ]
    skipped = [n for n in sorted(head.needs) if n in decisions and decisions[n].status == SKIPPED]
    if skipped:
        return None
    if running:
        target = known_target(head)
        if target is not None and not is_video_target(target):
            return None
        reasons = ("forced",) if forced else tuple(f"upstream {n} will run" for n in running)
        decision = Decision(WILL_RUN, reasons, group=group.id)
    else:
        prepared = preparer.prepare_group(group, views)
        if not is_video_target(prepared.params["target_media"]):
            return None
        decision = replace(decide_cached(preparer, prepared, forced), group=group.id)
        if decision.view is not None:
            views.update(dict.fromkeys(group.members, decision.view))
    return {
        member: decision
        if member == group.last
        else replace(decision, reasons=(f"fused into {group.id}", *decision.reasons))
        for member in group.members
    }


def decide_cached(preparer: StepPreparer, prepared: PreparedStep, forced: bool) -> Decision:
    """Cached (with the entry and its view) or will run, for a prepared step, with the reasons.

    Looking does not count as using: the runner marks the entries it reuses.
    """
    document = prepared.document
    if forced:
        return Decision(WILL_RUN, ("forced",), prepared.key, document)
    if not prepared.instance.cache:
        return Decision(WILL_RUN, ("cache: false",), prepared.key, document)
    workspace = preparer.workspace
    entry = workspace.steps.get(prepared.key, mark_used=False)
    view = preparer.view_of(entry) if entry is not None else None
    if view is not None:
        return Decision(CACHED, (), prepared.key, document, entry, view)
    previous = workspace.steps.latest_for(prepared.instance.id, preparer.pipeline.name)
    if previous is not None and previous.key == prepared.key:
        return Decision(WILL_RUN, ("cached outputs are missing",), prepared.key, document)
    reasons = miss_reasons(prepared, previous, file_names(prepared))
    return Decision(WILL_RUN, reasons, prepared.key, document)
