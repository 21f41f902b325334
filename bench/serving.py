"""Start `ffpipe serve` in a subprocess on a free loopback port, for benchmarks and tests.

The one ``free_port`` of the suite lives here too: every test and benchmark that needs a loopback
port takes it from this module (tests through the ``free_port`` fixture).

``start_server(tmp_path, *extra_args)`` returns once the server has printed its URL (every route
mounted) and gives a :class:`ServerHandle` whose ``stop()`` ends it (Ctrl-C first, as a user
would, then a kill if it does not go).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

READY_MARK = "listening on "
START_TIMEOUT = 120.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ServerHandle:
    """A running `ffpipe serve` process."""

    url: str
    process: subprocess.Popen[str]
    data_dir: Path
    log_path: Path
    _stopped: bool = field(default=False, repr=False)

    @property
    def port(self) -> int:
        return int(self.url.rstrip("/").rsplit(":", 1)[1])

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        """What the server wrote to stderr so far (its request log included)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 20.0) -> int:
        """Interrupt the server like Ctrl-C, kill it if it lingers; returns its exit code."""
        if not self._stopped:
            self._stopped = True
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGINT)
                try:
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=timeout)
        return self.process.returncode


def start_server(
    tmp_path: Path,
    *extra_args: str,
    env: dict[str, str] | None = None,
    program: Sequence[str] = ("-m", "ffpipe", "serve"),
) -> ServerHandle:
    """`ffpipe serve --port FREE --data-dir tmp_path/server-data EXTRA_ARGS...`, started and ready.

    ``--data-dir`` is only added when ``extra_args`` does not give one. ``program`` replaces
    ``-m ffpipe serve`` with another Python program taking the same ``--port`` and ``--data-dir``
    and printing the same ready line (a test's own launcher of the server).
    """
    data_dir = tmp_path / "server-data"
    args = list(extra_args)
    if "--data-dir" not in args:
        args += ["--data-dir", str(data_dir)]
    else:
        data_dir = Path(args[args.index("--data-dir") + 1])
    tmp_path.mkdir(parents=True, exist_ok=True)
    log_path = tmp_path / f"server-{time.monotonic_ns()}.log"
    last_error = "not started"
    for _attempt in range(3):
        port = free_port()
        command = [sys.executable, *program, "--port", str(port), *args]
        environment = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
        with log_path.open("w") as log_file:
            process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=log_file,
                text=True,
                env=environment,
            )
        url = _wait_ready(process)
        if url is not None:
            return ServerHandle(url, process, data_dir, log_path)
        last_error = log_path.read_text(errors="replace")[-3000:]
        if process.poll() is None:
            process.kill()
            process.wait()
        if "address already in use" not in last_error.lower():
            break
    raise RuntimeError(f"ffpipe serve did not start:\n{last_error}")


def _wait_ready(process: subprocess.Popen[str]) -> str | None:
    found: list[str] = []
    done = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if READY_MARK in line and not found:
                found.append(line.split(READY_MARK, 1)[1].strip())
                done.set()
        done.set()

    threading.Thread(target=read, daemon=True).start()
    done.wait(START_TIMEOUT)
    return found[0] if found else None
