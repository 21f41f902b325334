"""The runs table: one row per run, with the parameters and inputs that set it apart.

Each row names what the run used, as ``step.name`` columns (a pipeline param is
``params.name``); :func:`varying_columns` keeps only those whose value is not the same in every
row listed, because a table of every parameter is too wide to read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ffpipe.report.runs import RunRecord

FAILED_STATUSES = frozenset({"failed"})


@dataclass
class RunRow:
    """What ``ffpipe runs`` says of one run."""

    run_id: str
    started: float
    pipeline: str
    status: str
    ran: int
    cached: int
    failed: int
    duration: float
    commit: str | None
    dirty: bool
    values: dict[str, str] = field(default_factory=dict)
    """``step.param`` / ``step.input`` / ``params.name`` -> the value the run used."""
    changed: list[str] = field(default_factory=list)
    """The value columns that differ from the previous run of the same pipeline."""

    def to_dict(self) -> dict[str, Any]:
        """The row as ``--json`` prints it."""
        return {
            "run_id": self.run_id,
            "started": self.started,
            "pipeline": self.pipeline,
            "status": self.status,
            "ran": self.ran,
            "cached": self.cached,
            "failed": self.failed,
            "duration": self.duration,
            "git": {"commit": self.commit, "dirty": self.dirty} if self.commit else None,
            "values": self.values,
            "changed": self.changed,
        }


def run_rows(records: Iterable[RunRecord], pipelines: Sequence[str] = ()) -> list[RunRow]:
    """The rows of ``records`` (oldest first), only of ``pipelines`` when some are named.

    A pipeline may be named by its name or by its file (``portrait.yaml``).
    """
    rows: list[RunRow] = []
    last_values: dict[str, dict[str, str]] = {}
    for record in records:
        if pipelines and not _names(record, pipelines):
            continue
        row = _row(record)
        before = last_values.get(row.pipeline)
        if before is not None:
            keys = sorted(set(before) | set(row.values))
            row.changed = [key for key in keys if before.get(key) != row.values.get(key)]
        last_values[row.pipeline] = row.values
        rows.append(row)
    return rows


def varying_columns(rows: Sequence[RunRow]) -> list[str]:
    """The value columns whose value is not the same in every row, in a stable order."""
    keys = sorted({key for row in rows for key in row.values})
    return [key for key in keys if len({row.values.get(key) for row in rows}) > 1]


def _names(record: RunRecord, pipelines: Sequence[str]) -> bool:
    file = Path(str(record.document.get("file", "")))
    return any(wanted == record.pipeline or _same_file(Path(wanted), file) for wanted in pipelines)


def _same_file(wanted: Path, recorded: Path) -> bool:
    try:
        return wanted.resolve() == recorded.resolve()
    except OSError:
        return False


def _row(record: RunRecord) -> RunRow:
    document = record.document
    counts = {"ran": 0, "cached": 0, "failed": 0}
    for step in record.steps.values():
        status = str(step.get("status", ""))
        if status.startswith("cached"):
            counts["cached"] += 1
        elif status in counts:
            counts[status] += 1
    git = document.get("git") if isinstance(document.get("git"), dict) else {}
    return RunRow(
        run_id=record.run_id,
        started=record.started,
        pipeline=record.pipeline,
        status=str(document.get("status", "")),
        duration=float(document.get("duration") or 0.0),
        commit=git.get("commit"),
        dirty=bool(git.get("dirty")),
        values=run_values(record),
        **counts,
    )


def run_values(record: RunRecord) -> dict[str, str]:
    """Every parameter and input of a run as ``step.name`` -> value (matrix instances of a step
    that differ list their values, ``a | b``)."""
    seen: dict[str, list[str]] = {}
    for name, value in sorted((record.document.get("params") or {}).items()):
        seen.setdefault(f"params.{name}", []).append(_text(value))
    for node, step in record.steps.items():
        prefix = str(step.get("step") or node)
        for name, value in (step.get("params") or {}).items():
            if name in (step.get("inputs") or {}):
                continue
            _add(seen, f"{prefix}.{name}", _text(value))
        for name, entry in (step.get("inputs") or {}).items():
            _add(seen, f"{prefix}.{name}", input_label(entry))
    return {key: " | ".join(values) for key, values in sorted(seen.items())}


def input_label(entry: Mapping[str, Any]) -> str:
    """An input as a person tells it apart: its file name and the start of its digest."""
    name = Path(str(entry.get("path") or "")).name
    digest = str(entry.get("digest") or "").rsplit(":", 1)[-1][:8]
    return f"{name}@{digest}" if name else digest


def _add(seen: dict[str, list[str]], key: str, value: str) -> None:
    values = seen.setdefault(key, [])
    if value not in values:
        values.append(value)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
