"""The worker process from ffpipe's side: start it, talk JSON lines, kill and restart it.

One request runs at a time (FaceFusion keeps one process-wide state). A worker that dies or stops
answering fails the request it was running with a clear message and is started afresh for the
next one; cancelling a request kills the worker the same way.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ffpipe.engine.api import CancelledError, EngineError
from ffpipe.engine.facefusion.checkout import Checkout, CheckoutError

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
START_TIMEOUT = 120.0
"""Seconds the worker may take to import FaceFusion and build its first parser."""
_POLL = 0.1
_STDERR_LINES = 40

ProgressFn = Callable[[int, int, str], None]
"""Called with (done, total, stage) for each progress line of the worker."""


class WorkerError(EngineError):
    """FaceFusion refused or failed a request; the message says why, in FaceFusion's words."""


class WorkerCrashed(EngineError):
    """The worker process died or hung while running a request."""


class WorkerProcess:
    """A long-lived FaceFusion worker; :meth:`request` is thread-safe and serialised.

    ``stall_timeout`` is how long a request may go without a word from the worker (a progress
    line or its answer) before the worker counts as hung.
    """

    def __init__(
        self,
        checkout: Checkout,
        *,
        allow_downloads: bool = False,
        stall_timeout: float = 600.0,
        path_prefix: Callable[[], list[str]] | None = None,
        environment: dict[str, str] | None = None,
    ) -> None:
        self.checkout = checkout
        self.allow_downloads = allow_downloads
        self.stall_timeout = stall_timeout
        self.path_prefix = path_prefix or (lambda: [str(checkout.python.parent)])
        """Folders first on the worker's PATH (FaceFusion's environment, an ffmpeg shim)."""
        self.environment = dict(environment or {})
        """Variables set for this worker alone (``CUDA_VISIBLE_DEVICES`` of its device)."""
        self.starts = 0
        self._process: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._closed = False
        """Closed by :meth:`close`: a worker that dies then is not started again."""
        self._ready: subprocess.Popen[str] | None = None
        """The process that last said it was ready (only such a one is restarted on a crash)."""
        self._folder: str | None = None
        """The worker's scratch folder (its config, FaceFusion's temp and jobs folders): ours to
        remove, so a killed worker leaves nothing behind."""

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the worker (when not running) and wait until FaceFusion is loaded."""
        with self._lock:
            self._ensure_started()

    def request(
        self,
        kind: str,
        payload: dict[str, Any] | None = None,
        *,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> dict[str, Any]:
        """Send one request and wait for its answer (the fields after ``ok``).

        Raises :class:`WorkerError` when FaceFusion failed it, :class:`WorkerCrashed` when the
        worker died or hung (it is restarted for the next request), :class:`CancelledError`
        when ``cancel`` was set (the worker is killed).
        """
        with self._lock:
            self._ensure_started()
            number = next(self._ids)
            message = {"id": number, "kind": kind, **(payload or {})}
            process = self._process
            assert process is not None and process.stdin is not None
            try:
                process.stdin.write(json.dumps(message) + "\n")
                process.stdin.flush()
            except OSError:
                raise self._crashed(kind) from None
            answer = self._await(number, kind, progress, cancel)
        if not answer.get("ok"):
            raise WorkerError(_failure_text(answer))
        return answer

    def _await(
        self,
        number: int,
        kind: str,
        progress: ProgressFn | None,
        cancel: threading.Event | None,
    ) -> dict[str, Any]:
        heard = time.monotonic()
        while True:
            if cancel is not None and cancel.is_set():
                self._kill()
                raise CancelledError("cancelled")
            try:
                line = self._lines.get(timeout=_POLL)
            except queue.Empty:
                if time.monotonic() - heard > self.stall_timeout:
                    self._kill()
                    raise WorkerCrashed(
                        f"FaceFusion's worker gave no sign of life for {self.stall_timeout:g} s "
                        f"while running {kind}; it was stopped and will be restarted for the "
                        "next request"
                    ) from None
                continue
            if line is None:
                raise self._crashed(kind)
            heard = time.monotonic()
            message = json.loads(line)
            if message.get("id") != number:
                continue
            if message.get("event") == "progress":
                if progress is not None:
                    try:
                        progress(
                            int(message["done"]),
                            int(message["total"] or 0),
                            str(message.get("stage", "frames")),
                        )
                    except BaseException:
                        # The caller stopped listening (a cancelled job): the request dies too.
                        self._kill()
                        raise
                continue
            return message

    def _crashed(self, kind: str) -> WorkerCrashed:
        process = self._process
        code = process.wait(timeout=10) if process is not None else None
        self._process = None
        self._remove_folder()
        tail = "\n".join(list(self._stderr)[-8:])
        return WorkerCrashed(
            f"FaceFusion's worker died while running {kind} (exit code {code}); it will be "
            "restarted for the next request" + (f". Its last output:\n{tail}" if tail else "")
        )

    def _ensure_started(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        self._lines = queue.Queue()
        self._stderr = collections.deque(maxlen=_STDERR_LINES)
        self._remove_folder()
        self._folder = tempfile.mkdtemp(prefix="ffpipe-facefusion-")
        command = [str(self.checkout.python), "-u", str(WORKER_SCRIPT), "--folder", self._folder]
        if self.allow_downloads:
            command.append("--allow-downloads")
        try:
            process = subprocess.Popen(
                command,
                cwd=self.checkout.root,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                env=_worker_environment(self.path_prefix(), self.environment),
            )
        except OSError as error:
            raise CheckoutError(
                f"cannot start FaceFusion's Python {self.checkout.python}: {error}"
            ) from None
        self._process = process
        self.starts += 1
        # Each process gets its own queue: a killed one's last lines never reach its successor.
        self._closed = False
        threading.Thread(target=self._watch, args=(process, self._lines), daemon=True).start()
        threading.Thread(target=_read_stderr, args=(process, self._stderr), daemon=True).start()
        self._await_ready(process)

    def _await_ready(self, process: subprocess.Popen[str]) -> None:
        try:
            line = self._lines.get(timeout=START_TIMEOUT)
        except queue.Empty:
            line = None
        message = json.loads(line) if line else {}
        if message.get("event") == "ready":
            self._ready = process
            return
        self._kill()
        tail = "\n".join(list(self._stderr)[-12:])
        reason = message.get("error") or "it exited or did not answer"
        raise CheckoutError(
            f"FaceFusion's Python {self.checkout.python} cannot run FaceFusion from "
            f"{self.checkout.root}: {reason}" + (f"\n{tail}" if tail else "")
        )

    def _watch(self, process: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
        """Pass the worker's lines on; when it dies unasked (a crash, an OOM kill), start it
        again at once, in the same environment (its device), so a warm worker waits for the
        next request. A request running at the time fails first, as a crash."""
        _read_lines(process, lines)
        if process is self._ready and self._process is process and not self._closed:
            threading.Thread(target=self._restart_after_crash, args=(process,), daemon=True).start()

    def _restart_after_crash(self, crashed: subprocess.Popen[str]) -> None:
        with self._lock:
            if self._closed or self._process not in (None, crashed):
                return
            if self._process is crashed:
                self._process = None
                crashed.wait(timeout=10)
                self._remove_folder()
            # When it cannot start, the next request tries again and reports why.
            with contextlib.suppress(EngineError):
                self._ensure_started()

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        self._remove_folder()

    def _remove_folder(self) -> None:
        folder, self._folder = self._folder, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        """Stop the worker (closing its input lets it finish; then it is killed).

        Not behind the request lock: closing while a request runs ends that request (it fails
        as a crash) instead of waiting for it.
        """
        self._closed = True
        process, self._process = self._process, None
        if process is None:
            self._remove_folder()
            return
        try:
            if process.stdin is not None:
                process.stdin.close()
            process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait(timeout=10)
        finally:
            self._remove_folder()


def _read_lines(process: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.put(line)
    lines.put(None)


def _read_stderr(process: subprocess.Popen[str], lines: collections.deque[str]) -> None:
    assert process.stderr is not None
    for line in process.stderr:
        lines.append(line.rstrip())


def _worker_environment(prefix: list[str], extra: dict[str, str]) -> dict[str, str]:
    """The environment of an activated venv: its bin folder (ffmpeg, ffprobe, curl) first, after
    any folder of ours (an ffmpeg shim), plus the worker's own variables."""
    path = os.environ.get("PATH", "")
    return {
        **os.environ,
        "PATH": os.pathsep.join([*prefix, *([path] if path else [])]),
        "PYTHONDONTWRITEBYTECODE": "1",
        **extra,
    }


def _failure_text(answer: dict[str, Any]) -> str:
    errors = [line for line in answer.get("log_errors", []) if line]
    text = str(answer.get("error") or "FaceFusion failed")
    if errors:
        text += ": " + "; ".join(errors)
    return text
