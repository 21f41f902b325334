"""The DAG of a run laid out for SVG: one column per generation, nodes stacked in file order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import networkx as nx

NODE_WIDTH = 210
NODE_HEIGHT = 62
COLUMN_GAP = 70
ROW_GAP = 18
MARGIN = 12
LABEL_CHARS = 30


@dataclass(frozen=True)
class Box:
    """A step drawn as a box: its id, place, status and what it says."""

    id: str
    x: int
    y: int
    status: str
    label: str
    detail: str
    sublabel: str = ""
    """A matrix instance's values (``photo=a.jpg, smile=0.6``) on a line of their own."""


@dataclass(frozen=True)
class Edge:
    """A curve from a needed step to the step that needs it, as an SVG path."""

    source: str
    target: str
    path: str


@dataclass(frozen=True)
class Layout:
    """Everything the SVG needs."""

    width: int
    height: int
    boxes: list[Box]
    edges: list[Edge]
    node_width: int = NODE_WIDTH
    node_height: int = NODE_HEIGHT


def shorten(text: str, limit: int = LABEL_CHARS) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis, so it fits its box."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def split_label(node: str) -> tuple[str, str]:
    """A matrix instance id ``smile[photo=a.jpg,smile=0.6]`` as its step and its values, each
    to fit a line of the box (the box's tooltip has the whole id)."""
    step, bracket, rest = node.partition("[")
    if not bracket or not rest.endswith("]"):
        return shorten(node), ""
    return shorten(step), shorten(rest[:-1].replace(",", ", "), LABEL_CHARS + 4)


def lay_out(
    steps: Sequence[str],
    needs: Mapping[str, Sequence[str]],
    status: Mapping[str, str],
    detail: Mapping[str, str],
) -> Layout:
    """Place ``steps`` (in file order) left to right by generation of the ``needs`` graph."""
    graph = nx.DiGraph()
    graph.add_nodes_from(steps)
    graph.add_edges_from(
        (need, step) for step in steps for need in needs.get(step, ()) if need in graph
    )
    order = {step: index for index, step in enumerate(steps)}
    place: dict[str, tuple[int, int]] = {}
    tallest = 0
    for column, generation in enumerate(nx.topological_generations(graph)):
        for row, step in enumerate(sorted(generation, key=order.__getitem__)):
            place[step] = (
                MARGIN + column * (NODE_WIDTH + COLUMN_GAP),
                MARGIN + row * (NODE_HEIGHT + ROW_GAP),
            )
        tallest = max(tallest, len(generation))
    columns = 1 + max((x for x, _ in place.values()), default=0) // (NODE_WIDTH + COLUMN_GAP)
    boxes = []
    for step in steps:
        label, sublabel = split_label(step)
        boxes.append(Box(step, *place[step], status[step], label, detail.get(step, ""), sublabel))
    edges = [_edge(source, target, place) for source, target in graph.edges]
    return Layout(
        width=2 * MARGIN + columns * NODE_WIDTH + (columns - 1) * COLUMN_GAP,
        height=2 * MARGIN + tallest * NODE_HEIGHT + max(tallest - 1, 0) * ROW_GAP,
        boxes=boxes,
        edges=edges,
    )


def _edge(source: str, target: str, place: Mapping[str, tuple[int, int]]) -> Edge:
    (x1, y1), (x2, y2) = place[source], place[target]
    start = (x1 + NODE_WIDTH, y1 + NODE_HEIGHT // 2)
    end = (x2, y2 + NODE_HEIGHT // 2)
    bend = (end[0] - start[0]) // 2
    path = (
        f"M{start[0]},{start[1]} C{start[0] + bend},{start[1]} "
        f"{end[0] - bend},{end[1]} {end[0]},{end[1]}"
    )
    return Edge(source, target, path)
