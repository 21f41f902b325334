"""Contact sheets of a matrix run: per step, a grid with the matrix axes as rows and columns.

Two axes give rows x columns; one axis gives a single row; with more, the first axis makes the
rows and the combinations of the rest the columns. A combination the matrix excludes is an empty
cell.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ffpipe.axis_labels import axis_labels, value_key


@dataclass(frozen=True)
class Sheet:
    """One step's grid: labels of rows and columns, and the instance id in each cell."""

    step: str
    row_axis: str
    column_axes: tuple[str, ...]
    rows: list[str]
    columns: list[str]
    cells: list[list[str | None]]


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

    # The labels of the instance ids: two values that look alike are told apart the same way.
    labels = {axis: axis_labels(steps[node]["matrix"].get(axis) for node in nodes) for axis in used}

    def shown(node: str, axis: str) -> str:
        return labels[axis][value_key(steps[node]["matrix"].get(axis))]

    def row_of(node: str) -> str:
        return shown(node, row_axis) if row_axis else ""

    def column_of(node: str) -> str:
        return ", ".join(shown(node, axis) for axis in column_axes)

    rows = list(dict.fromkeys(row_of(node) for node in nodes))
    columns = list(dict.fromkeys(column_of(node) for node in nodes))
    cells: list[list[str | None]] = [[None] * len(columns) for _ in rows]
    for node in nodes:
        cells[rows.index(row_of(node))][columns.index(column_of(node))] = node
    return Sheet(step, row_axis, column_axes, rows, columns, cells)
