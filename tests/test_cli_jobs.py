"""``ffpipe jobs list | status | wait | cancel`` against a real job API on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _server_jobs_support import ASTRONAUT, FrameEngine, running_system

from bench.serving import free_port
from ffpipe.backends.jobs_client import JobsClient
from ffpipe.cli import main


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("cli-jobs")
    engine = FrameEngine(frames=20, frame_seconds=0.01)
    with running_system(data, engine, progress_interval=0.0) as (_system, base):
        yield base


@pytest.fixture
def client(url: str) -> Iterator[JobsClient]:
    with JobsClient(url) as opened:
        yield opened


def test_wait_prints_progress_and_the_final_status(
    url: str, client: JobsClient, capsys: pytest.CaptureFixture[str]
) -> None:
    client.submit("enhance", {}, {"target_media": ASTRONAUT}, job_id="cli-1")
    code = main(["jobs", "wait", "cli-1", "--server", url, "--interval", "0.05"])
    out, err = capsys.readouterr()
    assert code == 0
    assert out.startswith("cli-1  completed  100%")
    assert "output: http" not in out and "  output: /api/jobs/cli-1/result/output" in out
    assert "cli-1" in err.splitlines()[0], "progress lines go to stderr"


def test_status_and_list(url: str, client: JobsClient, capsys: pytest.CaptureFixture[str]) -> None:
    client.submit("detect", {}, {"target_media": ASTRONAUT}, job_id="cli-2", priority=8)
    client.wait("cli-2", poll_seconds=0.05)
    assert main(["jobs", "status", "cli-2", "--server", url, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["job_id"], document["status"]) == ("cli-2", "completed")
    assert main(["jobs", "list", "--server", url, "--op", "detect"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "PROG", "PRI", "OP", "ETA"]
    assert any(line.split()[:5] == ["cli-2", "completed", "100%", "8", "detect"] for line in lines)
    assert main(["jobs", "list", "--server", url, "--status", "failed"]) == 0
    assert capsys.readouterr().out.strip() == "no jobs"


def test_cancel_then_wait_exits_1(
    url: str, client: JobsClient, capsys: pytest.CaptureFixture[str]
) -> None:
    client.submit("enhance", {}, {"target_media": ASTRONAUT}, job_id="cli-3a", priority=1)
    client.submit("enhance", {}, {"target_media": ASTRONAUT}, job_id="cli-3b", priority=1)
    assert main(["jobs", "cancel", "cli-3b", "--server", url]) == 0
    assert capsys.readouterr().out.startswith("cli-3b  cancelled")
    assert main(["jobs", "wait", "cli-3b", "--server", url]) == 1
    client.wait("cli-3a", poll_seconds=0.05)


def test_user_errors_are_messages_not_tracebacks(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["jobs", "status", "ghost", "--server", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ffpipe: error: ") and "404: job not found" in err
    assert "Traceback" not in err
    down = f"http://127.0.0.1:{free_port()}"
    assert main(["jobs", "list", "--server", down]) == 2
    assert "cannot reach" in capsys.readouterr().err
    assert main(["jobs", "list", "--server", url, "--auth", "nocolon"]) == 2
    assert "USER:PASSWORD" in capsys.readouterr().err


@pytest.mark.slow
def test_the_console_command_runs(url: str, client: JobsClient) -> None:
    # A job of its own: the module's server holds others only when other tests ran first.
    client.submit("detect", {}, {"target_media": ASTRONAUT}, job_id="cli-console")
    done = subprocess.run(
        [sys.executable, "-m", "ffpipe", "jobs", "list", "--server", url, "--json", "--limit", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["list", "--limit", "0"], "--limit: '0' must be above 0"),
        (["wait", "j1", "--interval", "-1"], "--interval: '-1' must be above 0"),
        (["wait", "j1", "--timeout", "nan"], "--timeout: 'nan' must be above 0"),
    ],
)
def test_numbers_that_make_no_sense_are_refused_before_any_request(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The server is never contacted: 127.0.0.1:9 (discard) would refuse the connection anyway.
    with pytest.raises(SystemExit) as stopped:
        main(["jobs", *args, "--server", "http://127.0.0.1:9"])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


def test_submit_an_op_uploads_its_file_and_get_downloads_the_output(
    url: str, client: JobsClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "jobs",
            "submit",
            "enhance",
            "-p",
            f"target_media={ASTRONAUT}",
            "-p",
            "face_enhancer_blend=0.4",
            "--server",
            url,
            "--json",
        ]
    )
    assert code == 0
    job = json.loads(capsys.readouterr().out)
    client.wait(job["job_id"], poll_seconds=0.05)
    folder = tmp_path / "outs"
    assert main(["jobs", "get", job["job_id"], "-o", f"{folder}/", "--server", url]) == 0
    [written] = capsys.readouterr().out.split()
    assert Path(written).parent == folder and Path(written).stem == "output"
    single = tmp_path / f"restored{Path(written).suffix}"
    assert main(["jobs", "get", job["job_id"], "-o", str(single), "--server", url]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(single) and err == ""
    assert single.read_bytes() == Path(written).read_bytes()
    assert main(["jobs", "get", job["job_id"], "-o", str(tmp_path / "x.bmp"), "--server", url]) == 0
    assert "x.bmp holds what the server named output" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".ffpipe-get")] == []


def test_submit_a_pipeline_submits_its_independent_steps(
    url: str, client: JobsClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    shutil.copyfile(ASTRONAUT, tmp_path / "a.jpg")
    single = tmp_path / "one.yaml"
    single.write_text(
        "version: 1\nname: one\nsteps:\n  look: {uses: detect, with: {target_media: a.jpg}}\n"
    )
    assert main(["jobs", "submit", str(single), "--server", url, "--json"]) == 0
    job = json.loads(capsys.readouterr().out)
    assert client.wait(job["job_id"], poll_seconds=0.05).status == "completed"
    chained = tmp_path / "two.yaml"
    chained.write_text(
        "version: 1\nname: two\nsteps:\n"
        "  fix: {uses: enhance, with: {target_media: a.jpg}}\n"
        "  age: {uses: edit, with: {target_media: '{{ steps.fix.output }}'}}\n"
    )
    assert main(["jobs", "submit", str(chained), "--server", url]) == 2
    assert "ffpipe run" in capsys.readouterr().err
    assert main(["jobs", "submit", "nosuchop", "--server", url]) == 2
    assert "neither an op" in capsys.readouterr().err
