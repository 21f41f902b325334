"""The job subsystem wired: store, workers, webhooks and service, started and stopped together."""

from __future__ import annotations

from dataclasses import dataclass

from ffpipe.engine.api import Engine
from ffpipe.server.jobs.service import JobService
from ffpipe.server.jobs.settings import JobSettings
from ffpipe.server.jobs.store import JobStore
from ffpipe.server.jobs.webhooks import WebhookDispatcher
from ffpipe.server.jobs.worker import JobRunner


@dataclass
class JobSystem:
    """Everything a server needs for jobs; build it with :func:`open_job_system`."""

    settings: JobSettings
    store: JobStore
    runner: JobRunner
    dispatcher: WebhookDispatcher
    service: JobService
    requeued: list[str]
    """Jobs found processing at start-up (the server had died) and queued again."""

    def start(self) -> None:
        """Start the workers and the webhook dispatcher."""
        self.runner.start()
        self.dispatcher.start()

    def stop(self) -> None:
        """Stop workers (running jobs are requeued on the next start) and the dispatcher."""
        self.runner.stop()
        self.dispatcher.stop()
        self.store.close()


def open_job_system(settings: JobSettings, engine: Engine, workers: int = 1) -> JobSystem:
    """Open the store in ``settings.data_dir``, requeue interrupted jobs and wire the parts."""
    store = JobStore(settings.db_path)
    requeued = store.requeue_interrupted()
    # The dispatcher renders bodies with the service, created below; the lambda looks it up late.
    dispatcher = WebhookDispatcher(store, settings, lambda key: service.webhook_body(key))
    runner = JobRunner(
        store,
        engine,
        settings.data_dir,
        workers,
        on_finished=lambda _job: dispatcher.wake(),
        max_output_bytes=settings.max_output_bytes,
    )
    service = JobService(store, runner, settings)
    return JobSystem(settings, store, runner, dispatcher, service, requeued)
