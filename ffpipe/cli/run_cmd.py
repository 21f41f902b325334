"""``ffpipe run FILE [FILE ...]``: run pipelines, reusing every cached step.

Exit codes:
  0    every step ran or was cached, and the outputs were written
  1    a step failed (the others not downstream of it ran with --keep-going)
  2    a user error: a bad pipeline, argument or input (reported with its location), also
       when found only as the run reached it (a value rendered from an earlier step's result)
  130  interrupted (Ctrl-C); finished steps stay cached, no partial object is left

The workspace is ``.ffpipe/`` in the current folder (``--workspace DIR`` or FFPIPE_WORKSPACE);
outputs go to ``out/<pipeline name>/`` (``--out DIR`` replaces ``out``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ffpipe.cli.validate_cmd import add_pipeline_arguments, load_options
from ffpipe.errors import UserError

HELP = "run a pipeline, reusing cached steps"
EXIT_OK = 0
EXIT_STEP_FAILED = 1
EXIT_USER_ERROR = UserError.exit_code


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="pipeline files")
    add_pipeline_arguments(parser)
    add_workspace_argument(parser)
    parser.add_argument("--out", type=Path, help="output root (default: out)")
    parser.add_argument("-j", "--jobs", type=int, help="steps at once (default: the backend's)")
    parser.add_argument(
        "--target", action="append", default=[], help="run only this step and its ancestors"
    )
    parser.add_argument(
        "--force", action="append", default=[], metavar="STEP", help="re-run STEP even if cached"
    )
    parser.add_argument("--force-all", action="store_true", help="ignore the cache entirely")
    parser.add_argument(
        "--keep-going", action="store_true", help="after a failure, run all it does not block"
    )
    parser.add_argument(
        "--no-lock",
        action="store_true",
        help="do not write <pipeline>.lock beside the pipeline (e.g. for throwaway runs)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON event per line")
    add_fuse_argument(parser)
    add_server_argument(parser)
    parser.add_argument(
        "--strict-models", action="store_true", help="refuse model stand-ins (local backend)"
    )


def add_server_argument(parser: argparse.ArgumentParser) -> None:
    """``--server URL``, defaulting to FFPIPE_SERVER; absent means the in-process engine."""
    parser.add_argument(
        "--server",
        default=os.environ.get("FFPIPE_SERVER") or None,
        metavar="URL",
        help="run on a catalog server (gradio) instead of in-process (default: $FFPIPE_SERVER, "
        "else the url in ffpipe.toml)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="server settings: url, auth_file, timeout, endpoint mapping (default: ./ffpipe.toml)",
    )


def add_fuse_argument(parser: argparse.ArgumentParser) -> None:
    """``--no-fuse``: run chained per-frame video steps one by one instead of in one pass."""
    parser.add_argument(
        "--no-fuse",
        action="store_true",
        help="run per-frame steps on a video one by one (one decode and encode each)",
    )


def add_workspace_argument(parser: argparse.ArgumentParser) -> None:
    """``--workspace DIR``, defaulting to FFPIPE_WORKSPACE or ``.ffpipe``."""
    parser.add_argument(
        "--workspace",
        type=Path,
        default=Path(os.environ.get("FFPIPE_WORKSPACE", ".ffpipe")),
        help="cache and run records (default: .ffpipe or $FFPIPE_WORKSPACE)",
    )


def run(args: argparse.Namespace) -> int:
    from ffpipe.backends import make_backend
    from ffpipe.cache.workspace import Workspace
    from ffpipe.run.reporters import make_reporter
    from ffpipe.run.runner import RunOptions, run_pipeline
    from ffpipe.spec import load_pipeline, parse_overrides

    if args.jobs is not None and args.jobs < 1:
        raise UserError("--jobs must be at least 1")
    overrides = parse_overrides(args.params)
    pipelines = [load_pipeline(path, overrides, load_options(args)) for path in args.files]
    names = [pipeline.name for pipeline in pipelines]
    if len(set(names)) != len(names):
        raise UserError("two of the pipelines have the same name; their outputs would collide")
    workspace = Workspace(args.workspace)
    options = {"strict_models": True} if args.strict_models else {}
    backend = make_backend(args.server, config=args.config, **options)
    reporter = make_reporter(json_lines=args.json)
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
