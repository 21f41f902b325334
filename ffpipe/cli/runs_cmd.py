"""``ffpipe runs [PIPELINE ...]`` and ``ffpipe runs gc``: list run records, prune them.

The list has one line per run, oldest first: its id, when it started, the pipeline, how many
steps ran, were cached or failed, how long it took, the git commit (``+`` when the tree was
edited) and the parameters and inputs it used. Only the columns whose value is not the same on
every line are shown (``--all`` shows them all); a value that changed since the previous run of
the same pipeline is marked ``*``. ``--json`` prints one JSON document per run.

Exit codes: 0 listed (also when there is no run yet); 2 a bad argument.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ffpipe.cli import options
from ffpipe.words import plural

if TYPE_CHECKING:
    from ffpipe.report.history import RunRow
from ffpipe.errors import UserError

VALUE_WIDTH = 28
"""Characters of a value shown in the table; --json has them whole."""
DEFAULT_LIMIT = 20


def register(parser: argparse.ArgumentParser) -> None:
    options.add_workspace(parser)
    parser.add_argument(
        "pipelines",
        nargs="*",
        metavar="PIPELINE",
        help="only runs of these pipelines (a name or its file); 'gc' prunes the run records",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document per run")
    parser.add_argument(
        "--all", action="store_true", help="every column, also those the same on every line"
    )
    parser.add_argument(
        "-n",
        "--limit",
        type=options.positive_int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"the last N runs (default {DEFAULT_LIMIT}); gc: keep N runs of each pipeline",
    )
    parser.add_argument(
        "--older-than",
        type=options.duration,
        metavar="AGE",
        help="gc: remove runs finished more than AGE ago (e.g. 30d, 12h)",
    )
    parser.add_argument(
        "--keep",
        type=options.positive_int,
        metavar="N",
        help="gc: keep the newest N runs of each pipeline",
    )
    parser.add_argument("--dry-run", action="store_true", help="gc: say what would go only")


def _workspace(args: argparse.Namespace) -> Path:
    """``--workspace``, else the one the project of the current folder uses."""
    from ffpipe.cli.context import default_workspace, project_here

    return Path(args.workspace or default_workspace(project_here()))


def run(args: argparse.Namespace) -> int:
    if args.pipelines[:1] == ["gc"]:
        return _collect(args)
    if args.keep is not None or args.older_than is not None or args.dry_run:
        raise UserError("--keep, --older-than and --dry-run belong to 'ffpipe runs gc'")
    from ffpipe.report.history import run_rows
    from ffpipe.report.runs import all_runs

    workspace = _workspace(args)
    rows = run_rows(all_runs(workspace / "runs"), args.pipelines)[-args.limit :]
    if args.json:
        for row in rows:
            print(json.dumps(row.to_dict(), sort_keys=True))
        return 0
    if not rows:
        print(f"no runs in {workspace} yet (ffpipe run records one per run)")
        return 0
    print(table(rows, every_column=args.all))
    return 0


def table(rows: Sequence[RunRow], every_column: bool = False) -> str:
    """The runs as aligned text columns, only the varying ones unless ``every_column``."""
    from ffpipe.report.history import varying_columns

    fixed = {
        "run": [row.run_id for row in rows],
        "started": [_when(row.started) for row in rows],
        "pipeline": [row.pipeline for row in rows],
        "status": [_status(row) for row in rows],
        "time": [f"{row.duration:.1f}s" for row in rows],
        "commit": [(row.commit or "-")[:8] + ("+" if row.dirty else "") for row in rows],
    }
    always = {"run", "started", "status", "time"}
    columns = {
        name: cells
        for name, cells in fixed.items()
        if every_column or name in always or len(set(cells)) > 1
    }
    keys = sorted({k for row in rows for k in row.values}) if every_column else None
    for key in keys if keys is not None else varying_columns(rows):
        columns[key] = [_cell(row.values.get(key, "-"), key in row.changed) for row in rows]
    widths = {
        name: max(len(name), *(len(cell) for cell in cells)) for name, cells in columns.items()
    }
    lines = ["  ".join(name.ljust(widths[name]) for name in columns).rstrip()]
    for index in range(len(rows)):
        cells = (columns[name][index].ljust(widths[name]) for name in columns)
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _cell(value: str, changed: bool) -> str:
    shown = value if len(value) <= VALUE_WIDTH else value[: VALUE_WIDTH - 1] + "…"
    return f"*{shown}" if changed else shown


def _when(started: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started else "-"


def _status(row: RunRow) -> str:
    parts = [f"{row.ran} ran", f"{row.cached} cached"]
    if row.failed:
        parts.append(f"{row.failed} failed")
    return ("" if row.status == "ok" else f"{row.status}: ") + ", ".join(parts)


def _collect(args: argparse.Namespace) -> int:
    from ffpipe.report.run_retention import prune_runs

    if len(args.pipelines) > 1:
        raise UserError("'ffpipe runs gc' takes no pipeline: it prunes the runs of all of them")
    if args.keep is None and args.older_than is None:
        raise UserError("say what to keep: ffpipe runs gc --keep N and/or --older-than AGE")
    report = prune_runs(
        _workspace(args) / "runs",
        keep=args.keep,
        older_than=args.older_than,
        dry_run=args.dry_run,
    )
    verb = "would remove" if args.dry_run else "removed"
    count = len(report.removed)
    print(
        f"{verb} {plural(count, 'run')} ({report.freed_bytes / 1e6:.1f} MB), "
        f"kept {plural(report.kept, 'run')}"
    )
    for run_id in report.removed:
        print(f"  {run_id}")
    return 0
