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


def run(args: argparse.Namespace) -> int:
    from ffpipe.cli.context import default_workspace, project_here

    workspace = args.workspace or default_workspace(project_here())
    print(write(workspace, args.run_id, args.out))
    return 0


def write(workspace_root: Path, run_id: str | None = None, out: Path | None = None) -> Path:
    """Write a run's report and return the path of its page; a missing run is a user error."""
    from ffpipe.cache.workspace import Workspace
    from ffpipe.report import RunNotFound, write_report

    with Workspace(workspace_root) as workspace:
        try:
            return write_report(workspace, run_id, out)
        except RunNotFound as error:
            raise UserError(str(error)) from None
