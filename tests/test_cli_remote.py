"""A remote cache on the filesystem, shared by fresh clones of one project (real renders)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest
from _remote_support import events, in_folder_main, make_clone

pytestmark = pytest.mark.slow  # runs end to end against moto's S3 server


def run_json(folder, capsys, *args: str) -> tuple[int, list[dict]]:
    code = in_folder_main(folder, "run", "team.yaml", "--json", *args)
    return code, events(capsys.readouterr().out)


def outputs_of(folder):
    return {path.name: path.read_bytes() for path in sorted((folder / "out" / "team").iterdir())}


def test_second_clone_renders_nothing_and_gets_identical_outputs(tmp_path, capsys):
    remote = tmp_path / "shared"
    first = make_clone(tmp_path / "first", str(remote))
    code, first_events = run_json(first, capsys, "--push")
    assert code == 0
    assert any(event["event"] == "step_done" for event in first_events)
    assert list((remote / "steps").rglob("*.json"))
    assert not list((remote / "tmp").iterdir())  # no upload left half-way

    second = make_clone(tmp_path / "second", str(remote))
    code, second_events = run_json(second, capsys)
    assert code == 0
    kinds = [event["event"] for event in second_events]
    assert "step_done" not in kinds and "step_start" not in kinds
    cached = [event for event in second_events if event["event"] == "step_cached"]
    assert cached and all(event["remote"] for event in cached)
    assert outputs_of(second) == outputs_of(first)

    # The plan of a third clone says where each step would come from, contacting no renderer.
    third = make_clone(tmp_path / "third", str(remote))
    assert in_folder_main(third, "plan", "team.yaml") == 0
    plan = capsys.readouterr().out
    assert "[cached (remote)]" in plan and "will run" not in plan
    assert not (third / ".ffpipe").exists()


def test_pull_writes_outputs_without_running(tmp_path, capsys):
    remote = tmp_path / "shared"
    first = make_clone(tmp_path / "first", str(remote))
    assert in_folder_main(first, "run", "team.yaml") == 0
    assert in_folder_main(first, "push", "team.yaml") == 0
    assert "pushed" in capsys.readouterr().out

    second = make_clone(tmp_path / "second", str(remote))
    shutil.copyfile(first / "team.lock", second / "team.lock")  # committed with the pipeline
    assert in_folder_main(second, "pull") == 0  # no files: the pipelines the lock files name
    said = capsys.readouterr().out
    assert "outputs written" in said
    assert outputs_of(second) == outputs_of(first)
    # Everything is local now: the run reuses it without fetching again.
    code, second_events = run_json(second, capsys)
    cached = [event for event in second_events if event["event"] == "step_cached"]
    assert code == 0 and cached and not any(event["remote"] for event in cached)


def test_corrupt_remote_object_is_refused_and_the_step_rendered(tmp_path, capsys):
    remote = tmp_path / "shared"
    first = make_clone(tmp_path / "first", str(remote))
    assert in_folder_main(first, "run", "team.yaml", "--push", "--no-lock") == 0
    capsys.readouterr()
    objects = sorted((remote / "objects").rglob("*"), key=lambda p: p.stat().st_size)
    victim = [path for path in objects if path.is_file()][-1]
    victim.chmod(0o644)
    victim.write_bytes(victim.read_bytes()[:100])  # truncated

    second = make_clone(tmp_path / "second", str(remote))
    code, second_events = run_json(second, capsys, "--push")
    assert code == 0
    notes = [event["message"] for event in second_events if event["event"] == "remote"]
    assert any("corrupt" in note for note in notes)
    assert any(event["event"] == "step_done" for event in second_events)
    assert outputs_of(second) == outputs_of(first)
    assert (remote / "quarantine").is_dir()
    # The push after the render put a good copy back: a third clone renders nothing.
    third = make_clone(tmp_path / "third", str(remote))
    code, third_events = run_json(third, capsys)
    assert code == 0 and not any(e["event"] == "step_done" for e in third_events)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def unreachable_s3(monkeypatch):
    port = closed_port()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    return "s3://renders/ffpipe"


def test_unreachable_remote_is_said_once_and_the_run_goes_on(tmp_path, capsys, unreachable_s3):
    clone = make_clone(tmp_path / "clone", unreachable_s3)
    code, found = run_json(clone, capsys)
    assert code == 0
    notes = [event["message"] for event in found if event["event"] == "remote"]
    assert len(notes) == 1 and "unreachable" in notes[0], notes
    assert any(event["event"] == "step_done" for event in found)


def test_require_remote_fails_when_unreachable(tmp_path, capsys, unreachable_s3):
    clone = make_clone(tmp_path / "clone", unreachable_s3)
    code = in_folder_main(clone, "run", "team.yaml", "--require-remote")
    assert code == 2
    err = capsys.readouterr().err
    assert "unreachable" in err and err.count("\n") == 1
    assert not (clone / "out").exists()


def test_noop_run_with_a_remote_never_loads_fsspec(tmp_path, capsys):
    import subprocess
    import sys

    clone = make_clone(tmp_path / "clone", str(tmp_path / "nowhere"))
    assert in_folder_main(clone, "run", "team.yaml") == 0
    probe = (
        "import sys, json\nfrom ffpipe.cli import main\ncode = main(sys.argv[1:])\n"
        "print(json.dumps([m for m in ('fsspec', 's3fs', 'cv2') if m in sys.modules]),"
        " file=sys.stderr)\nsys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, "run", "team.yaml"],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []
    assert not (tmp_path / "nowhere").exists()


def test_remote_gc_keeps_only_what_lock_files_name(tmp_path, capsys):
    remote = tmp_path / "shared"
    clone = make_clone(tmp_path / "clone", str(remote))
    assert in_folder_main(clone, "run", "team.yaml", "--push") == 0
    pipeline = clone / "team.yaml"
    pipeline.write_text(pipeline.read_text().replace("age: [30, 70]", "age: [30, 50]"))
    assert in_folder_main(clone, "run", "team.yaml", "--push") == 0
    capsys.readouterr()
    before = sorted(path for path in remote.rglob("*") if path.is_file())

    assert in_folder_main(clone, "cache", "gc", "--remote", "--dry-run", "--grace", "0") == 0
    said = capsys.readouterr().out
    assert "would remove team/aged[age=70]" in said and "[age=50]" not in said
    assert sorted(path for path in remote.rglob("*") if path.is_file()) == before

    assert in_folder_main(clone, "cache", "gc", "--remote", "--grace", "0") == 0
    assert "removed 1 entry, 1 object" in capsys.readouterr().out
    assert in_folder_main(clone, "cache", "ls", "--remote") == 0
    listing = capsys.readouterr().out
    assert "aged[age=70]" not in listing and "aged[age=50]" in listing
    # What is left is whole: a fresh clone of the current pipeline renders nothing.
    fresh = make_clone(tmp_path / "fresh", str(remote))
    (fresh / "team.yaml").write_text(pipeline.read_text())
    code, found = run_json(fresh, capsys)
    assert code == 0 and not any(event["event"] == "step_done" for event in found)


def test_remote_gc_stops_at_a_lock_file_it_cannot_read(tmp_path, capsys):
    remote = tmp_path / "shared"
    clone = make_clone(tmp_path / "clone", str(remote))
    assert in_folder_main(clone, "run", "team.yaml", "--push") == 0
    capsys.readouterr()
    lock = clone / "team.lock"
    text = lock.read_text()
    lock.write_text(f"<<<<<<< HEAD\n{text}=======\n{text}>>>>>>> theirs\n")
    (clone / "poetry.lock").write_text("[[package]]\nname = 'x'\n")  # not ours: ignored
    before = sorted(path for path in remote.rglob("*") if path.is_file())

    assert in_folder_main(clone, "cache", "gc", "--remote", "--grace", "0") == 2
    said = capsys.readouterr().err
    assert "cannot read the lock file" in said and "team.lock" in said
    assert sorted(path for path in remote.rglob("*") if path.is_file()) == before


def test_grace_keeps_fresh_pushes(tmp_path, capsys):
    remote = tmp_path / "shared"
    clone = make_clone(tmp_path / "clone", str(remote))
    assert in_folder_main(clone, "run", "team.yaml", "--push", "--no-lock") == 0
    capsys.readouterr()
    assert in_folder_main(clone, "cache", "gc", "--remote") == 0
    assert "removed 0 entries, 0 objects" in capsys.readouterr().out


KILLED_BEFORE_RENAME = """
import sys, time
from pathlib import Path
from ffpipe.cache.remote import RemoteStore
remote = RemoteStore(sys.argv[1])
def stuck(*_args, **_kwargs):
    print("written", flush=True)
    time.sleep(60)
remote.fs.mv = stuck  # the process dies between writing the bytes and renaming them in
remote.put_object("sha256:" + "cd" * 32, Path(sys.argv[2]))
"""


def test_push_killed_midway_on_a_file_system_leaves_no_visible_object(tmp_path):
    import signal
    import subprocess
    import sys

    from ffpipe.cache.remote import RemoteStore

    source = tmp_path / "blob"
    source.write_bytes(b"x" * 100_000)
    remote_dir = tmp_path / "shared"
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_BEFORE_RENAME, str(remote_dir), str(source)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "written"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    remote = RemoteStore(str(remote_dir))
    assert not remote.has_object("sha256:" + "cd" * 32) and remote.objects() == []
    assert [path.stat().st_size for path in (remote_dir / "tmp").iterdir()] == [100_000]
    assert remote.stale_uploads(0) and not remote.stale_uploads(3600)


@pytest.mark.parametrize(
    ("settings", "server"),
    [
        ('[cache]\nremote = "s3://b/p"\n# [server]\n# url = "http://x"\n', False),
        ('[cache]\nremote = "/srv/cache"\n[server]\ntimeout = 30\n', False),
        ('[cache]\nremote = "/srv/cache"\n[server]\nurl = "http://127.0.0.1:9002"\n', True),
        ('[ "server" ]\nurl = "http://127.0.0.1:9002"\n', True),
        ('server.url = "http://127.0.0.1:9002"\n', True),
        ("[server\n", True),  # unreadable: take the full pass
    ],
)
def test_fast_path_stays_open_when_settings_only_name_a_remote(
    tmp_path, monkeypatch, settings, server
):
    from ffpipe.run.noop import uses_server

    (tmp_path / "ffpipe.toml").write_text(settings)
    monkeypatch.chdir(tmp_path)
    assert uses_server(None, tmp_path / "ffpipe.toml") is server


def test_remote_gc_removes_only_its_own_leftover_uploads(tmp_path, capsys):
    import os

    remote = tmp_path / "shared"
    clone = make_clone(tmp_path / "clone", str(remote))
    assert in_folder_main(clone, "run", "team.yaml", "--push") == 0
    leftover = remote / "tmp" / f"{'ab' * 31}.{'cd' * 16}"
    foreign = remote / "tmp" / "notes.txt"
    for path in (leftover, foreign):
        path.write_text("x")
        os.utime(path, (1_000_000_000, 1_000_000_000))
    capsys.readouterr()
    assert in_folder_main(clone, "cache", "gc", "--remote", "--grace", "0") == 0
    assert not leftover.exists()
    assert foreign.read_text() == "x"


def test_next_pull_removes_what_a_killed_pull_left_and_spares_live_writers(tmp_path, capsys):
    remote = tmp_path / "shared"
    first = make_clone(tmp_path / "first", str(remote))
    assert in_folder_main(first, "run", "team.yaml", "--push") == 0
    second = make_clone(tmp_path / "second", str(remote))
    shutil.copyfile(first / "team.lock", second / "team.lock")
    assert in_folder_main(second, "pull") == 0
    capsys.readouterr()

    gone = subprocess.Popen([sys.executable, "-c", "pass"])  # a writer killed with -9: pid gone
    gone.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        out_folder = second / "out" / "team"
        scratch = second / ".ffpipe" / "objects" / "tmp"
        # Named as place() and fetch_object() name them (run/outputs.py, cache/remote.py).
        dead = [out_folder / f".aged_30.jpg.{gone.pid}.tmp", scratch / f"pull-{gone.pid}-x1y2z3w4"]
        old_style = scratch / "pull-k3j4h5g6"  # named before names carried the writer's pid
        live = [
            out_folder / f".aged_70.jpg.{alive.pid}.tmp",
            scratch / f"pull-{alive.pid}-a1b2c3d4",
        ]
        foreign = [out_folder / ".aged_30.jpg.notes", scratch / "mine.txt"]
        for path in [*dead, old_style, *live, *foreign]:
            path.write_bytes(b"partial")
        two_days_ago = time.time() - 2 * 24 * 3600
        os.utime(old_style, (two_days_ago, two_days_ago))

        assert in_folder_main(second, "pull") == 0
        assert not any(path.exists() for path in [*dead, old_style])
        assert all(path.exists() for path in [*live, *foreign])
    finally:
        alive.kill()
        alive.wait()
