"""The gradio backend against a real `ffpipe serve` on a free loopback port."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ffpipe.backends.base import BackendError, StepRequest, TransientBackendError
from ffpipe.backends.config import ConfigError, ServerConfig
from ffpipe.backends.gradio import GradioBackend
from ffpipe.backends.local import LocalBackend

if TYPE_CHECKING:
    from bench.serving import ServerHandle

MEDIA = Path(__file__).resolve().parent.parent / "media"
SOURCE = MEDIA / "grace_hopper.jpg"
TARGET = MEDIA / "astronaut.jpg"
USER, PASSWORD = "grace", "cobol"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def server(auth_server: ServerHandle, auth_users: dict[str, str]) -> ServerHandle:
    assert auth_users[USER] == PASSWORD, "the shared server's auth file has this user"
    return auth_server


@pytest.fixture(scope="module")
def small_servers() -> list[ServerHandle]:
    return []


@pytest.fixture
def small_server(
    small_servers: list[ServerHandle], tmp_path_factory: pytest.TempPathFactory, start_server
) -> ServerHandle:
    """A server with room for one request running and one waiting, kept for the next test of
    this module that asks for one; a test may stop it, and the next one gets a new one."""
    running = [handle for handle in small_servers if handle.alive()]
    if running:
        return running[0]
    folder = tmp_path_factory.mktemp("small")
    small_servers.append(start_server(folder, "--concurrency", "1", "--queue-size", "1"))
    return small_servers[-1]


@pytest.fixture
def backend(server: ServerHandle, monkeypatch: pytest.MonkeyPatch) -> Iterator[GradioBackend]:
    monkeypatch.setenv("FFPIPE_AUTH", f"{USER}:{PASSWORD}")
    backend = GradioBackend(server.url)
    yield backend
    backend.close()


def test_identity_and_capabilities_come_from_the_server(
    backend: GradioBackend, server: ServerHandle
) -> None:
    identity = backend.identity()
    assert identity.kind == "gradio"
    assert identity.engine == "builtin"
    assert identity.engine_version == backend.capabilities()["version"]
    assert identity.server == server.url
    assert USER not in server.url and PASSWORD not in str(identity)
    assert backend.max_concurrency() == 2
    # The server engine's platform fingerprint, for the lock file (the same machine here).
    from ffpipe.engine.builtin.capabilities import platform

    assert identity.platform == platform()


def test_a_chain_uploads_each_input_once_and_matches_local_bytes(
    backend: GradioBackend, tmp_path: Path
) -> None:
    swap_params = {
        "source_face": str(SOURCE),
        "target_media": str(TARGET),
        "face_swapper_model": "inswapper_128",
    }
    remote = backend.run(StepRequest("swap", swap_params, tmp_path / "r1"))
    local = LocalBackend().run(StepRequest("swap", swap_params, tmp_path / "l1"))
    assert _sha(remote.files["output"]) == _sha(local.files["output"])
    assert remote.result == local.result
    assert backend.bytes_uploaded == SOURCE.stat().st_size + TARGET.stat().st_size

    enhance_params = {"target_media": str(remote.files["output"]), "face_enhancer_blend": 0.8}
    remote2 = backend.run(StepRequest("enhance", enhance_params, tmp_path / "r2"))
    # The swapped image came from the server: it is referenced, not sent back.
    assert backend.bytes_uploaded == SOURCE.stat().st_size + TARGET.stat().st_size
    local2 = LocalBackend().run(
        StepRequest(
            "enhance",
            {**enhance_params, "target_media": str(local.files["output"])},
            tmp_path / "l2",
        )
    )
    assert _sha(remote2.files["output"]) == _sha(local2.files["output"])

    # Same inputs again: nothing is uploaded a second time.
    backend.run(StepRequest("swap", swap_params, tmp_path / "r3"))
    assert backend.bytes_uploaded == SOURCE.stat().st_size + TARGET.stat().st_size


def test_progress_and_detect_results_arrive(backend: GradioBackend, tmp_path: Path) -> None:
    result = backend.run(StepRequest("detect", {"target_media": str(TARGET)}, tmp_path / "d"))
    assert result.files["output"].is_file()
    assert len(result.result["faces"]) == 1
    assert "ffpipe_files" not in result.result


def test_server_errors_keep_their_message(backend: GradioBackend, tmp_path: Path) -> None:
    not_image = tmp_path / "notes.jpg"
    not_image.write_text("not an image")
    with pytest.raises(BackendError) as caught:
        backend.run(StepRequest("detect", {"target_media": str(not_image)}, tmp_path / "x"))
    assert not isinstance(caught.value, TransientBackendError)
    assert str(caught.value).startswith("detect ")


def test_check_lists_what_the_server_lacks(server: ServerHandle, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("FFPIPE_AUTH", f"{USER}:{PASSWORD}")
    config = ServerConfig(endpoints={"edit": "/face_editor", "video": 42})
    backend = GradioBackend(server.url, config=config, strict_models=True)
    try:
        with pytest.raises(BackendError) as caught:
            backend.check(
                [
                    ("swap", {"face_swapper_model": "inswapper_128"}),
                    ("edit", {}),
                    ("video", {}),
                    ("detect", {}),
                ]
            )
        message = str(caught.value)
        assert "face_swapper_model='inswapper_128' is substituted" in message
        assert "'/face_editor'" in message and "42" in message
        assert "/swap" in message  # the endpoints the server does have
        assert "detect" not in message.split("its endpoints")[0]
    finally:
        backend.close()
    relaxed = GradioBackend(server.url)
    try:
        relaxed.check([("swap", {"face_swapper_model": "inswapper_128"}), ("detect", {})])
    finally:
        relaxed.close()


def test_wrong_credentials_are_a_clear_error(server: ServerHandle, monkeypatch) -> None:
    monkeypatch.setenv("FFPIPE_AUTH", f"{USER}:wrong")
    with pytest.raises(BackendError) as caught:
        GradioBackend(server.url)
    assert not isinstance(caught.value, TransientBackendError)
    monkeypatch.delenv("FFPIPE_AUTH")
    with pytest.raises(BackendError):
        GradioBackend(server.url)


def test_an_unreachable_server_is_transient(free_port) -> None:
    with pytest.raises(TransientBackendError, match="cannot reach"):
        GradioBackend(f"http://127.0.0.1:{free_port()}/")


def test_config_files_map_endpoints_and_credentials(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("FFPIPE_AUTH", raising=False)
    (tmp_path / "auth").write_text("# me\nada:pw:x\n")
    (tmp_path / "ffpipe.toml").write_text(
        '[server]\nurl = "http://gpu:9002"\nauth_file = "auth"\ntimeout = 30\n'
        '[server.endpoints]\nswap = "face_swap"\nenhance = 3\n'
    )
    config = ServerConfig.discover(tmp_path)
    assert config.url == "http://gpu:9002"
    assert config.endpoint("swap") == "/face_swap"
    assert config.endpoint("enhance") == 3
    assert config.endpoint("detect") == "/detect"
    assert config.credentials() == ("ada", "pw:x")
    monkeypatch.setenv("FFPIPE_AUTH", "env:pass")
    assert config.credentials() == ("env", "pass")

    yaml_file = tmp_path / "other.yaml"
    yaml_file.write_text("server:\n  endpoints:\n    teleport: /x\n")
    with pytest.raises(ConfigError, match="unknown op"):
        ServerConfig.load(yaml_file)
    monkeypatch.setenv("FFPIPE_AUTH", "no-colon")
    with pytest.raises(ConfigError, match="user:password"):
        ServerConfig().credentials()
    assert ServerConfig.discover(tmp_path / "nowhere") == ServerConfig()


def test_a_full_queue_is_transient(tmp_path: Path, small_server: ServerHandle) -> None:
    import threading

    handle = small_server
    outcomes: list[str] = []
    lock = threading.Lock()

    def one(index: int) -> None:
        backend = None
        try:
            backend = GradioBackend(handle.url)
            backend.run(
                StepRequest(
                    "swap",
                    {"source_face": str(SOURCE), "target_media": str(TARGET)},
                    tmp_path / f"w{index}",
                )
            )
            outcome = "ok"
        except TransientBackendError as error:
            outcome = f"transient: {error}"
        except BackendError as error:
            outcome = f"error: {error}"
        finally:
            if backend is not None:
                backend.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=one, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert handle.alive()
    assert len(outcomes) == 6
    assert "ok" in outcomes
    refused = [outcome for outcome in outcomes if outcome != "ok"]
    assert refused, "six concurrent swaps should overflow a queue of one"
    for outcome in refused:
        assert outcome.startswith("transient:") and "queue" in outcome.lower(), outcome


# Runs after the full queue test: it stops the small server that test leaves running.
def test_a_server_gone_mid_run_is_transient(tmp_path: Path, small_server: ServerHandle) -> None:
    handle = small_server
    backend = GradioBackend(handle.url)
    try:
        backend.run(StepRequest("detect", {"target_media": str(TARGET)}, tmp_path / "a"))
        handle.stop()
        with pytest.raises(TransientBackendError):
            backend.run(StepRequest("detect", {"target_media": str(SOURCE)}, tmp_path / "b"))
    finally:
        handle.stop()
        backend.close()


def test_a_directory_artifact_arrives_as_a_directory(
    backend: GradioBackend, tmp_path: Path
) -> None:
    params = {
        "target_media": str(MEDIA / "clip.mp4"),
        "trim_frame_start": 0,
        "trim_frame_end": 3,
        "extract_frame_format": "png",
    }
    remote = backend.run(StepRequest("extract_frames", params, tmp_path / "remote"))
    local = LocalBackend().run(StepRequest("extract_frames", params, tmp_path / "local"))
    remote_dir, local_dir = remote.files["output"], local.files["output"]
    assert remote_dir.is_dir() and local_dir.is_dir()
    remote_frames = {p.name: _sha(p) for p in sorted(remote_dir.iterdir())}
    assert remote_frames == {p.name: _sha(p) for p in sorted(local_dir.iterdir())}
    assert len(remote_frames) == 3
    assert not any(path.suffix == ".zip" for path in (tmp_path / "remote").iterdir())


def test_process_applies_several_ops_in_one_call(backend: GradioBackend, tmp_path: Path) -> None:
    params = {
        "source_face": str(SOURCE),
        "target_media": str(TARGET),
        "processors": ["swap", "enhance"],
    }
    remote = backend.run(StepRequest("process", params, tmp_path / "remote"))
    local = LocalBackend().run(StepRequest("process", params, tmp_path / "local"))
    assert _sha(remote.files["output"]) == _sha(local.files["output"])


def test_files_the_server_lost_are_uploaded_again(
    backend: GradioBackend, server: ServerHandle, tmp_path: Path
) -> None:
    import shutil

    params = {"target_media": str(TARGET)}
    backend.run(StepRequest("detect", params, tmp_path / "a"))
    sent = backend.bytes_uploaded
    # Other tests share this server and may leave plain files in its uploads folder.
    for entry in (server.data_dir / "uploads").iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    again = backend.run(StepRequest("detect", params, tmp_path / "b"))
    assert len(again.result["faces"]) == 1
    assert backend.bytes_uploaded == sent + TARGET.stat().st_size


@pytest.mark.slow
def test_ffpipe_run_against_no_server_is_one_clear_line(tmp_path: Path, free_port) -> None:
    import subprocess
    import sys

    url = f"http://127.0.0.1:{free_port()}/"
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "ffpipe",
            "run",
            str(MEDIA.parent / "pipelines" / "examples" / "portrait.yaml"),
            "--workspace",
            str(tmp_path / "ws"),
            "--out",
            str(tmp_path / "out"),
            "--server",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 2
    assert f"cannot reach {url}" in finished.stderr
    assert "Traceback" not in finished.stderr


def test_a_file_url_naming_another_host_gets_no_credentials(
    backend: GradioBackend, tmp_path: Path
) -> None:
    # A second loopback listener stands in for a host that a server's answer could name.
    import http.server
    import threading

    seen: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("cookie") or "")
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"not the file")

        def log_message(self, *args: object) -> None:
            pass

    listener = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=listener.serve_forever, daemon=True)
    thread.start()
    try:
        server_path = backend._upload(TARGET)
        elsewhere = f"http://127.0.0.1:{listener.server_port}/gradio_api/file={server_path}"
        local = backend._download(
            {"path": server_path, "url": elsewhere, "orig_name": "t.jpg"}, tmp_path
        )
    finally:
        listener.shutdown()
        listener.server_close()
        thread.join()
    assert seen == []
    assert _sha(local) == _sha(TARGET)
