"""Finding dependency cycles, one per strongly connected group, as readable paths."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import networkx as nx


def find_cycles(needs: Mapping[str, Iterable[str]], order: Sequence[str]) -> list[list[str]]:
    """One cycle per group of nodes that depend on each other, as ``[a, b, a]``.

    ``needs`` maps a node to the nodes it depends on; ``order`` (file order) picks where each
    reported cycle starts, so reports are stable.
    """
    graph = nx.DiGraph()
    graph.add_nodes_from(order)
    for node, deps in needs.items():
        graph.add_edges_from((dep, node) for dep in deps if dep in graph)
    rank = {node: index for index, node in enumerate(order)}
    cycles = []
    for group in nx.strongly_connected_components(graph):
        start = min(group, key=lambda node: rank.get(node, len(rank)))
        if len(group) == 1 and not graph.has_edge(start, start):
            continue
        edges = nx.find_cycle(graph.subgraph(group), source=start)
        path = [edge[0] for edge in edges]
        first = min(range(len(path)), key=lambda i: rank.get(path[i], len(rank)))
        path = path[first:] + path[:first]
        cycles.append([*path, path[0]])
    cycles.sort(key=lambda cycle: rank.get(cycle[0], len(rank)))
    return cycles
