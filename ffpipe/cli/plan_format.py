"""The plan as people and programs read it: stages, ops, parameters, status and notes."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx

from ffpipe.cli.engine_options import BUILTIN
from ffpipe.graph import build_graph, generations, named_nodes, select
from ffpipe.pipeline import Deferred, LoadedPipeline, StepInstance
from ffpipe.words import plural, steps_and_instances

if TYPE_CHECKING:
    from ffpipe.backends.base import Backend
    from ffpipe.cli.context import Invocation
    from ffpipe.run.planner import Decision


def planned_graph(
    pipeline: LoadedPipeline, targets: list[str], downstream: bool, forced: Sequence[str] = ()
) -> nx.DiGraph:
    """The DAG of ``pipeline``, limited to ``targets`` (and what they need) when given.

    Raises :class:`ffpipe.graph.UnknownTarget` when a target or a ``forced`` name is no step.
    """
    graph = build_graph(pipeline)
    named_nodes(graph, forced, "--force")
    if targets:
        graph = graph.subgraph(select(graph, targets, downstream)).copy()
    return graph


def plan_decisions(
    pipeline: LoadedPipeline,
    graph: nx.DiGraph,
    order: Sequence[Sequence[str]],
    args: argparse.Namespace,
    invocation: Invocation,
    backend: Backend,
) -> dict[str, Decision]:
    """Instance id -> the planner's decision, as a run with these arguments would make it
    (``order``: the graph's generations).

    Without a workspace nothing can be cached, and none is created just to say so (with a
    remote cache, a throwaway one holds the input digests needed to look steps up there).
    """
    import tempfile

    from ffpipe.cache.workspace import Workspace
    from ffpipe.run.fusion import Fusion, find_fusion
    from ffpipe.run.planner import explain

    fusion = find_fusion(pipeline, graph) if not args.no_fuse else Fusion()
    selected = [node for stage in order for node in stage]
    options = {"selected": selected, "fusion": fusion, "force": args.force}
    has_remote = invocation.remote_url is not None
    if not invocation.workspace.exists() and not has_remote:
        return explain(pipeline, None, backend.identity(), **options, force_all=args.force_all)
    with tempfile.TemporaryDirectory(prefix="ffpipe-plan-") as scratch:
        root = invocation.workspace if invocation.workspace.exists() else Path(scratch)
        with Workspace(root) as workspace:
            remote = invocation.remote_source(workspace, fetching=False, emit=_say)
            return explain(
                pipeline,
                workspace,
                backend.identity(),
                **options,
                force_all=args.force_all,
                remote=remote,
            )


def _say(event: Any) -> None:
    """Remote notes (unreachable, say) go to stderr, apart from the plan."""
    message = getattr(event, "message", None)
    if message:
        print(f"ffpipe: remote cache: {message}", file=sys.stderr)


def stand_in_notes(
    pipeline: LoadedPipeline,
    graph: nx.DiGraph,
    capabilities: Mapping[str, Any],
    order: list[list[str]] | None = None,
) -> dict[str, list[str]]:
    """Instance id -> ``stand-ins: inswapper_128 -> ...`` for models the backend substitutes.

    Given the display ``order``, each stand-in is described in full once, where it first shows;
    later steps name it ``as above`` (the JSON plan, without an order, keeps every description).
    """
    from ffpipe.backends.models import StandIn, stand_ins

    notes: dict[str, list[str]] = {}
    # Matrix instances mostly share their models: each choice is looked up once.
    seen: dict[tuple[str, str], list[StandIn]] = {}
    described: set[str] = set()
    nodes = [node for stage in order for node in stage] if order is not None else graph.nodes
    for node in nodes:
        instance = pipeline.instances[node]
        known = {
            name: value
            for name, value in instance.params.items()
            if (name.endswith("_model") or name == "processors") and not isinstance(value, Deferred)
        }
        choice = (instance.op, repr(sorted(known.items())))
        if choice not in seen:
            seen[choice] = stand_ins(capabilities, instance.op, known)
        if not seen[choice]:
            continue
        if order is None:
            notes[node] = [f"stand-ins: {', '.join(map(str, seen[choice]))}"]
            continue
        new = [str(item) for item in seen[choice] if str(item) not in described]
        again = [item.requested for item in seen[choice] if str(item) in described]
        described.update(new)
        parts = new + ([f"{', '.join(again)} as above"] if again else [])
        notes[node] = [f"stand-ins: {'; '.join(parts)}"]
    return notes


def parameter_notes(
    pipeline: LoadedPipeline, graph: nx.DiGraph, capabilities: Mapping[str, Any]
) -> dict[str, list[str]]:
    """Instance id -> ``emulated: NAME (how)`` / ``refused: NAME (why)`` for every parameter a
    step sets that the backend's engine does not run exactly (from its ``parameters`` table)."""
    from ffpipe.backends.models import parameter_statuses

    notes: dict[str, list[str]] = {}
    for node in graph.nodes:
        instance = pipeline.instances[node]
        for status, name, note in parameter_statuses(capabilities, instance.op, instance.params):
            notes.setdefault(node, []).append(f"{status}: {name} ({note})")
    return notes


def builtin_notes(pipeline: LoadedPipeline, graph: nx.DiGraph) -> dict[str, list[str]]:
    """Instance id -> what the builtin engine will only guess at, e.g. the age an ``auto`` age
    edit starts from (it has no age model)."""
    from ffpipe.engine.builtin.edit_scope import age_direction_note

    notes: dict[str, list[str]] = {}
    for node in graph.nodes:
        instance = pipeline.instances[node]
        if instance.op != "edit":
            continue
        age = instance.params.get("face_editor_age")
        direction = instance.params.get("face_editor_age_direction", "auto")
        if isinstance(age, int) and isinstance(direction, str):
            note = age_direction_note(age, direction)
            if note is not None:
                notes.setdefault(node, []).append(f"builtin engine: {note}")
    return notes


def display_notes(
    pipeline: LoadedPipeline, decisions: Mapping[str, Decision], *, remote: bool
) -> dict[str, list[str]]:
    """Instance id -> the planner's notes (fused or why not), and where async steps run."""
    notes = {node: list(decision.notes) for node, decision in decisions.items()}
    for node in decisions:
        if pipeline.instances[node].asynchronous:
            notes[node].append(_async_note(remote))
    return notes


def _async_note(remote: bool) -> str:
    if not remote:
        return "async: runs in-process on the local backend"
    return "async: submitted as a job on the server (when it has a job queue)"


def shown(value: Any) -> Any:
    """A parameter as the plan shows it: deferred values as their template."""
    if isinstance(value, Deferred):
        return value.source
    return value


def _condition(instance: StepInstance) -> str | None:
    if instance.condition is True:
        return None
    return shown(instance.condition) if isinstance(instance.condition, Deferred) else "false"


_AS_JSON = json.JSONEncoder(ensure_ascii=False)
"""Made once: ``json.dumps`` with an option builds an encoder per call (40,000 in a big plan)."""


def format_plan(
    pipeline: LoadedPipeline,
    order: list[list[str]],
    status: Mapping[str, str] | None = None,
    notes: Mapping[str, list[str]] | None = None,
) -> str:
    """The plan as text; ``status`` (instance id -> e.g. "cached") and ``notes`` (instance id ->
    lines such as "fused: swap + enhance (one decode, one encode)") are added when given."""
    total = sum(len(stage) for stage in order)
    steps = len({pipeline.instances[node].step for stage in order for node in stage})
    counted = steps_and_instances(steps, total)
    lines = [f"{pipeline.name}: {counted} in {plural(len(order), 'stage')}"]
    for number, stage in enumerate(order, start=1):
        lines.append(f"stage {number}")
        for instance_id in stage:
            instance = pipeline.instances[instance_id]
            extra = f"  [{status[instance_id]}]" if status and instance_id in status else ""
            lines.append(f"  {instance_id} ({instance.op}){extra}")
            if instance.matrix:
                matrix = ", ".join(f"{k}={v}" for k, v in instance.matrix.items())
                lines.append(f"    matrix: {matrix}")
            condition = _condition(instance)
            if condition is not None:
                lines.append(f"    if: {condition}")
            lines.extend(f"    {note}" for note in (notes or {}).get(instance_id, ()))
            for name, value in instance.params.items():
                lines.append(f"    {name}: {_AS_JSON.encode(shown(value))}")
    return "\n".join(lines)


def plan_json(
    pipeline: LoadedPipeline,
    order: list[list[str]],
    status: Mapping[str, str] | None = None,
    notes: Mapping[str, list[str]] | None = None,
) -> list[list[dict[str, Any]]]:
    """The plan as JSON-ready data: stages of {id, step, op, status, notes, matrix, params}."""
    return [
        [
            {
                "id": instance_id,
                "step": pipeline.instances[instance_id].step,
                "op": pipeline.instances[instance_id].op,
                "status": (status or {}).get(instance_id),
                "notes": list((notes or {}).get(instance_id, ())),
                "matrix": dict(pipeline.instances[instance_id].matrix),
                "params": {
                    name: shown(value)
                    for name, value in pipeline.instances[instance_id].params.items()
                },
            }
            for instance_id in stage
        ]
        for stage in order
    ]


def cluster_notes(
    invocation: Invocation, pipeline: LoadedPipeline, decisions: Mapping[str, Decision]
) -> dict[str, str]:
    """With a cluster configured, what each step that will run asks of it: ``on cluster
    tcp://scheduler:8786 (GPU=1)``. The plan does not contact the cluster."""
    address = invocation.cluster_address
    if address is None:
        return {}
    from ffpipe.run.cluster import describe_resources, resources_of
    from ffpipe.run.fusion import FUSED_OP

    found = {}
    for node, decision in decisions.items():
        if not decision.will_run:
            continue
        op = FUSED_OP if decision.group else pipeline.instances[node].op
        found[node] = f"on cluster {address} ({describe_resources(resources_of(op))})"
    return found


def full_plan(args: argparse.Namespace, invocation: Invocation) -> str:
    """Load, decide and format the plan ``ffpipe plan`` prints, as text or JSON."""
    pipeline = invocation.load(args.file)
    graph = planned_graph(pipeline, args.target, args.downstream, args.force)
    order = generations(graph)
    backend = invocation.make_backend()
    try:
        decisions = plan_decisions(pipeline, graph, order, args, invocation, backend)
        capabilities = backend.model_capabilities()
        substituted = stand_in_notes(
            pipeline, graph, capabilities, order=None if args.json else order
        )
        for node, lines in parameter_notes(pipeline, graph, capabilities).items():
            substituted.setdefault(node, []).extend(lines)
        if invocation.engine.name == BUILTIN and not invocation.uses_server():
            for node, lines in builtin_notes(pipeline, graph).items():
                substituted.setdefault(node, []).extend(lines)
    finally:
        backend.close()
    status = {node: str(decision) for node, decision in decisions.items()}
    notes = display_notes(pipeline, decisions, remote=bool(invocation.server))
    for node, line in cluster_notes(invocation, pipeline, decisions).items():
        notes.setdefault(node, []).append(line)
    for node, lines in substituted.items():
        notes.setdefault(node, []).extend(lines)
    if args.json:
        return json.dumps(plan_json(pipeline, order, status, notes), indent=2, default=str)
    return format_plan(pipeline, order, status, notes)
