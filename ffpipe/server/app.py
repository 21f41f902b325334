"""Start and stop `ffpipe serve`: the gradio app, the legacy routes, auth and request logging.

gradio reads its upload folder (``GRADIO_TEMP_DIR``) and analytics switch from the environment,
some of it at import time, so :func:`start` sets them before gradio is first imported.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ffpipe.engine.api import Engine
from ffpipe.server.in_use import InUse
from ffpipe.server.settings import ServerSettings

if TYPE_CHECKING:
    from ffpipe.server.jobs.system import JobSystem
    from ffpipe.server.retention import Sweeper

LOG = logging.getLogger("ffpipe.server")


def prepare_environment(settings: ServerSettings) -> None:
    """Folders created, gradio pointed at our upload folder, its telemetry off."""
    settings.upload_dir.mkdir(parents=True, exist_ok=True)
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    os.environ["GRADIO_TEMP_DIR"] = str(settings.upload_dir.resolve())
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("GRADIO_SSR_MODE", "False")
    # uvicorn (started by gradio) takes the client address from X-Forwarded-For when the peer is
    # in FORWARDED_ALLOW_IPS, loopback by default; only configured proxies are (an empty entry
    # matches no peer).
    os.environ["FORWARDED_ALLOW_IPS"] = ",".join(settings.trusted_proxies)


@dataclass
class RunningServer:
    """A started server: its URL, the gradio Blocks and FastAPI app behind it."""

    url: str
    blocks: Any
    app: Any
    jobs: JobSystem
    sweeper: Sweeper

    def close(self) -> None:
        """Stop accepting requests, then the job workers (running jobs requeue on restart)."""
        self.blocks.close()
        self.sweeper.stop()
        self.jobs.stop()

    def wait(self) -> None:
        """Block until the process is interrupted (Ctrl-C raises KeyboardInterrupt here)."""
        threading.Event().wait()


def open_jobs(settings: ServerSettings, engine: Engine) -> JobSystem:
    """The durable job queue of this server, in its data folder (jobs survive restarts)."""
    from ffpipe.server.jobs.settings import JobSettings, load_or_create_secret
    from ffpipe.server.jobs.system import open_job_system

    job_settings = JobSettings(
        data_dir=settings.data_dir,
        secret=load_or_create_secret(settings.data_dir),
        callback_allowlist=settings.callback_allowlist,
        max_upload_bytes=settings.max_file_size,
        max_output_bytes=settings.max_output_bytes,
        public_url=settings.url.rstrip("/"),
        admins=settings.admins,
    )
    return open_job_system(job_settings, engine, workers=settings.job_workers)


def start(settings: ServerSettings, engine: Engine) -> RunningServer:
    """Launch the server in background threads and return once it accepts requests."""
    prepare_environment(settings)
    from starlette.middleware import Middleware

    from ffpipe.server.capabilities import server_capabilities
    from ffpipe.server.http.auth import CLIENT_ADDRESS, AuthGate, LoginThrottle, gate_user
    from ffpipe.server.http.guards import (
        EndpointGuard,
        ErrorShapeGuard,
        JsonDepthGuard,
        UploadNameGuard,
        endpoint_shapes,
    )
    from ffpipe.server.http.readiness import ReadinessGate
    from ffpipe.server.http.requestlog import RequestLog
    from ffpipe.server.protocols.gradio_ops import build_blocks
    from ffpipe.server.protocols.legacy import mount_legacy
    from ffpipe.server.protocols.rest_jobs import jobs_router
    from ffpipe.server.protocols.ui import ConfigCache, add_ui

    def capabilities() -> dict[str, Any]:
        return server_capabilities(engine, settings)

    jobs = open_jobs(settings, engine)
    in_use = InUse()
    blocks = build_blocks(engine, settings, capabilities, jobs.service, in_use)
    add_ui(blocks, engine, settings, capabilities, jobs.service, in_use)
    credentials = dict(settings.credentials)
    throttle = LoginThrottle()
    ready = threading.Event()
    auth = (
        (lambda user, password: throttle.check(credentials, user, password, CLIENT_ADDRESS.get()))
        if credentials
        else None
    )
    app, local_url, _ = blocks.launch(
        server_name=settings.host,
        server_port=settings.port,
        prevent_thread_lock=True,
        quiet=True,
        show_error=False,
        auth=auth,
        max_file_size=settings.max_file_size,
        allowed_paths=[str(settings.output_dir.resolve())],
        footer_links=[],
        ssr_mode=False,
        mcp_server=False,
        app_kwargs={
            "middleware": [
                Middleware(RequestLog),
                Middleware(ReadinessGate, ready=ready),
                Middleware(AuthGate, credentials=credentials, throttle=throttle),
                Middleware(JsonDepthGuard),
                Middleware(UploadNameGuard),
                Middleware(ErrorShapeGuard),
                Middleware(
                    EndpointGuard,
                    shapes=endpoint_shapes(blocks),
                    roots=[settings.upload_dir, settings.output_dir],
                    in_use=in_use,
                    # gradio takes a FileData only from its upload folder (GRADIO_TEMP_DIR).
                    uploads=[settings.upload_dir],
                ),
                Middleware(ConfigCache),
            ]
        },
    )
    if credentials:
        app.auth_dependency = gate_user
    mount_legacy(app, engine, settings, capabilities, in_use)
    app.include_router(jobs_router(jobs.service, jobs.settings))
    ready.set()
    jobs.start()
    from ffpipe.server.retention import Retention, Sweeper

    sweeper = Sweeper(
        settings.data_dir, jobs.store, Retention.parse(settings.retention), in_use=in_use
    )
    sweeper.start()
    return RunningServer(url=local_url, blocks=blocks, app=app, jobs=jobs, sweeper=sweeper)
