"""``ffpipe run FILE [FILE ...]``: run pipelines, reusing every cached step.

Exit codes:
  0    every step ran or was cached, and the outputs were written
  1    a step failed (the others not downstream of it ran with --keep-going)
  2    a user error: a bad pipeline, argument or input (reported with its location), also
       when found only as the run reached it (a value rendered from an earlier step's result)
  130  interrupted (Ctrl-C); finished steps stay cached, no partial object is left

The workspace is ``.ffpipe/`` in the current folder (``--workspace DIR`` or FFPIPE_WORKSPACE);
outputs go to ``out/<pipeline name>/`` (``--out DIR`` replaces ``out``). A run where nothing
changed since the last completed one is answered from its stamp (:mod:`ffpipe.run.noop`),
without contacting a remote cache. With a remote configured, steps the workspace lacks are
fetched from it (``--no-pull`` turns that off) and ``--push`` uploads the run's steps.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ffpipe.cli import options
from ffpipe.cli.engine_options import add_engine_arguments, make_engine, start_engine
from ffpipe.errors import UserError

if TYPE_CHECKING:
    from ffpipe.cache.workspace import Workspace
    from ffpipe.run import noop
    from ffpipe.run.reporters import Reporter
    from ffpipe.run.runner import RunSummary

EXIT_OK = 0
EXIT_STEP_FAILED = 1
EXIT_USER_ERROR = UserError.exit_code


def register(parser: argparse.ArgumentParser) -> None:
    options.add_pipeline_files(parser)
    options.add_params(parser)
    options.add_workspace(parser)
    parser.add_argument("--out", type=Path, help="output root (default: out)")
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

    reporter = make_reporter(json_lines=args.json, verbose=bool(getattr(args, "verbose", 0)))
    state = _fast_state(args)
    shape = noop.RunShape(
        out_dir=args.out or Path("out"),
        jobs=args.jobs,
        write_lock=not args.no_lock,
        strict_models=args.strict_models,
    )
    replayed = noop.replay_run(state, shape, reporter) if state is not None else None
    if replayed is not None:
        if args.report:
            _report(args, replayed)
        sys.stdout.flush()
        return EXIT_OK
    return _full_run(args, reporter, state, shape)


def _fast_state(args: argparse.Namespace) -> noop.State | None:
    """The fast path's key for this call, or None when it cannot apply."""
    from ffpipe.run import noop

    if len(args.files) != 1 or args.target or args.force or args.force_all:
        return None
    if args.engine != "builtin":
        return None
    if args.push or args.require_remote:  # both ask to contact the remote
        return None
    if noop.uses_server(args.server, args.config):
        return None
    granted = options.granted_loading(args)
    return noop.State.of(args.files[0], args.params, args.workspace, not args.no_fuse, granted)


def _full_run(
    args: argparse.Namespace, reporter: Reporter, state: noop.State | None, shape: noop.RunShape
) -> int:
    from ffpipe.backends import make_backend
    from ffpipe.cache.workspace import Workspace
    from ffpipe.cli import remote_support
    from ffpipe.pipeline import load_pipeline, parse_overrides
    from ffpipe.run import noop
    from ffpipe.run.runner import RunOptions, run_pipeline

    # Taken before loading: an edit while loading then makes the next run take the full pass.
    signature = noop.signature(args.files[0]) if state is not None else None
    environment = noop.environment_digest()
    if state is not None:
        noop.forget(state)
    overrides = parse_overrides(args.params)
    pipelines = [load_pipeline(path, overrides, options.load_options(args)) for path in args.files]
    names = [pipeline.name for pipeline in pipelines]
    if len(set(names)) != len(names):
        raise UserError("two of the pipelines have the same name; their outputs would collide")
    workspace = Workspace(args.workspace)
    backend_options = {"strict_models": True} if args.strict_models else {}
    engine = make_engine(args, strict_models=args.strict_models)
    if engine is not None:
        if args.server:
            raise UserError("--engine facefusion runs in-process; it cannot be used with --server")
        backend_options = {}
        start_engine(engine)
    backend = make_backend(args.server, config=args.config, engine=engine, **backend_options)
    remote = remote_support.source(args, workspace, fetching=True) if args.pull else None
    exit_code = EXIT_OK
    try:
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
                    out_dir=(args.out or Path("out")) / pipeline.name,
                    fuse=not args.no_fuse,
                    write_lock=not args.no_lock,
                ),
                reporter,
                remote,
            )
            if args.push:
                _push(args, workspace, summary, reporter)
            if args.report:
                _report(args, summary.run_id)
            if state is not None and summary.stamp is not None:
                noop.record_run(
                    state,
                    shape,
                    pipeline_signature=signature,
                    environment=environment,
                    stamp=summary.stamp,
                )
            if summary.status != "ok":
                # A step that failed on the pipeline's own mistake is the user's to fix.
                failed = EXIT_USER_ERROR if summary.user_error else EXIT_STEP_FAILED
                exit_code = max(exit_code, failed)
                if not args.keep_going:
                    break
    finally:
        backend.close()
    sys.stdout.flush()
    return exit_code


def _push(
    args: argparse.Namespace, workspace: Workspace, summary: RunSummary, reporter: Reporter
) -> None:
    """Upload the entries of the steps this run ran or reused."""
    from ffpipe.cli import remote_support

    keys = {o.key for o in summary.steps.values() if o.key and o.status in ("ran", "cached")}
    entries = [e for key in sorted(keys) if (e := workspace.steps.get(key, mark_used=False))]
    report = remote_support.push(
        workspace,
        remote_support.needed_url(args),
        entries,
        jobs=remote_support.transfers(args),
        require=args.require_remote,
        emit=reporter,
    )
    if report is not None and not args.json:
        print(remote_support.describe(report, "pushed"))


def _report(args: argparse.Namespace, run_id: str | None) -> None:
    """Write the report of run ``run_id`` (None: the latest run)."""
    from ffpipe.cli import report_cmd

    page = report_cmd.write(args.workspace, run_id)
    if args.json:
        print(json.dumps({"kind": "report", "path": str(page)}), flush=True)
    else:
        print(f"report: {page}", flush=True)
