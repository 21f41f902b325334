"""``ffpipe run FILE [FILE ...]``: run pipelines, reusing every cached step.

Exit codes:
  0    every step ran or was cached, and the outputs were written
  1    a step failed (the others not downstream of it ran with --keep-going)
  2    a user error: a bad pipeline, argument or input (reported with its location), also
       when found only as the run reached it (a value rendered from an earlier step's result)
  130  interrupted (Ctrl-C); finished steps stay cached, no partial object is left

The workspace is ``.ffpipe/`` in the pipeline's project root (``--workspace DIR`` or
FFPIPE_WORKSPACE); outputs go to ``out/<pipeline name>/`` there (``--out DIR`` replaces ``out``);
see :mod:`ffpipe.cli.context`. A run where nothing
changed since the last completed one is answered from its stamp (:mod:`ffpipe.run.noop`),
without contacting a remote cache. With a remote configured, steps the workspace lacks are
fetched from it (``--no-pull`` turns that off) and ``--push`` uploads the run's steps. With
``--cluster ADDRESS`` (or ``FFPIPE_CLUSTER``, ``[cluster] scheduler``) the steps that must run go
to a Dask cluster's workers over the remote cache (:mod:`ffpipe.run.cluster`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ffpipe.cli import options
from ffpipe.cli.context import Invocation
from ffpipe.cli.engine_options import BUILTIN, add_engine_arguments
from ffpipe.errors import ExitCode, UserError

if TYPE_CHECKING:
    from ffpipe.cache.workspace import Workspace
    from ffpipe.run import noop
    from ffpipe.run.reporters import Reporter
    from ffpipe.run.runner import RunSummary


def register(parser: argparse.ArgumentParser) -> None:
    options.add_pipeline_files(parser)
    options.add_params(parser)
    options.add_workspace(parser)
    parser.add_argument(
        "--out", type=Path, help="output root (default: out/ in the pipeline's project)"
    )
    parser.add_argument(
        "-j", "--jobs", type=options.positive_int, help="steps at once (default: the backend's)"
    )
    options.add_selection(parser, "run")
    parser.add_argument(
        "--keep-going", action="store_true", help="after a failure, run all it does not block"
    )
    parser.add_argument(
        "--no-lock",
        action="store_true",
        help="do not write <pipeline>.lock beside the pipeline (e.g. for throwaway runs)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON event per line")
    parser.add_argument(
        "--report", action="store_true", help="also write each run's HTML report (ffpipe report)"
    )
    options.add_fuse(parser)
    options.add_server(parser)
    options.add_remote(parser, run=True)
    options.add_cluster(parser)
    parser.add_argument(
        "--strict-models",
        action="store_true",
        help="refuse model stand-ins (builtin) or missing model files (facefusion)",
    )
    add_engine_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run each pipeline; answer at once from the last run's stamp when nothing changed."""
    from ffpipe.run import noop
    from ffpipe.run.reporters import make_reporter

    invocation = Invocation.of(args, args.files)
    reporter = make_reporter(json_lines=args.json, verbose=bool(getattr(args, "verbose", 0)))
    state = _fast_state(args, invocation)
    shape = noop.RunShape(
        out_dir=invocation.out_root,
        jobs=args.jobs,
        write_lock=not args.no_lock,
        strict_models=args.strict_models,
    )
    replayed = noop.replay_run(state, shape, reporter) if state is not None else None
    if replayed is not None:
        if args.report:
            _report(args, invocation, replayed)
        sys.stdout.flush()
        return ExitCode.OK
    return _full_run(args, invocation, reporter, state, shape)


def _fast_state(args: argparse.Namespace, invocation: Invocation) -> noop.State | None:
    """The fast path's key for this call, or None when it cannot apply."""
    from ffpipe.run import noop

    if len(args.files) != 1 or args.target or args.force or args.force_all:
        return None
    if invocation.engine.name != BUILTIN:
        return None
    if args.push or args.require_remote:  # both ask to contact the remote
        return None
    if invocation.uses_server():
        return None
    return noop.State.of(
        args.files[0],
        invocation.params,
        invocation.workspace,
        not args.no_fuse,
        invocation.granted_loading(),
    )


def _full_run(
    args: argparse.Namespace,
    invocation: Invocation,
    reporter: Reporter,
    state: noop.State | None,
    shape: noop.RunShape,
) -> int:
    from ffpipe.cache.workspace import Workspace
    from ffpipe.cli.cluster_support import open_cluster
    from ffpipe.run import noop
    from ffpipe.run.runner import RunOptions, run_pipeline
    from ffpipe.run.statuses import RunStatus

    # Taken before loading: an edit while loading then makes the next run take the full pass.
    signature = noop.signature(args.files[0]) if state is not None else None
    environment = noop.environment_digest()
    if state is not None:
        noop.forget(state)
    pipelines = [invocation.load(path) for path in args.files]
    names = [pipeline.name for pipeline in pipelines]
    if len(set(names)) != len(names):
        raise UserError("two of the pipelines have the same name; their outputs would collide")
    workspace = Workspace(invocation.workspace)
    on_cluster = invocation.cluster_address is not None
    # On a cluster the workers run the engine; here it only names the keys.
    backend = invocation.make_backend(strict_models=args.strict_models, start=not on_cluster)
    cluster = None
    exit_code = ExitCode.OK
    try:
        cluster = open_cluster(invocation, strict_models=args.strict_models)
        remote = invocation.remote_source(workspace, fetching=True) if args.pull else None
        for pipeline in pipelines:
            summary = run_pipeline(
                pipeline,
                workspace,
                backend,
                RunOptions(
                    jobs=args.jobs,
                    targets=tuple(args.target),
                    force=tuple(args.force),
                    force_all=args.force_all,
                    keep_going=args.keep_going,
                    out_dir=invocation.out_dir(pipeline.name),
                    fuse=not args.no_fuse,
                    write_lock=not args.no_lock,
                ),
                reporter,
                remote,
                cluster,
            )
            if args.push:
                _push(args, invocation, workspace, summary, reporter)
            if args.report:
                _report(args, invocation, summary.run_id)
            if state is not None and summary.stamp is not None:
                noop.record_run(
                    state,
                    shape,
                    pipeline_signature=signature,
                    environment=environment,
                    stamp=summary.stamp,
                )
            if summary.status != RunStatus.OK:
                # A step that failed on the pipeline's own mistake is the user's to fix.
                failed = ExitCode.USER_ERROR if summary.user_error else ExitCode.FAILED
                exit_code = max(exit_code, failed)
                if not args.keep_going:
                    break
    finally:
        if cluster is not None:
            cluster.close()
        backend.close()
    sys.stdout.flush()
    return exit_code


def _push(
    args: argparse.Namespace,
    invocation: Invocation,
    workspace: Workspace,
    summary: RunSummary,
    reporter: Reporter,
) -> None:
    """Upload the entries of the steps this run ran or reused."""
    from ffpipe.cli import remote_support
    from ffpipe.run.statuses import StepStatus

    keys = {
        o.key
        for o in summary.steps.values()
        if o.key and o.status in (StepStatus.RAN, StepStatus.CACHED)
    }
    entries = [e for key in sorted(keys) if (e := workspace.steps.get(key, mark_used=False))]
    report = remote_support.push(
        workspace,
        invocation.needed_remote_url(),
        entries,
        jobs=invocation.transfers(),
        require=invocation.require_remote,
        emit=reporter,
    )
    if report is not None and not args.json:
        print(remote_support.describe(report, "pushed"))


def _report(args: argparse.Namespace, invocation: Invocation, run_id: str | None) -> None:
    """Write the report of run ``run_id`` (None: the latest run)."""
    from ffpipe.cli import report_cmd

    try:
        page = report_cmd.write(invocation.workspace, run_id)
    except Exception as error:  # the run is done and recorded: a report must never fail it
        print(f"warning: report not written: {type(error).__name__}: {error}", file=sys.stderr)
        return
    if args.json:
        print(json.dumps({"kind": "report", "path": str(page)}), flush=True)
    else:
        print(f"report: {page}", flush=True)
