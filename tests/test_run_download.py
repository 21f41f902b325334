"""URL inputs: fetched into the cache from a real HTTP server on the loopback interface."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from _run_support import ASTRONAUT

from ffpipe.run.download import DownloadError, fetch, looks_like_media

PHOTO = ASTRONAUT.read_bytes()


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        routes = {
            "/astronaut.jpg": (200, "image/jpeg", PHOTO),
            "/page.html": (200, "text/html", b"<html><body>not a photo</body></html>"),
        }
        status, kind, body = routes.get(self.path, (404, "text/plain", b"not found"))
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_fetches_a_photo(server: str, tmp_path: Path) -> None:
    path = fetch(f"{server}/astronaut.jpg", tmp_path)
    assert path.read_bytes() == PHOTO


def test_404_is_a_clear_error(server: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(f"{server}/missing.jpg", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_non_media_body_is_refused(server: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="not an image or a video"):
        fetch(f"{server}/page.html", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_size_limit(server: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="over the limit"):
        fetch(f"{server}/astronaut.jpg", tmp_path, max_bytes=1000)
    assert list(tmp_path.iterdir()) == []


def test_connection_refused(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="cannot download"):
        fetch("http://127.0.0.1:9/astronaut.jpg", tmp_path, timeout=2)


def test_media_sniffing() -> None:
    assert looks_like_media(PHOTO[:16])
    assert looks_like_media(b"\x00\x00\x00\x18ftypmp42")
    assert not looks_like_media(b"<!doctype html>")


def test_a_pipeline_with_url_inputs_downloads_once_and_caches(server: str, tmp_path: Path) -> None:
    from _pipeline_support import write_pipeline
    from _run_support import CountingBackend

    from ffpipe.cache.workspace import Workspace
    from ffpipe.pipeline import load_pipeline
    from ffpipe.run.runner import RunOptions, run_pipeline

    write_pipeline(
        tmp_path,
        f"""
        version: 1
        name: remote
        inputs: {{photo: "{server}/astronaut.jpg", broken: "{server}/gone.jpg"}}
        steps:
          enhance: {{uses: enhance, with: {{target_media: "{{{{ inputs.photo }}}}"}}}}
          other: {{uses: enhance, with: {{target_media: "{{{{ inputs.broken }}}}"}}}}
        outputs:
          photo: "{{{{ steps.enhance.output }}}}"
        """,
    )
    pipeline = load_pipeline(tmp_path / "pipe.yaml")
    workspace = Workspace(tmp_path / ".ffpipe")
    backend = CountingBackend()
    options = RunOptions(out_dir=tmp_path / "out", keep_going=True)
    first = run_pipeline(pipeline, workspace, backend, options)
    assert first.steps["enhance"].status == "ran"
    assert first.steps["other"].status == "failed"
    assert "HTTP 404" in str(first.steps["other"].error)
    assert (tmp_path / "out" / "photo.jpg").read_bytes().startswith(PHOTO)
    second = run_pipeline(pipeline, workspace, backend, options)
    assert second.steps["enhance"].status == "cached"
    assert backend.calls == {"enhance:astronaut.jpg": 1}
