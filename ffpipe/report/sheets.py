"""Contact sheets of a matrix run: per step, a grid with the matrix axes as rows and columns.

Two axes give rows x columns; one axis gives a single row; with more, the first axis makes the
rows and the combinations of the rest the columns. A combination the matrix excludes is an empty
cell.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Sheet:
    """One step's grid: labels of rows and columns, and the instance id in each cell."""

    step: str
    row_axis: str
    column_axes: tuple[str, ...]
    rows: list[str]
    columns: list[str]
    cells: list[list[str | None]]


def label(value: Any) -> str:
    """How a matrix value is shown: a path by its file name, the rest as written."""
    if isinstance(value, str):
        return os.path.basename(value) if "/" in value else value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True)


def contact_sheets(
    order: Sequence[str], steps: Mapping[str, Mapping[str, Any]], axes: Sequence[str]
) -> list[Sheet]:
    """A sheet per step that the matrix fans out, in file order."""
    by_step: dict[str, list[str]] = {}
    for node in order:
        record = steps.get(node, {})
        if record.get("matrix"):
            by_step.setdefault(str(record.get("step", node)), []).append(node)
    return [_sheet(step, nodes, steps, axes) for step, nodes in by_step.items()]


def _sheet(
    step: str, nodes: list[str], steps: Mapping[str, Mapping[str, Any]], axes: Sequence[str]
) -> Sheet:
    used = [axis for axis in axes if any(axis in steps[node]["matrix"] for node in nodes)]
    if len(used) == 1:
        row_axis, column_axes = "", (used[0],)
    else:
        row_axis, column_axes = used[0], tuple(used[1:])

    def row_of(node: str) -> str:
        return label(steps[node]["matrix"].get(row_axis)) if row_axis else ""

    def column_of(node: str) -> str:
        matrix = steps[node]["matrix"]
        return ", ".join(label(matrix.get(axis)) for axis in column_axes)

    rows = list(dict.fromkeys(row_of(node) for node in nodes))
    columns = list(dict.fromkeys(column_of(node) for node in nodes))
    cells: list[list[str | None]] = [[None] * len(columns) for _ in rows]
    for node in nodes:
        cells[rows.index(row_of(node))][columns.index(column_of(node))] = node
    return Sheet(step, row_axis, column_axes, rows, columns, cells)
