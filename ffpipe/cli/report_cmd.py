"""``ffpipe report [RUN_ID]``: write the HTML report of a run (default: the latest).

The report is one folder (``<workspace>/runs/<id>/report/`` unless ``--out DIR``): ``index.html``,
the thumbnails it shows and copies of the files it links to, all by relative links, so the
folder opens as it is wherever it is copied (a CI artifact, say).

Exit codes: 0 written; 2 no such run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ffpipe.cli import options
from ffpipe.errors import UserError


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", nargs="?", metavar="RUN_ID", help="a run id (default: latest)")
    options.add_workspace(parser)
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="report folder (default: the run's own folder)"
    )
    parser.add_argument(
        "--compare",
        nargs=2,
        metavar=("RUN_A", "RUN_B"),
        help="write the compare page of two runs (ffpipe diff --html) as compare.html beside "
        "RUN_B's report, linked from it",
    )


def run(args: argparse.Namespace) -> int:
    from ffpipe.cli.context import default_workspace, project_here

    workspace = args.workspace or default_workspace(project_here())
    if args.compare is not None:
        if args.run_id is not None:
            raise UserError("give either RUN_ID or --compare RUN_A RUN_B, not both")
        print(write_comparison(workspace, *args.compare, out=args.out))
        return 0
    print(write(workspace, args.run_id, args.out))
    return 0


def write_comparison(workspace_root: Path, run_a: str, run_b: str, out: Path | None) -> Path:
    """Write RUN_B's report with the compare page of RUN_A and RUN_B beside it, as
    ``compare.html``; returns the compare page's path."""
    from ffpipe.cache.workspace import Workspace
    from ffpipe.report import RunNotFound, write_report
    from ffpipe.report.compare import compare_runs, pick_runs
    from ffpipe.report.compare_page import write_compare_page

    with Workspace(workspace_root) as workspace:
        try:
            a, b = pick_runs(workspace.runs_dir, run_a, run_b)
            comparison = compare_runs(workspace.objects, a, b)
            page = write_report(workspace, b.run_id, out, compare_href="compare.html")
        except RunNotFound as error:
            raise UserError(str(error)) from None
        return write_compare_page(comparison, page.parent, name="compare.html")


def write(workspace_root: Path, run_id: str | None = None, out: Path | None = None) -> Path:
    """Write a run's report and return the path of its page; a missing run is a user error."""
    from ffpipe.cache.workspace import Workspace
    from ffpipe.report import RunNotFound, write_report

    with Workspace(workspace_root) as workspace:
        try:
            return write_report(workspace, run_id, out)
        except RunNotFound as error:
            raise UserError(str(error)) from None
