"""``ffpipe plan FILE``: the steps in run order with their op, parameters and matrix values."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx

from ffpipe.cli.run_cmd import add_fuse_argument, add_server_argument, add_workspace_argument
from ffpipe.cli.validate_cmd import add_pipeline_arguments, load_options
from ffpipe.graph import build_graph, generations, named_nodes, select
from ffpipe.spec import Deferred, LoadedPipeline, StepInstance, load_pipeline, parse_overrides

if TYPE_CHECKING:
    from ffpipe.backends.base import Backend
    from ffpipe.run.explain import Decision
    from ffpipe.run.fusion import Fusion

HELP = "show the steps in run order, their parameters and whether each will run and why"


def register(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``ffpipe plan``."""
    parser.add_argument("file", type=Path, metavar="FILE", help="pipeline file")
    parser.add_argument(
        "--target", action="append", default=[], metavar="STEP", help="plan only what STEP needs"
    )
    parser.add_argument(
        "--downstream", action="store_true", help="with --target, also plan what follows it"
    )
    parser.add_argument(
        "--force", action="append", default=[], metavar="STEP", help="plan STEP as forced"
    )
    parser.add_argument("--force-all", action="store_true", help="plan as if nothing were cached")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    add_fuse_argument(parser)
    add_pipeline_arguments(parser)
    add_workspace_argument(parser)
    add_server_argument(parser)


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


def plan_fusion(pipeline: LoadedPipeline, graph: nx.DiGraph, *, fuse: bool = True) -> Fusion:
    """The chains a run with these arguments would fuse (none with ``--no-fuse``)."""
    from ffpipe.run.fusion import Fusion, find_fusion

    return find_fusion(pipeline, graph) if fuse else Fusion()


def plan_decisions(
    pipeline: LoadedPipeline,
    graph: nx.DiGraph,
    args: argparse.Namespace,
    fusion: Fusion,
    backend: Backend,
) -> dict[str, Decision] | None:
    """Instance id -> ``cached`` or ``will run (why)``, as a run with these arguments would do.

    None without a workspace: nothing can be cached, and none is created just to say so.
    """
    if not args.workspace.exists():
        return None
    from ffpipe.cache.workspace import Workspace
    from ffpipe.run.explain import explain

    with Workspace(args.workspace) as workspace:
        return explain(
            pipeline,
            graph,
            workspace,
            backend.identity(),
            force=tuple(args.force),
            force_all=args.force_all,
            fusion=fusion,
        )


def stand_in_notes(
    pipeline: LoadedPipeline, graph: nx.DiGraph, capabilities: Mapping[str, Any]
) -> dict[str, list[str]]:
    """Instance id -> ``stand-ins: inswapper_128 -> ...`` for models the backend substitutes."""
    from ffpipe.backends.models import stand_ins

    notes: dict[str, list[str]] = {}
    for node in graph.nodes:
        instance = pipeline.instances[node]
        known = {k: v for k, v in instance.params.items() if not isinstance(v, Deferred)}
        found = stand_ins(capabilities, instance.op, known)
        if found:
            notes[node] = ["stand-ins: " + ", ".join(str(stand_in) for stand_in in found)]
    return notes


def plan_notes(
    pipeline: LoadedPipeline,
    graph: nx.DiGraph,
    fusion: Fusion,
    decisions: Mapping[str, Decision] | None,
    *,
    remote: bool,
) -> dict[str, list[str]]:
    """Instance id -> notes on how it runs: fused groups, why a chain is not fused, async mode.

    The cache ``decisions`` say which candidate chains really fuse (their target was checked);
    without them, a chain fuses unless its target is known not to be a video.
    """
    from ffpipe.run.fusion import is_video_target, known_target

    notes: dict[str, list[str]] = {}
    for node, reason in fusion.refused.items():
        notes.setdefault(node, []).append(f"not fused: {reason}")
    for group in fusion.groups:
        if decisions is not None and group.head in decisions:
            fused = decisions[group.head].group == group.id
        else:
            target = known_target(pipeline.instances[group.head])
            fused = target is None or is_video_target(target)
        if not fused:
            notes.setdefault(group.members[1], []).append("not fused: the target is not a video")
            continue
        notes.setdefault(group.head, []).append(f"fused: {group.describe()}")
        for member in group.members[1:]:
            notes.setdefault(member, []).append(f"fused into {group.id}")
    for node in graph.nodes:
        if pipeline.instances[node].asynchronous:
            notes.setdefault(node, []).append(_async_note(remote))
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


def format_plan(
    pipeline: LoadedPipeline,
    order: list[list[str]],
    status: Mapping[str, str] | None = None,
    notes: Mapping[str, list[str]] | None = None,
) -> str:
    """The plan as text; ``status`` (instance id -> e.g. "cached") and ``notes`` (instance id ->
    lines such as "fused: swap + enhance (one decode, one encode)") are added when given."""
    total = sum(len(stage) for stage in order)
    lines = [f"{pipeline.name}: {total} step instance(s) in {len(order)} stage(s)"]
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
                lines.append(f"    {name}: {json.dumps(shown(value), ensure_ascii=False)}")
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


def run(args: argparse.Namespace) -> int:
    """Print the plan."""
    pipeline = load_pipeline(args.file, parse_overrides(args.params), load_options(args))
    graph = planned_graph(pipeline, args.target, args.downstream, args.force)
    order = generations(graph)
    fusion = plan_fusion(pipeline, graph, fuse=not args.no_fuse)
    from ffpipe.backends import make_backend

    backend = make_backend(args.server, config=args.config)
    try:
        decisions = plan_decisions(pipeline, graph, args, fusion, backend)
        substituted = stand_in_notes(pipeline, graph, backend.capabilities())
    finally:
        backend.close()
    if decisions is None:
        status = dict.fromkeys(graph.nodes, "will run (no cache entry)")
    else:
        status = {node: str(decision) for node, decision in decisions.items()}
    notes = plan_notes(pipeline, graph, fusion, decisions, remote=bool(args.server))
    for node, lines in substituted.items():
        notes.setdefault(node, []).extend(lines)
    if args.json:
        print(json.dumps(plan_json(pipeline, order, status, notes), indent=2, default=str))
    else:
        print(format_plan(pipeline, order, status, notes))
    return 0
