"""Which chains of per-frame steps on one video run as a single ``process`` pass.

A chain ``swap -> enhance -> edit`` on a video costs one decode and one encode when fused instead
of one per step. :func:`find_fusion` decides from the pipeline alone which chains qualify (and
why others do not); whether the chain's target really is a video is decided from the file by
:func:`ffpipe.media.is_video` once that file is known. :func:`merge_params` builds the one flat
parameter set of the fused ``process`` call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from ffpipe.catalog import OPS
from ffpipe.catalog.edit import Editing
from ffpipe.catalog.enhance import Enhancement
from ffpipe.catalog.ops import MAX_PROCESSORS, ProcessParams
from ffpipe.catalog.swap import SourceSelection, SwapperModels
from ffpipe.pipeline.instance import Deferred, LoadedPipeline, StepInstance

FUSED_OP = "process"

OWN_FIELDS: dict[str, frozenset[str]] = {
    "swap": frozenset({"source_face", *SourceSelection.model_fields, *SwapperModels.model_fields}),
    "enhance": frozenset(Enhancement.model_fields),
    "edit": frozenset(Editing.model_fields),
}
"""Each per-frame op's own parameter groups: the rest must agree between fused members."""

FIRST_ONLY_FIELDS = frozenset({"trim_frame_start", "trim_frame_end", "output_video_fps"})
"""Trim and frame rate shape the whole pass: only the chain's first member may set them."""

_PER_MEMBER_FIELDS = frozenset({"target_media", "output_path"})
"""The chain links members through target_media; the last member names the output."""


@dataclass(frozen=True)
class FusedGroup:
    """Consecutive per-frame steps run as one ``process`` call, in order."""

    members: tuple[str, ...]
    """Instance ids, first to last; the last one holds the group's artifact."""
    ops: tuple[str, ...]

    @property
    def id(self) -> str:
        """The group's name in events, records and the cache: ``swap+enhance``."""
        return "+".join(self.members)

    @property
    def head(self) -> str:
        return self.members[0]

    @property
    def last(self) -> str:
        return self.members[-1]

    def describe(self) -> str:
        """``swap + enhance (one decode, one encode)``."""
        return f"{' + '.join(self.members)} (one decode, one encode)"


@dataclass(frozen=True)
class Fusion:
    """The chains that fuse when their target is a video, and why other links do not."""

    groups: tuple[FusedGroup, ...] = ()
    refused: Mapping[str, str] = field(default_factory=dict)
    """Instance id -> why it is not fused with the step before it (``face_mask_blur differs``)."""

    def group_headed_by(self, node: str) -> FusedGroup | None:
        return next((group for group in self.groups if group.head == node), None)


def find_fusion(pipeline: LoadedPipeline, graph: nx.DiGraph) -> Fusion:
    """The fusable chains among the instances of ``graph`` (the video check aside).

    Only links where both steps are per-frame ops and the later one reads the earlier one's
    output are considered; every refused link of that kind gets a reason.
    """
    links: dict[str, str] = {}
    refused: dict[str, str] = {}
    for node in graph.nodes:
        instance = pipeline.instances[node]
        previous = _chained_previous(pipeline, instance)
        if previous is None or previous not in graph.nodes:
            continue
        reason = _link_problem(pipeline, pipeline.instances[previous], instance)
        if reason is None:
            links[previous] = node
        else:
            refused[node] = reason
    heads = [previous for previous in links if previous not in links.values()]
    groups = []
    for head in sorted(heads, key=list(pipeline.instances).index):
        chain = [head]
        while chain[-1] in links:
            chain.append(links[chain[-1]])
        # One process call takes at most MAX_PROCESSORS ops: a longer chain runs as several.
        for start in range(0, len(chain), MAX_PROCESSORS):
            members = chain[start : start + MAX_PROCESSORS]
            if start:
                refused[members[0]] = f"a process pass applies at most {MAX_PROCESSORS} ops"
            if len(members) > 1:
                ops = tuple(pipeline.instances[member].op for member in members)
                groups.append(FusedGroup(tuple(members), ops))
    return Fusion(tuple(groups), refused)


def known_target(pipeline: LoadedPipeline, instance: StepInstance) -> str | None:
    """The file the instance's target comes from when the pipeline alone says: its own local
    path, or the one an earlier per-frame step it reads started from (such a step writes the
    same kind of media it read). None for URLs and for other steps' outputs."""
    seen: set[str] = set()
    while instance.id not in seen:
        seen.add(instance.id)
        target = instance.params.get("target_media")
        if isinstance(target, str):
            return None if target.startswith(("http://", "https://")) else target
        previous = _chained_previous(pipeline, instance)
        if previous is None:
            return None
        instance = pipeline.instances[previous]
    return None


def merge_params(ops: Sequence[str], params: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The flat ``process`` parameters of a fused chain from its members' resolved parameters.

    Shared parameters come from the first member (:func:`find_fusion` checked that they agree),
    each op's own groups from its member, the output path from the last member.
    """
    merged = {
        name: value
        for name, value in params[0].items()
        if name not in OWN_FIELDS[ops[0]] and name in ProcessParams.model_fields
    }
    for op, values in zip(ops, params, strict=True):
        merged.update({name: value for name, value in values.items() if name in OWN_FIELDS[op]})
    merged.pop("output_path", None)
    if params[-1].get("output_path") is not None:
        merged["output_path"] = params[-1]["output_path"]
    merged["processors"] = list(ops)
    return merged


def _chained_previous(pipeline: LoadedPipeline, instance: StepInstance) -> str | None:
    """The step whose output ``instance`` takes as its target, when both are per-frame ops."""
    target = instance.params.get("target_media")
    if not OPS[instance.op].per_frame or instance.op == FUSED_OP:
        return None
    if not isinstance(target, Deferred) or len(target.refs) != 1:
        return None
    (previous,) = target.refs
    before = pipeline.instances[previous]
    if not OPS[before.op].per_frame or before.op == FUSED_OP:
        return None
    if "".join(target.source.split()) != f"{{{{steps.{before.step}.output}}}}":
        return None
    return previous


def _link_problem(
    pipeline: LoadedPipeline, previous: StepInstance, instance: StepInstance
) -> str | None:
    """Why ``previous -> instance`` cannot fuse, or None."""
    for member in (previous, instance):
        if member.condition is not True:
            return f"{member.id} has if:"
        if not member.cache:
            return f"{member.id} has cache: false"
        if member.asynchronous:
            return f"{member.id} is async"
    if dict(previous.matrix) != dict(instance.matrix):
        return "different matrix instances"
    if instance.needs != {previous.id}:
        others = ", ".join(sorted(instance.needs - {previous.id}))
        return f"{instance.id} also needs {others}"
    for name, value in instance.params.items():
        if name != "target_media" and isinstance(value, Deferred) and previous.id in value.refs:
            return f"{instance.id} reads {previous.id} in {name}"
    users = sorted(
        other.id
        for other in pipeline.instances.values()
        if previous.id in other.needs and other.id != instance.id
    )
    if users:
        return f"{previous.id} is also used by {', '.join(users)}"
    for spec in pipeline.outputs:
        if isinstance(spec.value, Deferred) and previous.id in spec.value.refs:
            return f"{previous.id} is a pipeline output ({spec.name})"
    for name in sorted(FIRST_ONLY_FIELDS):
        if _value(instance, name) != _default(instance.op, name):
            return f"{name} is set on {instance.id}; only the first step may trim or resample"
    differing = _differing_shared(previous, instance)
    if differing:
        return f"{', '.join(differing)} {'differs' if len(differing) == 1 else 'differ'}"
    return None


def _differing_shared(previous: StepInstance, instance: StepInstance) -> list[str]:
    skipped = OWN_FIELDS[previous.op] | OWN_FIELDS[instance.op] | _PER_MEMBER_FIELDS
    shared = set(OPS[previous.op].params.model_fields) & set(OPS[instance.op].params.model_fields)
    return [
        name
        for name in sorted(shared - skipped - FIRST_ONLY_FIELDS)
        if _shown(_value(previous, name)) != _shown(_value(instance, name))
    ]


def _value(instance: StepInstance, name: str) -> Any:
    if name in instance.params:
        return instance.params[name]
    return _default(instance.op, name)


def _default(op: str, name: str) -> Any:
    return OPS[op].params.model_fields[name].get_default(call_default_factory=True)


def _shown(value: Any) -> Any:
    """Templates compare by their text: the same text renders the same value in one instance."""
    return ("template", "".join(value.source.split())) if isinstance(value, Deferred) else value
