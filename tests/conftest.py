"""Fixtures shared by the test modules.

Test modules take what they share from here as fixtures; the helpers behind the fixtures live in the
private ``_*_support`` modules (which the runner and CLI tests also import directly), and those the
benchmarks use too in ``bench/`` (the server process and ``free_port``, the hard detection set, the
S3 stand-in, the FaceFusion test bed), which pytest finds from the repository root.
Expensive things are made once per session: the ``ffpipe serve`` processes that tests can share
(:func:`shared_server`, :func:`auth_server`), the 20 s clip and the builtin engine.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from bench.serving import ServerHandle


MEDIA = Path(__file__).resolve().parent.parent / "media"
ORDER_SEED = "FFPIPE_TEST_ORDER_SEED"
"""Set to any value, the tests run shuffled by it: a test that passes only after (or before)
another shows. ``FFPIPE_TEST_ORDER_SEED=7 pytest`` repeats an order."""


def pytest_report_header(config: pytest.Config) -> str | None:
    seed = os.environ.get(ORDER_SEED)
    return f"test order shuffled by {ORDER_SEED}={seed}" if seed else None


@pytest.fixture(scope="session", autouse=True)
def _opencv_as_the_engine_runs_it() -> None:
    """OpenCV with IPP off on the test thread, as every engine thread runs it: a test calling the
    engine's functions directly then gets the same bytes whatever test ran before it."""
    from ffpipe.engine.builtin import exact

    exact.opencv()


SLOW_FIXTURES = frozenset(
    {
        "start_server",
        "shared_server",
        "auth_server",
        "running_system",
        "hook_listener",
        "browser",
        "clip20",
    }
)
"""Fixtures that start a server, a browser or make the 20 s clip: a test using any of them
(directly or through another fixture) is ``slow`` by construction."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a :data:`SLOW_FIXTURES` fixture ``slow``; tests that start
    processes or run end to end in other ways carry the mark themselves. With
    :data:`ORDER_SEED` set, shuffle them."""
    for item in items:
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    seed = os.environ.get(ORDER_SEED)
    if seed:
        random.Random(seed).shuffle(items)


@pytest.fixture(scope="session")
def astronaut() -> Path:
    """The astronaut sample photo (read only)."""
    return MEDIA / "astronaut.jpg"


@pytest.fixture(scope="session")
def grace() -> Path:
    """The Grace Hopper sample photo (read only)."""
    return MEDIA / "grace_hopper.jpg"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's root folder."""
    return MEDIA.parent


@pytest.fixture(scope="session")
def bad_pipelines_dir() -> Path:
    """Deliberately broken pipelines, each with the error it must give."""
    return Path(__file__).resolve().parent / "bad_pipelines"


@pytest.fixture(scope="session")
def start_server() -> Iterator[Callable[..., ServerHandle]]:
    """Start ``ffpipe serve`` in a subprocess on a free loopback port: ``start_server(folder,
    *args, env=None, program=...)`` (see ``bench.serving.start_server``).

    Tests stop their servers themselves (and check the exit code where it matters); any server
    still running at the end of the session is stopped here.
    """
    started: list[ServerHandle] = []

    def start(folder: Path, *args: str, **options: Any) -> ServerHandle:
        from bench.serving import start_server as launch

        handle = launch(folder, *args, **options)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.stop()


@pytest.fixture(scope="session")
def write_pipeline() -> Callable[..., Path]:
    """``write_pipeline(folder, text, name=..., photos=False)``: a dedented pipeline file
    (``photos=True`` copies the sample photos beside it)."""
    from _pipeline_support import write_pipeline

    return write_pipeline


# Cache: stored entries and deliberate damage.


@pytest.fixture(scope="session")
def store_entry() -> Callable[..., Any]:
    """``store_entry(workspace, step, outputs, ...)``: objects and a step entry that made them."""
    from _cache_support import store_entry

    return store_entry


@pytest.fixture(scope="session")
def damage() -> Callable[[Path], None]:
    """``damage(path)``: flip the first byte of a stored file in place."""
    from _cache_support import damage

    return damage


@pytest.fixture(scope="session")
def age() -> Callable[[Path, float], None]:
    """``age(path, seconds)``: move a file's mtime into the past."""
    from _cache_support import age

    return age


# Engine: the sample photos as pixels, collages of them, image files.


@pytest.fixture(scope="session")
def photo() -> Callable[[Path], Any]:
    """``photo(path)``: a sample photo as read-only RGB pixels (read once per session)."""
    from _engine_support import photo

    return photo


@pytest.fixture(scope="session")
def collage() -> Callable[[], Any]:
    """``collage()``: three faces left to right, made from the sample photos."""
    from _engine_support import collage

    return collage


@pytest.fixture(scope="session")
def write_rgb() -> Callable[..., Path]:
    """``write_rgb(path, rgb)``: an RGB array written with OpenCV (the extension picks)."""
    from _engine_support import write_rgb

    return write_rgb


@pytest.fixture(scope="session")
def read_rgb() -> Callable[[Path], Any]:
    """``read_rgb(path)``: an image file as RGB pixels."""
    from _engine_support import read_rgb

    return read_rgb


@pytest.fixture(scope="session")
def face_near() -> Callable[..., Any]:
    """``face_near(rgb, box)``: the detected face of ``rgb`` closest to ``box``."""
    from _engine_support import face_near

    return face_near


@pytest.fixture(scope="session")
def builtin_engine() -> Any:
    """One builtin engine for the session (it keeps no state between runs)."""
    from ffpipe.engine.builtin import BuiltinEngine

    return BuiltinEngine()


# Video: clips made in code from the sample photos, and ways to look inside them.


@pytest.fixture(scope="session")
def make_video() -> Callable[..., Path]:
    """``make_video(path, seconds=..., fps=..., ...)``: a pan/zoom clip of a sample photo."""
    from _video_support import make_video

    return make_video


@pytest.fixture(scope="session")
def make_chirp_video() -> Callable[..., Path]:
    """``make_chirp_video(path, ...)``: grey frames with a rising tone (pitch tells the time)."""
    from _video_support import make_chirp_video

    return make_chirp_video


@pytest.fixture(scope="session")
def decoded_frames() -> Callable[[Path], list[Any]]:
    """``decoded_frames(path)``: every frame of a video as RGB arrays."""
    from _video_support import decoded_frames

    return decoded_frames


@pytest.fixture(scope="session")
def audio_seconds() -> Callable[[Path], float]:
    """``audio_seconds(path)``: seconds of decoded audio (0.0 without audio)."""
    from _video_support import audio_seconds

    return audio_seconds


@pytest.fixture(scope="session")
def stream_codecs() -> Callable[[Path], dict[str, str]]:
    """``stream_codecs(path)``: codec name by stream type."""
    from _video_support import stream_codecs

    return stream_codecs


@pytest.fixture(scope="session")
def pitch_at() -> Callable[..., float]:
    """``pitch_at(path, start)``: the dominant audio frequency from ``start`` seconds on."""
    from _video_support import pitch_at

    return pitch_at


# Jobs: a frame-by-frame engine, an in-thread job server, a webhook listener.


@pytest.fixture(scope="session")
def frame_engine() -> type:
    """The ``FrameEngine`` class: slow, cancellable jobs on real images (see its docstring)."""
    from _server_jobs_support import FrameEngine

    return FrameEngine


@pytest.fixture(scope="session")
def running_system() -> Callable[..., Any]:
    """``with running_system(data_dir, engine, ...) as (system, url)``: jobs served on loopback."""
    from _server_jobs_support import running_system

    return running_system


@pytest.fixture(scope="session")
def job_settings() -> Callable[..., Any]:
    """``job_settings(data_dir, **overrides)``: JobSettings for tests (fast webhook retries)."""
    from _server_jobs_support import job_settings

    return job_settings


@pytest.fixture(scope="session")
def job_secret() -> bytes:
    """The webhook secret of :func:`job_settings`."""
    from _server_jobs_support import SECRET

    return SECRET


@pytest.fixture(scope="session")
def hook_listener() -> Callable[..., Any]:
    """``with hook_listener(fail_first=0) as listener``: a loopback server recording POSTs."""
    from _server_jobs_support import hook_listener

    return hook_listener


@pytest.fixture(scope="session")
def wait_until() -> Callable[..., Any]:
    """``wait_until(predicate, timeout=30)``: poll until truthy, fail the test after timeout."""
    from _server_jobs_support import wait_until

    return wait_until


@pytest.fixture(scope="session")
def free_port() -> Callable[[], int]:
    """``free_port()``: a loopback TCP port that was free a moment ago."""
    from bench.serving import free_port

    return free_port


SHARED_SERVER_ARGS = ("--max-file-size", "2MB", "--concurrency", "2", "--queue-size", "4")
"""How the shared server runs: files up to 2 MB, two requests at once and four waiting."""


@pytest.fixture(scope="session")
def shared_server(
    tmp_path_factory: pytest.TempPathFactory, start_server: Callable[..., ServerHandle]
) -> Iterator[ServerHandle]:
    """One ``ffpipe serve`` (builtin engine, :data:`SHARED_SERVER_ARGS`) for the whole session.

    For tests that need a well-behaved server and leave it as they found it: they must not stop
    it, and must not count on files or jobs other tests leave in its data folder.
    """
    handle = start_server(tmp_path_factory.mktemp("shared-serve"), *SHARED_SERVER_ARGS)
    yield handle
    assert handle.stop() == 0, handle.log()[-3000:]


@pytest.fixture(scope="session")
def clip20(tmp_path_factory: pytest.TempPathFactory, make_video: Callable[..., Path]) -> Path:
    """A 20 s clip (5 fps, 320x180, with a tone): long enough that it must run as a job.

    Made once per session; tests read it and never change it.
    """
    folder = tmp_path_factory.mktemp("clip20")
    return make_video(folder / "clip20.mp4", width=320, height=180, fps=5, seconds=20)


AUTH_USERS = {"ada": "s3cret:with:colons", "grace": "cobol"}
"""The users of :func:`auth_server`'s ``--auth-file`` (a password may hold colons)."""


@pytest.fixture(scope="session")
def auth_users() -> dict[str, str]:
    """User name -> password of :func:`auth_server`."""
    return dict(AUTH_USERS)


@pytest.fixture(scope="session")
def auth_server(
    tmp_path_factory: pytest.TempPathFactory, start_server: Callable[..., ServerHandle]
) -> Iterator[ServerHandle]:
    """One ``ffpipe serve --auth-file`` (users :data:`AUTH_USERS`, two requests at once) for the
    session, on the same terms as :func:`shared_server`."""
    folder = tmp_path_factory.mktemp("auth-serve")
    auth_file = folder / "users"
    auth_file.write_text("".join(f"{user}:{password}\n" for user, password in AUTH_USERS.items()))
    handle = start_server(folder, "--auth-file", str(auth_file), "--concurrency", "2")
    yield handle
    assert handle.stop() == 0, handle.log()[-3000:]


# Browser: one headless Chromium for the session (skipped, with how to install it, when missing).


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium under Playwright, launched once per session (see ``_browser_support``)."""
    from _browser_support import CHROMIUM_FLAGS, INSTALL_HINT, chromium_path

    executable = chromium_path()
    if executable is None:
        pytest.skip(INSTALL_HINT)
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(executable), args=list(CHROMIUM_FLAGS)
        )
        yield launched
        launched.close()
