"""A server with only the job API: ``python -m ffpipe.server.jobs_app --data DIR``.

``ffpipe serve`` mounts the same routes next to its Gradio app; this entry point serves them alone,
for headless job servers and for tests that kill the process and start it again.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from ffpipe.engine.api import Engine
from ffpipe.server.jobs.settings import JobSettings, load_or_create_secret
from ffpipe.server.jobs.system import JobSystem, open_job_system
from ffpipe.server.protocols.rest_jobs import jobs_router

DEFAULT_ENGINE = "ffpipe.engine.builtin:BuiltinEngine"


def load_engine(spec: str) -> Engine:
    """Instantiate an engine named ``module:Class`` (the builtin engine by default)."""
    module_name, _, attribute = spec.partition(":")
    if not attribute:
        raise SystemExit(f"--engine must look like module:Class, got {spec!r}")
    factory = getattr(importlib.import_module(module_name), attribute)
    return factory()


def build_app(system: JobSystem) -> FastAPI:
    """A FastAPI app serving the job routes, starting and stopping ``system`` with itself."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        system.start()
        try:
            yield
        finally:
            system.stop()

    app = FastAPI(title="ffpipe jobs", lifespan=lifespan)
    app.include_router(jobs_router(system.service, system.settings))
    return app


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of the job database")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9003)
    parser.add_argument("--workers", type=int, default=1, help="jobs run at once")
    parser.add_argument("--engine", default=DEFAULT_ENGINE, help="engine as module:Class")
    parser.add_argument("--secret", help="webhook signing secret (default: kept in --data)")
    parser.add_argument("--token", help="require Authorization: Bearer TOKEN on every request")
    parser.add_argument(
        "--allow-callback",
        action="append",
        default=[],
        metavar="HOST_OR_NETWORK",
        help="non-public callback destination to allow (repeatable), e.g. 127.0.0.1",
    )
    parser.add_argument("--retry-base", type=float, default=2.0, help="first webhook retry delay")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    data_dir = args.data.resolve()
    settings = JobSettings(
        data_dir=data_dir,
        secret=args.secret.encode() if args.secret else load_or_create_secret(data_dir),
        callback_allowlist=tuple(args.allow_callback),
        token=args.token,
        public_url=f"http://{args.host}:{args.port}",
        retry_base_seconds=args.retry_base,
    )
    system = open_job_system(settings, load_engine(args.engine), workers=args.workers)
    if system.requeued:
        logging.info("requeued %d interrupted jobs: %s", len(system.requeued), system.requeued)
    uvicorn.run(build_app(system), host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
