"""The one decision pass: for every step instance, ready or not, and cached, runs or skipped, why.

``ffpipe plan`` drives a :class:`Planner` without executing anything (:func:`plan`); ``ffpipe
run`` drives the same planner and tells it what each step produced (:mod:`ffpipe.run.runner`).
Nothing else decides, so the plan and the run agree by construction, and every reason string is
written here once.

A step that will run makes output nobody has seen yet ("fresh"), unless the cache already holds
an entry for its exact key (a forced step, ``cache: false``, outputs deleted): by the cache's rule
"same key, same output" that entry predicts the output, and the steps after it are decided
against the prediction. Steps after a fresh output run, and their reason names the real cause
upstream: ``upstream enhance will run: face_enhancer_blend changed 0.8 -> 0.6``.

The planner is thread-free: the runner calls it from one thread only.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ffpipe.backends.base import ABSENT_MODEL, BackendIdentity
from ffpipe.cache.key import describe_changes
from ffpipe.cache.steps import StepEntry
from ffpipe.cache.workspace import Workspace
from ffpipe.media import is_video
from ffpipe.pipeline import resolve_condition
from ffpipe.pipeline.instance import Deferred, LoadedPipeline, StepInstance, StepView
from ffpipe.run.fusion import FusedGroup, Fusion, known_target
from ffpipe.run.prepare import PreparedStep, StepPreparer
from ffpipe.run.remote import FROM_REMOTE, RemoteSource
from ffpipe.run.statuses import StepStatus

# The statuses by the short names the runner uses.
CACHED = StepStatus.CACHED
WILL_RUN = StepStatus.WILL_RUN
SKIPPED = StepStatus.SKIPPED
RAN = StepStatus.RAN
FAILED = StepStatus.FAILED
NOT_RUN = StepStatus.NOT_RUN

FORCED = "forced"
NOT_CACHED = "cache: false"
NO_ENTRY = "no cache entry"
OUTPUTS_MISSING = "cached outputs are missing"
CONDITION_FALSE = "condition is false"
STOPPED = "run stopped after a failure"
NOT_VIDEO = "not fused: the target is not a video"
_RUNS = "upstream {} will run: "


def upstream_reason(node: str, status: str) -> str:
    """Why a step is blocked: ``upstream swap failed`` / ``upstream swap skipped``."""
    return f"upstream {node} {status}"


def fused_into(group: str) -> str:
    """The reason every member but the last of a fused group carries first."""
    return f"fused into {group}"


@dataclass(frozen=True)
class Decision:
    """What happens to one step instance: ``cached``, ``will run`` or ``skipped``, and why."""

    status: StepStatus
    reasons: tuple[str, ...] = ()
    key: str | None = None
    """None when the key depends on the output of an upstream step that will run."""
    document: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    group: str | None = None
    """The fused group this step runs in (its id, e.g. ``swap+enhance``), when fused."""
    members: tuple[str, ...] = ()
    """The instances this decision settles: a fused group's members, else the instance."""
    notes: tuple[str, ...] = ()
    """How it runs, for people: ``fused: swap + enhance (...)``, ``not fused: ...``."""
    prepared: PreparedStep | None = field(default=None, compare=False, repr=False)
    """What to hand to the backend, when it will run and its key is known."""
    entry: StepEntry | None = field(default=None, compare=False, repr=False)
    """The cache entry for this key: reused when cached, the predicted output when it runs."""
    view: StepView | None = field(default=None, compare=False, repr=False)
    """What templates see of the step, when its output is known (cached or predicted)."""

    @property
    def will_run(self) -> bool:
        return self.status == WILL_RUN

    def __str__(self) -> str:
        return self.status + (f" ({'; '.join(self.reasons)})" if self.reasons else "")


def is_forced(instance: StepInstance, force: Collection[str], force_all: bool) -> bool:
    """Whether ``--force``/``--force-all`` name this instance (by step id or instance id)."""
    return force_all or instance.id in force or instance.step in force


def key_refs(instance: StepInstance) -> list[str]:
    """The instances whose outputs or results the parameters read: what the key depends on
    (an ``if:`` or a bare ``needs:`` orders steps without changing what one makes)."""
    refs: set[str] = set()
    for value in instance.params.values():
        if isinstance(value, Deferred):
            refs |= value.refs
    return sorted(refs)


def _file(prepared: PreparedStep, name: str) -> str:
    """The base name of the file a parameter names, for readable reasons."""
    return str(prepared.params.get(name, "")).rsplit("/", 1)[-1]


def _readable(reason: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """Reword the cache's engine reasons the way people say them: ``engine builtin 0.3 -> 0.4``,
    and when the engine itself changed, both names with their versions (``engine builtin 1.1.0
    -> facefusion 3.8.1``), said once for the two changes the key records."""
    old_identity, new_identity = old.get("identity", {}), new.get("identity", {})
    engines = old_identity.get("engine"), new_identity.get("engine")
    versions = old_identity.get("engine_version"), new_identity.get("engine_version")
    if reason.startswith(("engine changed", "engine_version changed")) and engines[0] != engines[1]:
        return f"engine {engines[0]} {versions[0]} -> {engines[1]} {versions[1]}"
    if reason.startswith("engine_version changed"):
        return f"engine {engines[1]} {versions[0]} -> {versions[1]}"
    if reason.startswith("model "):
        return _model_reason(reason, old_identity, new_identity)
    return reason


def _model_reason(reason: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """A model file's change as people say it: a file that is not there is ``missing`` (not
    ``added``), one that came is ``now present``, one whose hash changed is ``replaced``."""
    field_name = next(
        (name for name in new.keys() | old.keys() if reason.startswith(name + " ")), None
    )
    if field_name is None:
        return reason
    before, after = old.get(field_name), new.get(field_name)
    if after == ABSENT_MODEL:
        return f"{field_name} missing (its file is not there)"
    if before == ABSENT_MODEL and after is not None:
        return f"{field_name} now present"
    if before is not None and after is not None:
        return f"{field_name} replaced"
    return reason


def grouped_upstream(reasons: Iterable[str]) -> tuple[str, ...]:
    """Reasons with one upstream step named once: ``upstream swap will run: a, b`` rather than
    the step's name before each of its reasons (also ``upstream swap: a, b``)."""
    lines: dict[str, list[str]] = {}
    for reason in reasons:
        prefix, cause = _upstream_prefix(reason)
        causes = lines.setdefault(prefix, [])
        if cause and cause not in causes:
            causes.append(cause)
    return tuple(prefix + ", ".join(causes) for prefix, causes in lines.items())


def _upstream_prefix(reason: str) -> tuple[str, str]:
    """``("upstream swap will run: ", "blend changed")`` of an upstream reason; other reasons
    are their own prefix, with no cause to merge."""
    if reason.startswith("upstream "):
        for separator in (" will run: ", ": "):
            head, found, cause = reason.partition(separator)
            if found and " " not in head.removeprefix("upstream "):
                return head + separator, cause
    return reason, ""


class Planner:
    """Decides each selected instance once its needs are settled; told what ran by the runner.

    ``preparer`` is None when there is no workspace: nothing can be cached, every step runs.
    ``remote`` is asked for the keys the workspace lacks (:mod:`ffpipe.run.remote`).
    """

    def __init__(
        self,
        pipeline: LoadedPipeline,
        preparer: StepPreparer | None,
        selected: Sequence[str],
        fusion: Fusion | None = None,
        *,
        force: Collection[str] = (),
        force_all: bool = False,
        remote: RemoteSource | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.preparer = preparer
        self.remote = remote
        self.fusion = fusion or Fusion()
        self.force = frozenset(force)
        self.force_all = force_all
        self.decisions: dict[str, Decision] = {}
        self.views: dict[str, StepView] = {}
        self.settled: dict[str, str] = {}
        """Instance id -> final status (cached, ran, failed, skipped, not run)."""
        self.fresh: dict[str, tuple[str, ...]] = {}
        """Instances whose output is new in this pass -> the root causes of their running."""
        self._producers: dict[str, tuple[str, Decision]] = {}
        """Artifact digest -> the instance that made it and its decision, to name the step
        behind an input."""
        chosen = set(selected)
        self._position = {node: index for index, node in enumerate(selected)}
        self._pending: dict[str, int] = {}
        self._dependents: dict[str, list[str]] = {}
        for node in selected:
            needs = [need for need in pipeline.instances[node].needs if need in chosen]
            self._pending[node] = len(needs)
            for need in needs:
                self._dependents.setdefault(need, []).append(node)
        self._ready = [(self._position[n], n) for n in selected if not self._pending[n]]
        heapq.heapify(self._ready)

    # -- readiness ---------------------------------------------------------------------------

    def ready(self) -> list[str]:
        """The instances whose needs are all settled and that are not decided yet, in file order."""
        found = []
        while self._ready:
            _, node = heapq.heappop(self._ready)
            if node not in self.decisions:
                found.append(node)
        return found

    def undecided(self) -> list[str]:
        """Selected instances without a decision (blocked behind a step that did not finish)."""
        return [node for node in self._position if node not in self.decisions]

    def blocked_reason(self, node: str) -> str | None:
        """``upstream X failed`` / ``upstream X skipped`` when a need did not succeed."""
        for need in sorted(self.pipeline.instances[node].needs):
            status = self.settled.get(need)
            if status == FAILED:
                return upstream_reason(need, FAILED)
            if status in (SKIPPED, NOT_RUN):
                return upstream_reason(need, SKIPPED)
        return None

    def look_ahead(self, nodes: Iterable[str]) -> None:
        """Ask the remote about the keys of many ready instances in one batch (and, when
        running, fetch what it has, in parallel), so deciding them one by one finds them here.

        Only a speed-up: an instance whose key cannot be known yet is left to :meth:`decide`.
        """
        if self.remote is None or self.preparer is None:
            return
        keys = []
        for node in nodes:
            instance = self.pipeline.instances[node]
            if node in self.decisions or self.blocked_reason(node) is not None:
                continue
            if not instance.cache or is_forced(instance, self.force, self.force_all):
                continue
            if any(need in self.fresh for need in key_refs(instance)):
                continue
            group = self.fusion.group_headed_by(node)
            try:
                if not self._condition_known(instance) or not resolve_condition(
                    self.pipeline, instance, self.views
                ):
                    continue  # a step that may be skipped is not worth fetching ahead
                prepared = (
                    self.preparer.prepare_group(group, self.views)
                    if group is not None
                    else self.preparer.prepare(instance, self.views)
                )
            except Exception:  # decide() reports it, at its step
                continue
            keys.append(prepared.key)
        self.remote.look_ahead(keys)

    # -- deciding ----------------------------------------------------------------------------

    def decide(self, node: str) -> Decision:
        """Decide a ready instance (and its fused group, when it heads one).

        Cached and skipped decisions are settled at once; a step that will run waits for
        :meth:`ran` (or :meth:`assume_ran` when only planning). Raises the preparer's errors (a
        deferred value that does not validate, an input that cannot be read).
        """
        blocked = self.blocked_reason(node)
        if blocked is not None:
            return self._record(Decision(SKIPPED, (blocked,), members=(node,)))
        group = self.fusion.group_headed_by(node)
        if group is not None:
            decision = self._decide_group(group)
            if decision is not None:
                return self._record(decision)
        return self._record(self._decide_one(self.pipeline.instances[node]))

    def _record(self, decision: Decision) -> Decision:
        members = decision.members
        for index, member in enumerate(members):
            if len(members) == 1:
                self.decisions[member] = decision
                continue
            into = fused_into(decision.group or "")
            reasons = decision.reasons if member == members[-1] else (into, *decision.reasons)
            notes = decision.notes if index == 0 else (into,)
            self.decisions[member] = replace(decision, reasons=reasons, notes=notes)
        if decision.status == CACHED and decision.view is not None:
            self._settle(members, CACHED, decision.view)
        elif decision.status == SKIPPED:
            self._settle(members, SKIPPED)
        return decision

    def _decide_one(self, instance: StepInstance) -> Decision:
        own = (instance.id,)
        notes = self._refusal_notes(own)
        waits = self._condition_waits_for(instance)
        if waits:
            notes += (f"if: decided when {', '.join(waits)} has run",)
        elif not resolve_condition(self.pipeline, instance, self.views):
            return Decision(SKIPPED, (CONDITION_FALSE,), members=own, notes=notes)
        forced = is_forced(instance, self.force, self.force_all)
        upstream = [need for need in key_refs(instance) if need in self.fresh]
        if self.preparer is None or any(need not in self.views for need in upstream):
            reasons = self._unknown_key_reasons(forced, instance.cache, upstream)
            return Decision(WILL_RUN, reasons, members=own, notes=notes)
        prepared = self.preparer.prepare(instance, self.views)
        return self._cache_decision(prepared, own, forced, instance.cache, upstream, notes)

    def _decide_group(self, group: FusedGroup) -> Decision | None:
        """One decision for a chain that fuses; None when its target turns out not to be a video.

        When the chain's target is made in this pass, the file the pipeline traces it back to
        decides (plan and run alike); without one the chain is taken to fuse.
        """
        head = self.pipeline.instances[group.head]
        members = [self.pipeline.instances[member] for member in group.members]
        forced = any(is_forced(member, self.force, self.force_all) for member in members)
        upstream = [need for need in key_refs(head) if need in self.fresh]
        notes = (f"fused: {group.describe()}", *self._refusal_notes(group.members))
        if self.preparer is None or upstream:
            # The target is made in this pass: decided from the pipeline alone, as a plan must.
            target = known_target(self.pipeline, head)
            if target is not None and not is_video(target):
                return None
        if self.preparer is None or any(need not in self.views for need in upstream):
            reasons = self._unknown_key_reasons(forced, True, upstream)
            return Decision(WILL_RUN, reasons, group=group.id, members=group.members, notes=notes)
        prepared = self.preparer.prepare_group(group, self.views)
        if not upstream and not is_video(prepared.params["target_media"]):
            return None
        decision = self._cache_decision(prepared, group.members, forced, True, upstream, notes)
        return replace(decision, group=group.id)

    def _condition_waits_for(self, instance: StepInstance) -> list[str]:
        """The steps whose results the ``if:`` reads and which have no output yet (planning)."""
        condition = instance.condition
        if not isinstance(condition, Deferred):
            return []
        return sorted(condition.refs - set(self.views))

    def _unknown_key_reasons(
        self, forced: bool, cache: bool, upstream: Sequence[str]
    ) -> tuple[str, ...]:
        if forced:
            return (FORCED,)
        if not cache:
            return (NOT_CACHED,)
        if not upstream:
            return (NO_ENTRY,)
        return self._upstream_causes(upstream)

    def _upstream_causes(self, upstream: Iterable[str]) -> tuple[str, ...]:
        """``upstream enhance will run: <its reasons>``, the root causes passed down a chain."""
        causes: list[str] = []
        for need in upstream:
            for cause in self.fresh[need]:
                line = (
                    cause if cause.startswith("upstream ") else f"upstream {need} will run: {cause}"
                )
                if line not in causes:
                    causes.append(line)
        return grouped_upstream(causes)

    def _cache_decision(
        self,
        prepared: PreparedStep,
        members: tuple[str, ...],
        forced: bool,
        cache: bool,
        upstream: Sequence[str],
        notes: tuple[str, ...],
    ) -> Decision:
        assert self.preparer is not None
        steps = self.preparer.workspace.steps
        entry = steps.get(prepared.key, mark_used=False)
        view = self.preparer.view_of(entry) if entry is not None else None
        decision = Decision(
            WILL_RUN,
            key=prepared.key,
            document=prepared.document,
            members=members,
            notes=notes,
            prepared=prepared,
            entry=entry,
        )
        if forced or not cache:
            return replace(decision, reasons=(FORCED if forced else NOT_CACHED,))
        if view is not None:
            pulled = self.remote is not None and self.remote.was_pulled(prepared.key)
            return replace(decision, status=CACHED, view=view, reasons=self._origin(pulled))
        fetched = self._from_remote(prepared.key)
        if fetched is not None:
            found, view = fetched
            return replace(decision, status=CACHED, view=view, entry=found, reasons=(FROM_REMOTE,))
        if entry is not None:
            return replace(decision, reasons=(OUTPUTS_MISSING,))
        if upstream:
            return replace(decision, reasons=self._upstream_causes(upstream))
        previous = steps.latest_for(prepared.instance.id, self.pipeline.name)
        return replace(decision, reasons=self._miss_reasons(prepared, previous))

    @staticmethod
    def _origin(pulled: bool) -> tuple[str, ...]:
        return (FROM_REMOTE,) if pulled else ()

    def _from_remote(self, key: str) -> tuple[StepEntry, StepView] | None:
        """The remote's entry for a key the workspace lacks, with its view: predicted when
        planning; when running, only once its objects are here and verified."""
        if self.remote is None or self.preparer is None:
            return None
        found = self.remote.lookup(key)
        if found is None:
            return None
        if not self.remote.fetching:
            view = self.preparer.view_of(found, require_objects=False)
            return None if view is None else (found, view)
        fetched = self.remote.fetch([found])
        view = self.preparer.view_of(fetched[0]) if fetched else None
        return None if view is None else (fetched[0], view)

    def _refusal_notes(self, members: Sequence[str]) -> tuple[str, ...]:
        notes = [
            f"not fused: {self.fusion.refused[m]}" for m in members if m in self.fusion.refused
        ]
        candidate = next((g for g in self.fusion.groups if g.head == members[0]), None)
        if candidate is not None and len(members) == 1:
            notes.append(NOT_VIDEO)
        return tuple(notes)

    def _miss_reasons(self, prepared: PreparedStep, previous: StepEntry | None) -> tuple[str, ...]:
        """Why a prepared step has no usable entry, naming the step behind a changed input."""
        if previous is None:
            return (NO_ENTRY,)
        old, new = previous.key_document, prepared.document
        reasons: list[str] = []
        for reason in describe_changes(old, new):
            if not reason.startswith("input "):
                reasons.append(_readable(reason, old, new))
            elif reason == f"input {(name := reason.split()[1])} changed":
                reasons.extend(self._input_cause(prepared, name, old))
            else:  # the file's type: say which file
                reasons.append(
                    reason.replace(f" {name} ", f" {name} ({_file(prepared, name)}) ", 1)
                )
        return grouped_upstream(reasons) or ("the cache key changed",)

    def _input_cause(self, prepared: PreparedStep, name: str, old: Mapping[str, Any]) -> list[str]:
        """``input target_media (astronaut.jpg) changed`` for a file of the pipeline's; for the
        output of an earlier step, what changed in that step since it made the old input."""
        digest = prepared.document["inputs"].get(name)
        found = self._producers.get(digest) if isinstance(digest, str) else None
        if found is None:
            return [f"input {name} ({_file(prepared, name)}) changed"]
        producer, decision = found
        vague = [f"input {name} (the output of {producer}) changed"]
        if self.preparer is None or decision.prepared is None:
            return vague
        before = old.get("inputs", {}).get(name)
        made = self.preparer.workspace.steps.producer(
            self.pipeline.name, decision.prepared.instance.id, before
        )
        if made is None:
            return vague
        old_document, current = made.key_document, decision.document
        causes: list[str] = []
        for change in describe_changes(old_document, current):
            if change.startswith("input ") and change.endswith(" changed"):
                causes += self._input_cause(decision.prepared, change.split()[1], old_document)
            else:
                causes.append(f"upstream {producer}: {_readable(change, old_document, current)}")
        return causes or vague

    # -- being told ----------------------------------------------------------------------------

    def ran(self, decision: Decision, view: StepView) -> None:
        """A step the planner said will run did, and made ``view``."""
        predicted = decision.entry.outputs if decision.entry is not None else None
        assert self.preparer is not None
        made = {name: self.preparer.artifact_digest(path) for name, path in view.outputs.items()}
        if predicted is None or made != predicted:
            self._mark_fresh(decision)
        self._settle(decision.members, RAN, view)

    def assume_ran(self, decision: Decision) -> None:
        """Planning only: settle a step that will run with its predicted output, if any."""
        view = None
        if decision.entry is not None and self.preparer is not None:
            view = self.preparer.view_of(decision.entry, require_objects=False)
        if view is None:
            self._mark_fresh(decision)
        self._settle(decision.members, WILL_RUN, view)

    def failed(self, decision: Decision) -> None:
        """A step the planner said will run failed: what needs it is blocked."""
        self._settle(decision.members, FAILED)

    def give_up(self, node: str, status: str, reason: str) -> Decision:
        """Record that ``node`` will not be decided normally (the run stopped, say)."""
        decision = Decision(status, (reason,), members=(node,))
        self.decisions[node] = decision
        self._settle((node,), status)
        return decision

    def _mark_fresh(self, decision: Decision) -> None:
        for member in decision.members:
            self.fresh[member] = decision.reasons

    def _settle(self, members: Sequence[str], status: str, view: StepView | None = None) -> None:
        for member in members:
            self.settled[member] = status
            if view is not None:
                self.views[member] = view
                if self.preparer is not None:
                    for path in view.outputs.values():
                        digest = self.preparer.artifact_digest(path)
                        if digest is not None:
                            self._producers[digest] = (member, self.decisions[member])
            for dependent in self._dependents.get(member, ()):
                self._pending[dependent] -= 1
                if not self._pending[dependent]:
                    heapq.heappush(self._ready, (self._position[dependent], dependent))


def plan(planner: Planner) -> dict[str, Decision]:
    """Drive ``planner`` to the end without running anything: every selected instance's decision."""
    while ready := planner.ready():
        planner.look_ahead(ready)
        for node in ready:
            if node in planner.decisions:
                continue  # a fused member, decided with its group
            decision = planner.decide(node)
            if decision.will_run:
                planner.assume_ran(decision)
    return dict(planner.decisions)


def explain(
    pipeline: LoadedPipeline,
    workspace: Workspace | None,
    identity: BackendIdentity,
    *,
    selected: Sequence[str] | None = None,
    fusion: Fusion | None = None,
    force: Collection[str] = (),
    force_all: bool = False,
    remote: RemoteSource | None = None,
) -> dict[str, Decision]:
    """What a run would do with each instance (all, or ``selected``) and why, running nothing.

    URL inputs are downloaded into the object store, since their content is part of the key.
    Without a workspace nothing is cached and none is created just to say so. With ``remote``,
    keys the workspace lacks are looked up there (``cached (remote)``).
    """
    preparer = StepPreparer(pipeline, workspace, identity) if workspace is not None else None
    chosen = list(pipeline.instances) if selected is None else list(selected)
    planner = Planner(
        pipeline, preparer, chosen, fusion, force=force, force_all=force_all, remote=remote
    )
    return plan(planner)
