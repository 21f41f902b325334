"""Worker threads that take jobs from the store and run them on the engine."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ffpipe.catalog.jobs import JobState
from ffpipe.engine.api import CancelledError, Engine, ProgressFn, RunContext
from ffpipe.server.errors import RequestError
from ffpipe.server.execute import internal_error, parse_params, run_op
from ffpipe.server.jobs import failures
from ffpipe.server.jobs.settings import INPUTS_FOLDER, OUTPUTS_FOLDER
from ffpipe.server.jobs.store import JobRecord, JobStore
from ffpipe.server.output_budget import DEFAULT_MAX_OUTPUT_BYTES

log = logging.getLogger(__name__)


class _Stopping(CancelledError):
    """Raised inside a job when the server shuts down; the job is requeued on the next start."""


class JobRunner:
    """``workers`` threads claiming jobs (highest priority first) and running them.

    Progress reported by the engine through ``RunContext.report`` is written to the store at most
    every ``progress_interval`` seconds; ``on_finished`` is called with each job that ends.
    Cancelling a processing job sets its ``RunContext.cancel`` event and makes the next progress
    report raise, so the job stops at the next frame.
    """

    def __init__(
        self,
        store: JobStore,
        engine: Engine,
        data_dir: Path,
        workers: int = 1,
        *,
        idle_poll_seconds: float = 1.0,
        progress_interval: float = 0.25,
        on_finished: Callable[[JobRecord], None] | None = None,
        max_output_bytes: int | None = DEFAULT_MAX_OUTPUT_BYTES,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.store = store
        self.engine = engine
        self.outputs_dir = data_dir / OUTPUTS_FOLDER
        self.inputs_dir = data_dir / INPUTS_FOLDER
        self.workers = workers
        self.max_output_bytes = max_output_bytes
        self._idle_poll = idle_poll_seconds
        self._progress_interval = progress_interval
        self._on_finished = on_finished
        self._wake = threading.Condition()
        self._pending_wakes = 0
        self._stopping = threading.Event()
        self._running: dict[str, threading.Event] = {}
        self._running_lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the worker threads."""
        self._stopping.clear()
        for index in range(self.workers):
            thread = threading.Thread(
                target=self._loop, name=f"ffpipe-job-worker-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming, interrupt running jobs at their next frame and join the threads.

        Interrupted jobs stay ``processing`` in the store; ``JobStore.requeue_interrupted`` puts
        them back in the queue on the next start, as after a crash.
        """
        self._stopping.set()
        with self._running_lock:
            for event in self._running.values():
                event.set()
        with self._wake:
            self._wake.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.0))
        self._threads = [thread for thread in self._threads if thread.is_alive()]

    def wake(self) -> None:
        """Tell an idle worker that a job was queued."""
        with self._wake:
            self._pending_wakes += 1
            self._wake.notify()

    def cancel(self, key: str) -> JobRecord:
        """Cancel the job whose key is ``key``: queued at once, processing at its next frame."""
        with self._running_lock:
            record = self.store.cancel(key)
            event = self._running.get(key)
            if event is not None:
                event.set()
        if record.finished:
            self._discard_inputs(record)
        return record

    def running(self) -> list[str]:
        """Keys of the jobs being processed right now."""
        with self._running_lock:
            return list(self._running)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            record = self.store.claim_next()
            if record is None:
                with self._wake:
                    if self._pending_wakes == 0:
                        self._wake.wait(self._idle_poll)
                    self._pending_wakes = 0
                continue
            self.run_job(record)

    def run_job(self, record: JobRecord) -> JobRecord:
        """Run one claimed job to its end and record the outcome."""
        cancel = threading.Event()
        with self._running_lock:
            self._running[record.key] = cancel
        # A cancel that arrived between the claim and the registration above is in the store.
        if self.store.get(record.key).cancel_requested:
            cancel.set()
        try:
            finished = self._execute(record, cancel)
        finally:
            with self._running_lock:
                self._running.pop(record.key, None)
        if finished.finished:
            self._discard_inputs(finished)
            if self._on_finished is not None:
                self._on_finished(finished)
        return finished

    def _discard_inputs(self, record: JobRecord) -> None:
        """Remove the staged uploads of a finished job (only ever inside the inputs folder)."""
        for path in record.files.values():
            staging = Path(path).parent.parent
            if staging.parent == self.inputs_dir:
                shutil.rmtree(staging, ignore_errors=True)

    def _execute(self, record: JobRecord, cancel: threading.Event) -> JobRecord:
        out_dir = self.outputs_dir / record.key
        shutil.rmtree(out_dir, ignore_errors=True)
        out_dir.mkdir(parents=True)
        outcome = self._attempt(record, out_dir, cancel)
        if outcome.status != JobState.COMPLETED:
            # Only a completed job has outputs to serve; a retry starts from an empty folder.
            shutil.rmtree(out_dir, ignore_errors=True)
        return outcome

    def _attempt(self, record: JobRecord, out_dir: Path, cancel: threading.Event) -> JobRecord:
        """Run the job through the server's one execution path (as a synchronous request runs)."""
        key = record.key
        context = RunContext(
            out_dir, self._progress_writer(key, cancel), cancel, self.max_output_bytes
        )
        try:
            context.check_cancelled()
            params = parse_params(record.op, {**record.params, **record.files})
            outcome = run_op(self.engine, record.op, params, context)
        except CancelledError:
            if self._stopping.is_set() and not self.store.get(key).cancel_requested:
                log.info("job %s interrupted by shutdown; requeued on the next start", record.label)
                return self.store.get(key)
            return self.store.mark_cancelled(key)
        except RequestError as error:
            return self.store.fail(key, failures.encode(error))
        except Exception:
            log.exception("job %s failed unexpectedly", record.label)
            return self.store.fail(key, failures.encode(internal_error(record.op)))
        outputs = {name: str(path) for name, path in outcome.files.items()}
        return self.store.complete(key, outputs, outcome.result)

    def _progress_writer(self, key: str, cancel: threading.Event) -> ProgressFn:
        last_write = 0.0

        def write(fraction: float, stage: str) -> None:
            nonlocal last_write
            if cancel.is_set():
                raise _Stopping() if self._stopping.is_set() else CancelledError("cancelled")
            now = time.monotonic()
            if now - last_write >= self._progress_interval or fraction >= 1.0:
                last_write = now
                self.store.set_progress(key, fraction, stage)

        return write
