"""``ffpipe jobs list | status ID | wait ID | cancel ID --server URL``: jobs on a server."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ffpipe.catalog import JobStatus
from ffpipe.catalog.jobs import ACTIVE_STATES, ALL_STATES, JobState
from ffpipe.cli import options
from ffpipe.errors import ExitCode, UserError

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
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[common], help="jobs, newest first")
    listing.add_argument("--status", choices=ALL_STATES, help="only jobs in this state")
    listing.add_argument("--op", help="only jobs of this op")
    listing.add_argument(
        "--limit", type=options.positive_int, default=50, help="at most this many (default 50)"
    )
    for name, summary in (
        ("status", "the status of one job"),
        ("wait", "wait for a job to finish, showing its progress"),
        ("cancel", "cancel a queued or processing job"),
    ):
        action = actions.add_parser(name, parents=[common], help=summary)
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
    print(f"{'ID':<{width}}  {'STATUS':<10} {'PROG':>4}  {'PRI':>3}  {'OP':<14} ETA")
    for job in jobs:
        eta = _eta(job["estimated_time"]) if job["status"] in ACTIVE_STATES else ""
        print(
            f"{job['job_id']:<{width}}  {job['status']:<10} {job['progress']:>4.0%}"
            f"  {job['priority']:>3}  {job['op']:<14} {eta}"
        )


def run(args: argparse.Namespace) -> int:
    """Run one ``jobs`` action; exit 0, or 1 when a waited-for job failed or was cancelled."""
    from ffpipe.backends.jobs_client import JobsClient

    with JobsClient(args.server, auth=_auth(args)) as client:
        if args.action == "list":
            _print_list(client.list(status=args.status, op=args.op, limit=args.limit), args.json)
            return 0
        if args.action == "status":
            _print_status(client.status(args.job_id), args.json)
            return 0
        if args.action == "cancel":
            _print_status(client.cancel(args.job_id), args.json)
            return 0
        shown: list[str] = []

        def show(status: JobStatus) -> None:
            line = _status_line(status)
            if not args.json and (not shown or shown[-1] != line):
                shown.append(line)
                print(line, file=sys.stderr, flush=True)

        final = client.wait(
            args.job_id, timeout=args.timeout, poll_seconds=args.interval, on_status=show
        )
        _print_status(final, args.json)
        return ExitCode.OK if final.status == JobState.COMPLETED else ExitCode.FAILED
