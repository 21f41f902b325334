"""`ffpipe serve`: run the catalog API over HTTP with an engine until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ffpipe.cli import options
from ffpipe.cli.context import Invocation
from ffpipe.cli.engine_options import (
    ENGINES,
    FACEFUSION,
    EngineChoice,
    add_engine_arguments,
    start_engine,
)
from ffpipe.errors import UserError

if TYPE_CHECKING:
    from ffpipe.engine.api import Engine


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default=None,
        help="engine to serve (default: [engine] name in the current project's ffpipe.toml, "
        "else builtin)",
    )
    add_engine_arguments(parser, with_engine=False)
    parser.add_argument(
        "--strict-models",
        action="store_true",
        help="refuse model stand-ins (builtin) or missing model files (facefusion)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=options.port, default=9002, help="port to listen on (default 9002)"
    )
    parser.add_argument(
        "--auth-file",
        type=Path,
        help="file of user:password lines ('admin user:password' for a user who sees every"
        " job); every endpoint needs one",
    )
    parser.add_argument(
        "--max-file-size",
        type=options.positive_size,
        default="100MB",
        help="largest upload (default 100MB)",
    )
    parser.add_argument(
        "--concurrency",
        type=options.positive_int,
        help="requests processed at once (default 1, or one per --devices entry)",
    )
    parser.add_argument(
        "--queue-size",
        type=options.positive_int,
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
        "--job-workers",
        type=options.positive_int,
        help="jobs processed at once (default 1, or one per --devices entry)",
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
        "--max-output-size",
        type=options.positive_size,
        default="4GB",
        metavar="SIZE",
        help="the most one request or job may write, checked before it runs (default 4GB)",
    )
    parser.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="reverse proxy (address or CIDR network) whose X-Forwarded-For names the client;"
        " from other peers the header is ignored (repeatable)",
    )
    parser.add_argument(
        "--allow-callback",
        action="append",
        default=[],
        metavar="HOST",
        help="private/loopback host or CIDR network job callbacks may reach (repeatable)",
    )
    options.add_cluster(parser)
    parser.add_argument(
        "--remote",
        metavar="URL",
        help="with --cluster: the remote cache the workers share (default: $FFPIPE_REMOTE, "
        "else [cache] remote in the current project's ffpipe.toml)",
    )


def _engine(args: argparse.Namespace, invocation: Invocation) -> Engine:
    """The engine that serves; with a cluster, one that hands requests to its workers."""
    from ffpipe.cli.cluster_support import cluster_engine

    address = invocation.cluster_address
    engine = invocation.make_engine(strict_models=args.strict_models)
    if engine is None:
        from ffpipe.engine.builtin import BuiltinEngine

        engine = BuiltinEngine(strict_models=args.strict_models)
    elif address is None:  # on a cluster the workers run it
        start_engine(engine)
    if address is None:
        return engine
    try:
        return cluster_engine(invocation, engine, strict_models=args.strict_models)
    except BaseException:
        engine.close()
        raise


def _workers(choice: EngineChoice) -> int:
    """One at a time, or one per FaceFusion device worker."""
    if choice.name == FACEFUSION and choice.devices:
        return len([part for part in choice.devices.split(",") if part.strip()])
    return 1


def run(args: argparse.Namespace) -> int:
    from ffpipe.server.app import start
    from ffpipe.server.http.auth import AuthFile, AuthFileError, read_auth_file
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
    # The current folder's project: its settings name the engine, the cluster and the remote.
    invocation = Invocation.of(args)
    settings = ServerSettings(
        data_dir=args.data_dir.resolve(),
        host=args.host,
        port=args.port,
        credentials=credentials,
        admins=users.admins,
        max_file_size=args.max_file_size,
        concurrency=args.concurrency or _workers(invocation.engine),
        queue_size=args.queue_size,
        job_workers=args.job_workers or _workers(invocation.engine),
        callback_allowlist=tuple(args.allow_callback),
        trusted_proxies=tuple(args.trusted_proxy),
        max_output_bytes=args.max_output_size,
        retention=args.retention,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    engine = _engine(args, invocation)
    try:
        server = start(settings, engine)
    except OSError as error:
        engine.close()
        raise UserError(
            f"cannot listen on {args.host}:{args.port}: {error.strerror or error}"
        ) from None
    address = invocation.cluster_address
    on_cluster = f" on cluster {address}" if address else ""
    # Ctrl-C as soon as the ready line is out (a test, an impatient user) is a clean stop too,
    # not an interrupted command: everything after the start is inside the handler.
    try:
        print(
            f"ffpipe serve: engine {engine.name} {engine.version}{on_cluster}, listening on "
            f"{server.url}",
            flush=True,
        )
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
        server.wait()
    except KeyboardInterrupt:
        print("ffpipe serve: stopping", flush=True)
    finally:
        server.close()
        engine.close()
    return 0
