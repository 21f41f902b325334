"""Finding run records in a workspace: a given run, the latest, the one before it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class RunNotFound(LookupError):
    """No run record with that id (or none at all) in the workspace."""


@dataclass(frozen=True)
class RunRecord:
    """A run's ``run.json`` and the folder it lives in."""

    folder: Path
    document: dict[str, Any]

    @property
    def run_id(self) -> str:
        return str(self.document.get("run_id", self.folder.name))

    @property
    def pipeline(self) -> str:
        return str(self.document.get("pipeline", ""))

    @property
    def started(self) -> float:
        return float(self.document.get("started") or 0.0)

    @property
    def steps(self) -> dict[str, dict[str, Any]]:
        steps = self.document.get("steps", {})
        return steps if isinstance(steps, dict) else {}


def _load(folder: Path) -> RunRecord | None:
    try:
        document = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return RunRecord(folder, document) if isinstance(document, dict) else None


def finished_runs(runs_dir: Path) -> list[Path]:
    """Run folders with a run.json, in the order they finished (run ids sort by the second they
    started, so two runs within one second need the record's own time to tell)."""
    if not runs_dir.is_dir():
        return []
    records = runs_dir.glob("*/run.json")
    return [path.parent for path in sorted(records, key=lambda p: (p.stat().st_mtime_ns, p))]


def all_runs(runs_dir: Path) -> list[RunRecord]:
    """Every readable finished run, oldest first (an unreadable run.json is left out)."""
    return [record for folder in finished_runs(runs_dir) if (record := _load(folder))]


def find_run(runs_dir: Path, run_id: str | None = None) -> RunRecord:
    """The run ``run_id`` (a unique prefix will do), or the latest finished run."""
    folders = finished_runs(runs_dir)
    if run_id is not None:
        folders = [folder for folder in folders if folder.name.startswith(run_id)]
        if len(folders) > 1 and not any(folder.name == run_id for folder in folders):
            names = ", ".join(folder.name for folder in folders[:5])
            raise RunNotFound(f"run id {run_id!r} is ambiguous: {names}")
        folders = [f for f in folders if f.name == run_id] or folders
    if not folders:
        where = f"run {run_id!r}" if run_id else "no finished run"
        raise RunNotFound(f"{where} in {runs_dir} (ffpipe run writes one per run)")
    record = _load(folders[-1])
    if record is None:
        raise RunNotFound(f"the run record {folders[-1] / 'run.json'} cannot be read")
    return record


def previous_run(runs_dir: Path, record: RunRecord) -> RunRecord | None:
    """The latest run of the same pipeline before ``record``: what its parameters changed from."""
    finished = finished_runs(runs_dir)
    before = finished[: finished.index(record.folder)] if record.folder in finished else finished
    for folder in reversed(before):
        earlier = _load(folder)
        if earlier is not None and earlier.pipeline == record.pipeline:
            return earlier
    return None
