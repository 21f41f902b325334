"""Imports run one way (docs/architecture.md, "Which way imports run"): every ``ffpipe.*`` import
of every module, read with ``ast`` without importing anything.

Module-level and function-level imports count alike: a lazy import is still a dependency.
Imports under ``if TYPE_CHECKING:`` count too: a type named in a signature ties the module to the
layer that defines it as much as a call does, and exempting them would let a low layer grow a
dependency on a high one that only shows when someone removes the guard.

Within a layer, modules may import each other, but never in a circle (counted the same way).
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ffpipe"

BOTTOM = frozenset(
    {
        "ffpipe",
        "ffpipe.errors",
        "ffpipe.media",
        "ffpipe.project",
        "ffpipe.units",
        "ffpipe.axis_labels",
        "ffpipe.words",
    }
)
"""Imported by every layer; they import only each other."""

LAYERS: dict[str, frozenset[str]] = {
    "catalog": frozenset(),
    "pipeline": frozenset({"catalog"}),
    "engine": frozenset({"catalog"}),
    "engine.builtin": frozenset({"engine"}),
    "engine.facefusion": frozenset({"engine"}),
    "graph": frozenset({"pipeline"}),
    "cache": frozenset(),
    "backends.base": frozenset(),
    "backends": frozenset({"backends.base", "catalog"}),
    "backends.local": frozenset({"backends", "engine.builtin"}),
    "run": frozenset({"pipeline", "graph", "cache", "backends.base"}),
    "server": frozenset({"engine", "catalog"}),
    "report": frozenset({"cache"}),
    "cli": frozenset(
        {"catalog", "pipeline", "engine", "graph", "cache", "backends", "backends.local", "run"}
        | {"engine.builtin", "engine.facefusion", "server", "report"}
    ),
    "__main__": frozenset({"cli"}),
}
"""Layer -> the layers it builds on directly (what those build on is allowed too).

``backends.base`` is the Backend protocol, the only part of the backends the runner sees; the
package's ``make_backend`` builds the local backend, so it sits with ``backends.local``.
``report`` reads run records and cache objects from the workspace; only the CLI calls it.
``engine`` is the contract (``engine/api.py`` and the package itself); the two engines build on it
and never on each other.
"""

SUBLAYERS = ("backends", "engine")
"""Packages whose subpackages (or modules) named in LAYERS are layers of their own."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str | None:
    """The layer of an ``ffpipe`` module; None for the bottom modules."""
    if module in BOTTOM:
        return None
    parts = module.split(".")
    if module == "ffpipe.backends":
        return "backends.local"
    if parts[1] in SUBLAYERS and len(parts) > 2 and f"{parts[1]}.{parts[2]}" in LAYERS:
        return f"{parts[1]}.{parts[2]}"
    return parts[1]


@cache
def below(layer: str) -> frozenset[str]:
    """Every layer ``layer`` may import: its own, those it builds on, and theirs."""
    found = {layer}
    for lower in LAYERS[layer]:
        found |= below(lower)
    return frozenset(found)


def imported(path: Path, module: str) -> list[tuple[int, str]]:
    """``(line, module)`` of every ``ffpipe`` import in the file, anywhere in it."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            # ``from ffpipe.engine.builtin import capabilities`` reaches the submodule, not the
            # package.
            names = [f"{base}.{alias.name}" for alias in node.names]
            names = [name if _is_module(name) else base for name in names]
        else:
            continue
        found += [(node.lineno, name) for name in names if name.split(".")[0] == "ffpipe"]
    return found


def _is_module(name: str) -> bool:
    relative = PACKAGE.parent.joinpath(*name.split("."))
    return relative.with_suffix(".py").is_file() or (relative / "__init__.py").is_file()


def violations() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        layer = layer_of(module)
        for line, target in imported(path, module):
            target_layer = layer_of(target)
            if target_layer is None:
                continue
            if layer is None or target_layer not in below(layer):
                where = f"{path.relative_to(PACKAGE.parent)}:{line}"
                found.append(f"{where}: {module} ({layer or 'bottom'}) imports {target}")
    return found


def import_graph() -> nx.DiGraph:
    """Module -> every ``ffpipe`` module it imports."""
    graph = nx.DiGraph()
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        graph.add_node(module)
        graph.add_edges_from((module, target) for _, target in imported(path, module))
    return graph


def circles(graph: nx.DiGraph) -> list[list[str]]:
    """One import circle, as a path, for every group of modules that import each other."""
    found = []
    for group in nx.strongly_connected_components(graph):
        start = min(group)
        if len(group) > 1 or graph.has_edge(start, start):
            edges = nx.find_cycle(graph.subgraph(group), source=start)
            found.append([source for source, _ in edges] + [start])
    return sorted(found)


def test_every_module_has_a_layer() -> None:
    layers = {layer_of(module_name(path)) for path in PACKAGE.rglob("*.py")} - {None}
    assert layers <= set(LAYERS), layers - set(LAYERS)


def test_imports_run_one_way() -> None:
    assert violations() == []


def test_no_import_circle() -> None:
    assert circles(import_graph()) == []


def test_a_circle_is_found() -> None:
    graph = nx.DiGraph([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("e", "e")])
    assert circles(graph) == [["a", "b", "c", "a"], ["e", "e"]]


@pytest.mark.parametrize(
    ("module", "target", "allowed"),
    [
        ("ffpipe.run.planner", "ffpipe.backends.base", True),
        ("ffpipe.run.planner", "ffpipe.backends.local", False),
        ("ffpipe.run.planner", "ffpipe.catalog.ops", True),
        ("ffpipe.catalog.ops", "ffpipe.pipeline", False),
        ("ffpipe.engine.builtin.engine", "ffpipe.media", True),
        ("ffpipe.engine.builtin.engine", "ffpipe.engine.api", True),
        ("ffpipe.engine.facefusion.arguments", "ffpipe.engine.api", True),
        ("ffpipe.engine.facefusion.arguments", "ffpipe.catalog.ops", True),
        ("ffpipe.engine.builtin.engine", "ffpipe.engine.facefusion.models", False),
        ("ffpipe.engine.facefusion.engine", "ffpipe.engine.builtin.images", False),
        ("ffpipe.engine.api", "ffpipe.engine.builtin", False),
        ("ffpipe.engine", "ffpipe.engine.facefusion", False),
        ("ffpipe.server.execute", "ffpipe.engine.builtin", False),
        ("ffpipe.backends.local", "ffpipe.engine.builtin.capabilities", True),
        ("ffpipe.backends.local", "ffpipe.engine.facefusion", False),
        ("ffpipe.cli.engine_options", "ffpipe.engine.facefusion", True),
        ("ffpipe.media", "ffpipe.engine", False),
        ("ffpipe.backends.gradio", "ffpipe.engine.api", False),
        ("ffpipe.backends.local", "ffpipe.engine.api", True),
        ("ffpipe.server.app", "ffpipe.run.planner", False),
        ("ffpipe.cache.gc", "ffpipe.pipeline", False),
    ],
)
def test_the_rule_itself(module: str, target: str, allowed: bool) -> None:
    layer, target_layer = layer_of(module), layer_of(target)
    assert (target_layer is None or (layer is not None and target_layer in below(layer))) is allowed
