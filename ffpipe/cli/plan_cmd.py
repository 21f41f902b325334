"""``ffpipe plan FILE``: the steps in run order with their op, parameters and matrix values,
and whether each will run and why.

When nothing changed since the last completed run (see :mod:`ffpipe.run.noop`), the plan printed
then is printed again without loading the pipeline.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ffpipe.cli import options
from ffpipe.cli.context import Invocation
from ffpipe.cli.engine_options import BUILTIN, add_engine_arguments


def register(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``ffpipe plan``."""
    parser.add_argument("file", type=Path, metavar="FILE", help="pipeline file")
    options.add_selection(parser, "plan")
    parser.add_argument(
        "--downstream", action="store_true", help="with --target, also plan what follows it"
    )
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    options.add_fuse(parser)
    options.add_params(parser)
    options.add_workspace(parser)
    options.add_server(parser)
    add_engine_arguments(parser)
    options.add_remote(parser)
    options.add_cluster(parser)


def run(args: argparse.Namespace) -> int:
    """Print the plan."""
    from ffpipe.run import noop

    invocation = Invocation.of(args, [args.file])
    granted = invocation.granted_loading()
    state = noop.State.of(
        args.file, invocation.params, invocation.workspace, not args.no_fuse, granted
    )
    shape = _shape(args, invocation)
    run_id = None
    if _replayable(args, invocation):
        stamp = noop.valid_stamp(state)
        run_id = stamp["run_id"] if stamp is not None else None
        kept = noop.kept_plan(state, shape, run_id) if run_id is not None else None
        if kept is not None:
            print(kept)
            return 0
    from ffpipe.cli.plan_format import full_plan

    output = full_plan(args, invocation)
    if run_id is not None:
        noop.record_plan(state, shape, run_id, output)
    print(output)
    return 0


def _replayable(args: argparse.Namespace, invocation: Invocation) -> bool:
    if args.force or args.force_all or invocation.uses_server():
        return False
    if invocation.engine.name != BUILTIN:
        return False
    return invocation.workspace.is_dir()


def _shape(args: argparse.Namespace, invocation: Invocation) -> dict[str, Any]:
    return {
        "targets": args.target,
        "downstream": args.downstream,
        "json": args.json,
        "cluster": invocation.cluster_address,
    }
