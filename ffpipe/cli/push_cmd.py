"""``ffpipe push [FILE ...]``: upload steps to the remote cache.

With pipeline files, the steps of each that the workspace holds (as ``plan`` would find them);
without, every entry in the workspace. Objects go up before the entries that name them, and only
those the remote lacks. Exit codes: 0 pushed; 1 some steps of a pipeline are not in the local
cache (the rest were pushed); 2 no remote configured, or ``--require-remote`` and it failed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ffpipe.cli import options, remote_support
from ffpipe.cli.context import Invocation
from ffpipe.cli.engine_options import add_engine_arguments


def register(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``ffpipe push``."""
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE", help="pipeline files")
    options.add_params(parser)
    options.add_workspace(parser)
    options.add_server(parser)
    options.add_remote(parser)
    parser.add_argument("-j", "--jobs", type=options.positive_int, help="transfers at once")
    add_engine_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Push, and say what moved."""
    from ffpipe.cache.workspace import Workspace
    from ffpipe.run.reporters import make_reporter

    invocation = Invocation.of(args, args.files)
    url = invocation.needed_remote_url()
    if not invocation.workspace.is_dir():
        print(f"no cache at {invocation.workspace}: nothing to push")
        return 0
    with Workspace(invocation.workspace) as workspace:
        entries, missing = [], []
        for file in args.files:
            found, absent = remote_support.pipeline_entries(file, invocation, workspace, None)
            entries += found
            missing += [f"{file}: {node}" for node in absent]
        if not args.files:
            entries = list(workspace.steps.entries())
        for node in missing:
            print(f"not in the local cache (run it first): {node}")
        report = remote_support.push(
            workspace,
            url,
            entries,
            jobs=invocation.transfers(),
            require=invocation.require_remote,
            emit=make_reporter(),
        )
    if report is None:
        return 0
    print(remote_support.describe(report, "pushed"))
    return 1 if missing else 0
