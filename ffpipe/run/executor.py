"""A small executor: calls on worker threads, at most ``jobs`` at once, with time limits.

It knows nothing of pipelines: the runner submits named calls and collects what finished. A call
past its time limit is reported as timed out at once; its thread is left behind (a backend call
cannot be interrupted) and a new worker takes its place. Workers are daemons, so a hung backend
call cannot keep the process from exiting.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Finished:
    """One call's end: its value or exception, or that it timed out."""

    name: str
    value: Any = None
    error: BaseException | None = None
    timed_out: bool = False
    duration: float = 0.0


@dataclass
class _Call:
    name: str
    function: Callable[[], Any]
    timeout: float | None
    started: float = 0.0
    deadline: float | None = None


class Executor:
    """Runs submitted calls on up to ``jobs`` threads, in the order submitted."""

    def __init__(self, jobs: int) -> None:
        self.jobs = max(1, jobs)
        self._waiting: deque[_Call] = deque()
        self._running: dict[str, _Call] = {}
        self._work: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._done: queue.Queue[tuple[str, Any, BaseException | None]] = queue.Queue()
        self._workers = 0

    def submit(self, name: str, function: Callable[[], Any], timeout: float | None) -> None:
        """Queue ``function``; it starts when a slot is free."""
        self._waiting.append(_Call(name, function, timeout))
        self._start_waiting()

    @property
    def busy(self) -> bool:
        """Whether calls are running or waiting."""
        return bool(self._running or self._waiting)

    def drop_waiting(self) -> list[str]:
        """Forget the calls not started yet; returns their names."""
        names = [call.name for call in self._waiting]
        self._waiting.clear()
        return names

    def collect(self) -> list[Finished]:
        """Wait for the next call to end (or a time limit to pass) and return what ended.

        Waiting calls start first; none starts after a call ended until the next collect, so
        the caller can drop them after a failure.
        """
        self._start_waiting()
        deadlines = [c.deadline for c in self._running.values() if c.deadline is not None]
        wait = POLL_SECONDS
        if deadlines:
            wait = max(0.0, min(wait, min(deadlines) - time.monotonic()))
        finished: list[Finished] = []
        try:
            name, value, error = self._done.get(timeout=wait)
        except queue.Empty:
            finished = self._expired()
        else:
            call = self._running.pop(name, None)
            if call is not None:  # None: it timed out earlier and was reported then
                duration = time.monotonic() - call.started
                finished.append(Finished(name, value, error, duration=duration))
        return finished

    def close(self) -> None:
        """Let the idle workers end."""
        self._waiting.clear()
        for _ in range(self._workers):
            self._work.put(None)
        self._workers = 0

    def _start_waiting(self) -> None:
        while self._waiting and len(self._running) < self.jobs:
            call = self._waiting.popleft()
            call.started = time.monotonic()
            call.deadline = call.started + call.timeout if call.timeout else None
            self._running[call.name] = call
            while self._workers < min(self.jobs, len(self._running)):
                self._add_worker()
            self._work.put(call)

    def _add_worker(self) -> None:
        self._workers += 1
        threading.Thread(target=self._worker_loop, name="ffpipe-worker", daemon=True).start()

    def _worker_loop(self) -> None:
        while (call := self._work.get()) is not None:
            try:
                value, error = call.function(), None
            except BaseException as failure:  # handed to the runner, which fails the step
                value, error = None, failure
            self._done.put((call.name, value, error))

    def _expired(self) -> list[Finished]:
        now = time.monotonic()
        finished = []
        for name, call in list(self._running.items()):
            if call.deadline is not None and now >= call.deadline:
                del self._running[name]
                self._add_worker()  # the timed-out call still holds its worker
                finished.append(Finished(name, timed_out=True, duration=now - call.started))
        return finished
