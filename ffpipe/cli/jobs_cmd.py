"""``ffpipe jobs list | status ID | wait ID | cancel ID | submit OP|PIPELINE | get ID -o PATH
--server URL``: jobs on a server.

``submit edit -p target_media=photo.jpg -p face_editor_age=70`` uploads the files the op's file
parameters name and prints the new job; ``submit portrait.yaml`` submits each step of a pipeline
that needs no other step's output (``ffpipe run FILE --server URL`` runs a whole pipeline).
``get ID -o PATH`` downloads a completed job's outputs: one output to PATH, or into PATH when it
is a folder (or ends in ``/``) or the job has several.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ffpipe.catalog import JobStatus
from ffpipe.catalog.jobs import ACTIVE_STATES, ALL_STATES, JobState
from ffpipe.cli import options
from ffpipe.errors import ExitCode, UserError

if TYPE_CHECKING:
    from ffpipe.backends.jobs_client import JobsClient

DEFAULT_SERVER = "http://127.0.0.1:9002"


def register(parser: argparse.ArgumentParser) -> None:
    """Add the ``jobs`` subcommands and their options to ``parser``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--server",
        default=os.environ.get("FFPIPE_SERVER", DEFAULT_SERVER),
        help=f"server URL (default: $FFPIPE_SERVER or {DEFAULT_SERVER})",
    )
    common.add_argument(
        "--auth",
        default=os.environ.get("FFPIPE_AUTH"),
        metavar="USER:PASSWORD",
        help="credentials for a server started with --auth-file (default: $FFPIPE_AUTH)",
    )
    common.add_argument(
        "--token", default=os.environ.get("FFPIPE_TOKEN"), help="bearer token (jobs-only server)"
    )
    common.add_argument("--json", action="store_true", help="print JSON instead of text")
    whose = argparse.ArgumentParser(add_help=False)
    whose.add_argument(
        "--owner",
        metavar="USER",
        help="whose job ID is meant, for an admin who sees several users' jobs of that id",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[common], help="jobs, newest first")
    listing.add_argument("--status", choices=ALL_STATES, help="only jobs in this state")
    listing.add_argument("--op", help="only jobs of this op")
    listing.add_argument(
        "--limit", type=options.positive_int, default=50, help="at most this many (default 50)"
    )
    submit = actions.add_parser(
        "submit", parents=[common], help="submit an op (or a pipeline's steps) as jobs"
    )
    submit.add_argument("target", metavar="OP|PIPELINE", help="an op name or a pipeline file")
    submit.add_argument(
        "-p",
        "--param",
        dest="params",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an op parameter (repeatable; a file parameter's file is uploaded); for a pipeline, "
        "a pipeline param",
    )
    submit.add_argument(
        "--priority", type=int, default=5, help="0-9, higher runs first (default 5)"
    )
    getting = actions.add_parser(
        "get", parents=[common, whose], help="download a completed job's outputs"
    )
    getting.add_argument("job_id", metavar="ID")
    getting.add_argument(
        "-o",
        "--out",
        default=".",
        metavar="PATH",
        help="a file for a single output, or a folder (default: the current folder)",
    )
    for name, summary in (
        ("status", "the status of one job"),
        ("wait", "wait for a job to finish, showing its progress"),
        ("cancel", "cancel a queued or processing job"),
    ):
        action = actions.add_parser(name, parents=[common, whose], help=summary)
        action.add_argument("job_id", metavar="ID")
        if name == "wait":
            action.add_argument(
                "--timeout", type=options.duration, help="give up after this many seconds"
            )
            action.add_argument(
                "--interval",
                type=options.positive_float,
                default=1.0,
                help="seconds between polls (default 1)",
            )


def _auth(args: argparse.Namespace) -> tuple[str, str] | str | None:
    if args.auth:
        user, colon, password = args.auth.partition(":")
        if not colon:
            raise UserError("--auth must be USER:PASSWORD")
        return user, password
    return args.token


def _eta(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(seconds, 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


def _status_line(status: JobStatus) -> str:
    line = f"{status.job_id}  {status.status:<10} {status.progress:>4.0%}"
    if status.status in ACTIVE_STATES:
        line += f"  eta {_eta(status.estimated_time)}"
    result = status.result or {}
    if status.status == JobState.FAILED and result.get("error"):
        line += f"  {result['error']}" + (f": {result['detail']}" if result.get("detail") else "")
    if result.get("attempts", 1) > 1:
        line += f"  (ran {result['attempts']} times: {'; '.join(result.get('notes', []))})"
    return line


def _print_status(status: JobStatus, as_json: bool) -> None:
    if as_json:
        print(json.dumps(status.model_dump(mode="json"), indent=2))
        return
    print(_status_line(status))
    for name, link in ((status.result or {}).get("files") or {}).items():
        print(f"  {name}: {link}")


def _print_list(jobs: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print(json.dumps(jobs, indent=2))
        return
    if not jobs:
        print("no jobs")
        return
    width = max(len(job["job_id"]) for job in jobs)
    # An admin sees several users' jobs, and ids are unique per user only: say whose each is.
    owners = [str(job.get("owner") or "-") for job in jobs]
    whose = len(set(owners)) > 1
    owner_width = max(len("OWNER"), *map(len, owners))
    owner_title = f"{'OWNER':<{owner_width}} " if whose else ""
    print(f"{'ID':<{width}}  {'STATUS':<10} {'PROG':>4}  {'PRI':>3}  {'OP':<14} {owner_title}ETA")
    for job, owner in zip(jobs, owners, strict=True):
        eta = _eta(job["estimated_time"]) if job["status"] in ACTIVE_STATES else ""
        owner_cell = f"{owner:<{owner_width}} " if whose else ""
        print(
            f"{job['job_id']:<{width}}  {job['status']:<10} {job['progress']:>4.0%}"
            f"  {job['priority']:>3}  {job['op']:<14} {owner_cell}{eta}"
        )


def run(args: argparse.Namespace) -> int:
    """Run one ``jobs`` action; exit 0, or 1 when a waited-for job failed or was cancelled."""
    from ffpipe.backends.jobs_client import JobsClient

    with JobsClient(args.server, auth=_auth(args)) as client:
        if args.action == "list":
            _print_list(client.list(status=args.status, op=args.op, limit=args.limit), args.json)
            return 0
        if args.action == "status":
            _print_status(client.status(args.job_id, args.owner), args.json)
            return 0
        if args.action == "cancel":
            _print_status(client.cancel(args.job_id, args.owner), args.json)
            return 0
        if args.action == "submit":
            return _submit(client, args)
        if args.action == "get":
            return _get(client, args)
        shown: list[str] = []

        def show(status: JobStatus) -> None:
            line = _status_line(status)
            if not args.json and (not shown or shown[-1] != line):
                shown.append(line)
                print(line, file=sys.stderr, flush=True)

        final = client.wait(
            args.job_id,
            timeout=args.timeout,
            poll_seconds=args.interval,
            on_status=show,
            owner=args.owner,
        )
        _print_status(final, args.json)
        return ExitCode.OK if final.status == JobState.COMPLETED else ExitCode.FAILED


def _submit(client: JobsClient, args: argparse.Namespace) -> int:
    from ffpipe.catalog import OPS

    if args.target in OPS:
        requests = [(args.target, _op_params(args.params))]
    elif Path(args.target).is_file():
        requests = _pipeline_requests(Path(args.target), args.params)
    else:
        raise UserError(f"{args.target!r} is neither an op ({', '.join(OPS)}) nor a pipeline file")
    for op, params in requests:
        files = {
            name: Path(params.pop(name))
            for name in OPS[op].file_fields
            if isinstance(params.get(name), str) and Path(params[name]).is_file()
        }
        _print_status(client.submit(op, params, files, priority=args.priority), args.json)
    return 0


def _op_params(pairs: list[str]) -> dict[str, Any]:
    """``-p NAME=VALUE`` as catalog values: ``70`` a number, ``true`` a boolean, ``a.jpg`` text."""
    import yaml

    from ffpipe.pipeline import parse_overrides

    params: dict[str, Any] = {}
    for name, text in parse_overrides(pairs).items():
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        params[name] = value if isinstance(value, (int, float, bool, list)) else text
    return params


def _pipeline_requests(path: Path, pairs: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """The steps of a pipeline as (op, params), refusing steps that read another's output."""
    from ffpipe.pipeline import load_pipeline, parse_overrides
    from ffpipe.pipeline.instance import Deferred

    pipeline = load_pipeline(path, parse_overrides(pairs))
    requests, chained = [], []
    for node, instance in pipeline.instances.items():
        if instance.needs or any(isinstance(v, Deferred) for v in instance.params.values()):
            chained.append(node)
            continue
        requests.append((instance.op, dict(instance.params)))
    if chained:
        raise UserError(
            f"{', '.join(chained)} read other steps' outputs, which a job cannot wait for; "
            f"run the pipeline on the server instead: ffpipe run {path} --server URL"
        )
    return requests


def _get(client: JobsClient, args: argparse.Namespace) -> int:
    """Download into a scratch folder beside the destination, then move into place."""
    from ffpipe.backends.jobs_client import JobsClientError

    out = Path(args.out)
    # Path drops a trailing slash: read it from the text as given.
    into_folder = out.is_dir() or args.out.endswith(("/", os.sep))
    parent = out if into_folder else out.parent
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=parent, prefix=".ffpipe-get-") as scratch:
        try:
            downloaded = client.result(args.job_id, Path(scratch), args.owner)
        except JobsClientError as error:
            raise UserError(str(error)) from None
        if not into_folder and len(downloaded) > 1:
            raise UserError(
                f"job {args.job_id} has {len(downloaded)} outputs "
                f"({', '.join(downloaded)}); give -o a folder (ending in /)"
            )
        written = []
        for path in downloaded.values():
            target = out / path.name if into_folder else out
            if path.is_file() and target.suffix.lower() != path.suffix.lower():
                print(
                    f"ffpipe: note: {target.name} holds what the server named {path.name}",
                    file=sys.stderr,
                )
            if target.is_dir():
                shutil.rmtree(target)
            shutil.move(str(path), target)
            written.append(target)
    for target in written:
        print(target)
    return 0
