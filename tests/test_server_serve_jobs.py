"""The catalog's asynchronous workflow on `ffpipe serve` itself: a 20 s video submitted as a job,
its progress and estimated time shown, the server killed with SIGKILL mid-job and restarted on the
same data folder, the job completed once more, its signed callback received and its result
collected. Real server subprocesses on loopback, the builtin engine, nothing mocked."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from ffpipe.backends.jobs_client import JobsClient
from ffpipe.catalog import JobStatus
from ffpipe.engine.builtin.video import probe
from ffpipe.server.jobs.webhooks import SIGNATURE_HEADER, verify


@pytest.mark.slow
def test_a_20_second_video_job_survives_a_sigkill_of_ffpipe_serve(
    tmp_path: Path, clip20, hook_listener, start_server, wait_until
) -> None:
    video = clip20
    data = tmp_path / "data"
    serve_args = ("--data-dir", str(data), "--allow-callback", "127.0.0.1")
    # Upscaling 100 frames to 720p keeps the job running for seconds, long enough to be killed
    # mid-way; the fastest preset keeps the two encodes (killed and complete) short.
    params = {"output_video_resolution": "1280x720", "output_video_preset": "ultrafast"}
    shown: list[JobStatus] = []
    with hook_listener() as listener:
        first = start_server(tmp_path / "first", *serve_args)
        try:
            with JobsClient(first.url) as client:
                client.submit(
                    "video",
                    params,
                    {"target_media": video},
                    job_id="clip20",
                    callback_url=listener.url,
                )
                wait_until(lambda: client.status("clip20").progress >= 0.05, timeout=120)
                shown.append(client.status("clip20"))
        finally:
            first.process.send_signal(signal.SIGKILL)
            first.process.wait(10)
        second = start_server(tmp_path / "second", *serve_args)
        try:
            with JobsClient(second.url) as client:
                final = client.wait("clip20", timeout=300, poll_seconds=0.1, on_status=shown.append)
                files = client.result("clip20", tmp_path / "collected")
            [hook] = listener.wait_for(1)
        finally:
            assert second.stop() == 0

    assert final.status == "completed", final.result
    running = [status for status in shown if status.status == "processing" and status.progress]
    assert running and any(status.estimated_time is not None for status in running)
    assert final.result["attempts"] == 2 and "interrupted" in final.result["notes"][0]
    secret = (data / "webhook-secret").read_text().strip().encode()
    assert verify(hook.body, secret, hook.headers[SIGNATURE_HEADER])
    assert json.loads(hook.body)["status"] == "completed"
    info = probe(files["output"])
    assert (info.width, info.height) == (1280, 720)
    assert abs(info.duration - 20.0) < 0.5
