"""A starting `ffpipe serve` refuses with 503 until every route and its login check are in place.

A real server subprocess on loopback, polled from the moment it accepts connections with good
credentials: each answer is 503 (starting) or the real one, never a 404 or a 401.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bench.serving import free_port

pytestmark = pytest.mark.slow  # starts ffpipe serve

GOOD = {"Authorization": "Basic " + base64.b64encode(b"ada:ada-pw").decode()}
ROUTES = ("api/jobs", "api/capabilities", "gradio_api/info")


def _answers_while_starting(url: str, process: subprocess.Popen[bytes]) -> list[tuple[str, int]]:
    """Every (route, status) seen from the first connection until all routes answer 200."""
    seen: list[tuple[str, int]] = []
    settled: set[str] = set()
    deadline = time.monotonic() + 120
    with httpx.Client(base_url=url, timeout=10, trust_env=False, headers=GOOD) as http:
        while settled != set(ROUTES) and time.monotonic() < deadline:
            assert process.poll() is None, "the server stopped"
            for route in ROUTES:
                try:
                    status = http.get(route).status_code
                except httpx.TransportError:
                    continue  # not listening yet
                seen.append((route, status))
                if status == 200:
                    settled.add(route)
    assert settled == set(ROUTES), seen[-10:]
    return seen


def test_a_starting_server_answers_503_until_ready(tmp_path: Path) -> None:
    auth_file = tmp_path / "users"
    auth_file.write_text("ada:ada-pw\n")
    port = free_port()
    command = [sys.executable, "-m", "ffpipe", "serve", "--port", str(port)]
    command += ["--data-dir", str(tmp_path / "data"), "--auth-file", str(auth_file)]
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        seen = _answers_while_starting(f"http://127.0.0.1:{port}/", process)
    finally:
        process.terminate()
        process.wait(timeout=60)
    assert {status for _, status in seen} <= {200, 503}, sorted(set(seen))
