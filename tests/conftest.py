"""Fixtures shared by the test modules.

Test modules take what they share from here as fixtures; the helpers behind the fixtures live in the
private ``_*_support`` modules (which the benchmarks and the runner and CLI tests import directly).
Expensive things are made once per session: the sample photos' paths, the ``ffpipe serve``
processes that tests can share, generated videos and the builtin engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _server_support import ServerHandle
from _server_support import start_server as _start_server

MEDIA = Path(__file__).resolve().parent.parent / "media"


@pytest.fixture(scope="session")
def media_dir() -> Path:
    """The repository's sample media folder (read only)."""
    return MEDIA


@pytest.fixture(scope="session")
def astronaut() -> Path:
    """The astronaut sample photo (read only)."""
    return MEDIA / "astronaut.jpg"


@pytest.fixture(scope="session")
def grace() -> Path:
    """The Grace Hopper sample photo (read only)."""
    return MEDIA / "grace_hopper.jpg"


@pytest.fixture(scope="session")
def start_server() -> Iterator[Callable[..., ServerHandle]]:
    """Start ``ffpipe serve`` in a subprocess on a free loopback port: ``start_server(folder,
    *args, env=None, program=...)`` (see ``_server_support.start_server``).

    Tests stop their servers themselves (and check the exit code where it matters); any server
    still running at the end of the session is stopped here.
    """
    started: list[ServerHandle] = []

    def start(folder: Path, *args: str, **options: Any) -> ServerHandle:
        handle = _start_server(folder, *args, **options)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.stop()
