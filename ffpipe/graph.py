"""The DAG of a loaded pipeline: building it, its run order, target selection and drawings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import networkx as nx

from ffpipe.errors import UserError
from ffpipe.pipeline import LoadedPipeline, PipelineErrors, SpecError
from ffpipe.pipeline.cycles import find_cycles
from ffpipe.pipeline.errors import did_you_mean


class UnknownTarget(UserError):
    """A ``--target`` (or ``--force``) that names no step or instance of the pipeline."""


def build_graph(pipeline: LoadedPipeline) -> nx.DiGraph:
    """Nodes are instance ids (with ``step`` and ``op`` attributes); an edge runs from a
    dependency to the instance that needs it. Raises located :class:`PipelineErrors` for
    unknown dependencies and cycles (shown as their path)."""
    graph = nx.DiGraph()
    for instance in pipeline.instances.values():
        graph.add_node(instance.id, step=instance.step, op=instance.op)
    errors = []
    for instance in pipeline.instances.values():
        for need in sorted(instance.needs):
            if need not in pipeline.instances:
                errors.append(
                    SpecError(
                        instance.location,
                        f"steps.{instance.step}",
                        f"{instance.id} needs unknown step {need!r}"
                        f"{did_you_mean(need, pipeline.instances)}",
                    )
                )
            else:
                graph.add_edge(need, instance.id)
    order = list(pipeline.instances)
    # The acyclic check is cheap; naming each cycle is not, and only needed when there is one.
    cycles = [] if nx.is_directed_acyclic_graph(graph) else find_cycles(_needs(pipeline), order)
    for cycle in cycles:
        first = pipeline.instances[cycle[0]]
        others = ", ".join(
            f"{node} at line {pipeline.instances[node].location.line}" for node in cycle[1:-1]
        )
        errors.append(
            SpecError(
                first.location,
                f"steps.{first.step}",
                "dependency cycle "
                + " -> ".join(cycle)
                + (f" ({others})" if others else " (the step depends on itself)"),
            )
        )
    if errors:
        try:
            sources = {errors[0].location.file: pipeline.path.read_text(encoding="utf-8")}
        except OSError:
            sources = {}
        raise PipelineErrors(errors, sources)
    return graph


def _needs(pipeline: LoadedPipeline) -> dict[str, Iterable[str]]:
    return {instance.id: instance.needs for instance in pipeline.instances.values()}


def generations(graph: nx.DiGraph) -> list[list[str]]:
    """Instances in run order: each list only needs instances of earlier lists (file order
    within a list)."""
    rank = {node: index for index, node in enumerate(graph.nodes)}
    return [sorted(group, key=rank.__getitem__) for group in nx.topological_generations(graph)]


def named_nodes(graph: nx.DiGraph, names: Sequence[str], option: str = "--target") -> set[str]:
    """The instances that ``names`` (step ids or instance ids) stand for.

    Raises :class:`UnknownTarget`, worded for the command-line ``option``, for a name that is
    neither a step nor an instance of the graph.
    """
    chosen: set[str] = set()
    steps: dict[str, list[str]] = {}
    for node, data in graph.nodes(data=True):
        steps.setdefault(data.get("step", node), []).append(node)
    for name in names:
        if name in graph:
            chosen.add(name)
        elif name in steps:
            chosen.update(steps[name])
        else:
            raise UnknownTarget(
                f"{option} {name}: no such step{did_you_mean(name, [*steps, *graph.nodes])}; "
                f"steps: {', '.join(steps)}"
            )
    return chosen


def select(graph: nx.DiGraph, targets: Sequence[str], downstream: bool = False) -> set[str]:
    """The instances needed to make ``targets`` (step ids or instance ids), and with
    ``downstream`` also every instance after them (plus what those need)."""
    chosen = named_nodes(graph, targets)
    if downstream:
        for node in list(chosen):
            chosen |= nx.descendants(graph, node)
    for node in list(chosen):
        chosen |= nx.ancestors(graph, node)
    return chosen


def to_mermaid(graph: nx.DiGraph, pipeline: LoadedPipeline) -> str:
    """The DAG as a mermaid flowchart."""
    ids = {node: f"n{index}" for index, node in enumerate(graph.nodes)}
    lines = ["flowchart TD", f"  %% {pipeline.name}"]
    for node, short in ids.items():
        label = f"{node}<br/>{graph.nodes[node].get('op', '?')}".replace('"', "#quot;")
        lines.append(f'  {short}["{label}"]')
    for source, target in graph.edges:
        lines.append(f"  {ids[source]} --> {ids[target]}")
    return "\n".join(lines) + "\n"


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _dot_quote(text: str) -> str:
    return f'"{_dot_escape(text)}"'


def to_dot(graph: nx.DiGraph, pipeline: LoadedPipeline) -> str:
    """The DAG in Graphviz dot."""
    lines = [f"digraph {_dot_quote(pipeline.name)} {{", "  rankdir=TB;", "  node [shape=box];"]
    for node in graph.nodes:
        op = _dot_escape(str(graph.nodes[node].get("op", "?")))
        # "\\n" is dot's own line break inside a label.
        lines.append(f'  {_dot_quote(node)} [label="{_dot_escape(node)}\\n({op})"];')
    for source, target in graph.edges:
        lines.append(f"  {_dot_quote(source)} -> {_dot_quote(target)};")
    lines.append("}")
    return "\n".join(lines) + "\n"
