"""`ffpipe serve`: run the catalog API over HTTP with the builtin engine until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ffpipe.errors import UserError

if TYPE_CHECKING:
    from ffpipe.engine.api import Engine

HELP = "serve the catalog API over HTTP with the builtin engine"
ENGINES = ("builtin",)


def _size(text: str) -> int:
    from ffpipe.server.settings import parse_size

    try:
        return parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return value


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", choices=ENGINES, default="builtin", help="engine to serve")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=_port, default=9002, help="port to listen on (default 9002)")
    parser.add_argument(
        "--auth-file",
        type=Path,
        help="file of user:password lines ('admin user:password' for a user who sees every"
        " job); every endpoint needs one",
    )
    parser.add_argument(
        "--max-file-size", type=_size, default="100MB", help="largest upload (default 100MB)"
    )
    parser.add_argument(
        "--concurrency", type=_positive, default=1, help="requests processed at once (default 1)"
    )
    parser.add_argument(
        "--queue-size",
        type=_positive,
        default=16,
        help="requests that may wait; more get a queue-full error (default 16)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".ffpipe-server"),
        help="folder for uploads, outputs and the job queue (default .ffpipe-server)",
    )
    parser.add_argument(
        "--job-workers", type=_positive, default=1, help="jobs processed at once (default 1)"
    )
    parser.add_argument(
        "--retention",
        default="7d,20GB",
        metavar="AGE,SIZE",
        help="remove uploads, request outputs and finished jobs older than AGE (30m, 12h, 7d)"
        " and, oldest first, beyond SIZE (500MB, 20GB); 'off' keeps everything"
        " (default 7d,20GB)",
    )
    parser.add_argument(
        "--allow-callback",
        action="append",
        default=[],
        metavar="HOST",
        help="private/loopback host or CIDR network job callbacks may reach (repeatable)",
    )


def _engine(name: str) -> Engine:
    from ffpipe.engine import BuiltinEngine

    return BuiltinEngine()


def run(args: argparse.Namespace) -> int:
    from ffpipe.server.app import start
    from ffpipe.server.auth import AuthFile, AuthFileError, read_auth_file
    from ffpipe.server.settings import ServerSettings, format_size

    users = AuthFile({})
    if args.auth_file is not None:
        try:
            users = read_auth_file(args.auth_file)
        except AuthFileError as error:
            raise UserError(str(error)) from None
    credentials = users.credentials
    from ffpipe.server.retention import Retention, RetentionError

    try:
        retention = Retention.parse(args.retention)
    except RetentionError as error:
        raise UserError(str(error)) from None
    if args.data_dir.exists() and not args.data_dir.is_dir():
        raise UserError(f"--data-dir {args.data_dir} is not a folder")
    try:
        args.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = error.strerror or error
        raise UserError(f"cannot use --data-dir {args.data_dir}: {reason}") from None
    settings = ServerSettings(
        data_dir=args.data_dir.resolve(),
        host=args.host,
        port=args.port,
        credentials=credentials,
        admins=users.admins,
        max_file_size=args.max_file_size,
        concurrency=args.concurrency,
        queue_size=args.queue_size,
        job_workers=args.job_workers,
        callback_allowlist=tuple(args.allow_callback),
        retention=args.retention,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        server = start(settings, _engine(args.engine))
    except OSError as error:
        raise UserError(
            f"cannot listen on {args.host}:{args.port}: {error.strerror or error}"
        ) from None
    print(f"ffpipe serve: engine {args.engine}, listening on {server.url}", flush=True)
    print(
        f"ffpipe serve: uploads up to {format_size(settings.max_file_size)}, "
        f"{settings.concurrency} at once, {settings.queue_size} waiting; "
        f"auth {'on' if credentials else 'off'}; data in {settings.data_dir},"
        f" {retention.describe()}",
        flush=True,
    )
    if server.jobs.requeued:
        print(
            f"ffpipe serve: {len(server.jobs.requeued)} interrupted job(s) queued again",
            flush=True,
        )
    try:
        server.wait()
    except KeyboardInterrupt:
        print("ffpipe serve: stopping", flush=True)
    finally:
        server.close()
    return 0
