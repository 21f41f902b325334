"""The no-op fast path: ``ffpipe run``/``plan`` with nothing changed answer from the last run's
stamp; anything that could change the answer takes the full pass.

The CLI runs in-process on ``CountingBackend`` (a test double standing in for the engine, so the
cases stay fast and calls can be counted); the import budget is checked once in a real
subprocess on the real builtin engine.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _pipeline_support import write_pipeline
from _run_support import CountingBackend, copy_photos
from PIL import Image

from ffpipe.cli import main
from ffpipe.run import noop

PIPELINE = """
    version: 1
    name: quick
    params:
      blend: {type: number, default: 0.8}
    inputs: {a: astronaut.jpg, b: grace.jpg}
    steps:
      enhance:
        uses: enhance
        with: {target_media: "{{ inputs.a }}", face_enhancer_blend: "{{ params.blend }}"}
      edit:
        uses: edit
        with: {target_media: "{{ steps.enhance.output }}", face_editor_age: 40}
      other:
        uses: enhance
        with: {target_media: "{{ inputs.b }}"}
    outputs:
      portrait: "{{ steps.edit.output }}"
"""
HEAVY = ("networkx", "jinja2", "numpy", "cv2", "dlib", "av", "gradio", "gradio_client")


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> CountingBackend:
    double = CountingBackend()
    monkeypatch.setattr("ffpipe.backends.make_backend", lambda *args, **kwargs: double)
    return double


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    copy_photos(tmp_path)
    write_pipeline(tmp_path, PIPELINE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FFPIPE_SERVER", raising=False)
    monkeypatch.setenv("FFPIPE_WORKSPACE", str(tmp_path / ".ffpipe"))
    yield tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, dict[str, object]]:
    """``ffpipe run pipe.yaml`` in-process: exit code, output and the run record written."""
    capsys.readouterr()
    code = main(["run", "pipe.yaml", *args])
    out = capsys.readouterr().out
    records = (Path(".ffpipe") / "runs").glob("*/run.json")
    latest = max(records, key=lambda path: path.stat().st_mtime_ns)
    return code, out, json.loads(latest.read_text())


def replayed(record: dict[str, object]) -> bool:
    return "replayed_from" in record


def test_a_second_run_replays_the_first_as_cached(
    project: Path, backend: CountingBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, record = run(capsys)
    assert code == 0 and not replayed(record) and backend.total == 3
    full_noop_code, full_noop, full_record = run(capsys, "--json")
    assert full_noop_code == 0 and replayed(full_record) and backend.total == 3
    kinds = [json.loads(line)["event"] for line in full_noop.splitlines()]
    assert kinds == ["run_start", "step_cached", "step_cached", "step_cached", "run_done"]
    code, out, record = run(capsys)
    assert replayed(record)
    assert "enhance: cached\n" in out and "0 ran, 3 cached, 0 failed, 0 skipped" in out
    assert record["steps"]["edit"]["status"] == "cached"  # type: ignore[index]
    assert record["status"] == "ok"


def test_the_replay_says_what_the_full_pass_says(
    project: Path, backend: CountingBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys)
    lines = run(capsys)[1].splitlines()
    for stamp in (project / ".ffpipe" / "noop").glob("*.json"):
        stamp.unlink()  # forget what the run left, so the next one takes the full pass
    full_code, full_out, full_record = run(capsys)
    assert full_code == 0 and not replayed(full_record)

    def shape(text: list[str]) -> list[str]:
        """Lines without the run id and the seconds taken."""
        return [re.sub(r"^run \S+|in \d+\.\d+s", "", line) for line in text]

    assert shape(lines) == shape(full_out.splitlines())


@pytest.mark.parametrize(
    "change",
    [
        "input bytes",
        "pipeline edit",
        "param",
        "force",
        "target",
        "output deleted",
        "output edited",
        "lock deleted",
        "object deleted",
        "entry deleted",
        "engine code",
        "other out dir",
    ],
)
def test_anything_that_could_change_the_answer_takes_the_full_pass(
    project: Path,
    backend: CountingBackend,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    change: str,
) -> None:
    run(capsys)
    assert replayed(run(capsys)[2])
    portrait = project / "out" / "quick" / "portrait.jpg"
    args: list[str] = []
    if change == "input bytes":
        photo = project / "grace.jpg"
        photo.write_bytes(photo.read_bytes() + b"\0")
    elif change == "pipeline edit":
        pipe = project / "pipe.yaml"
        pipe.write_text(pipe.read_text().replace("face_editor_age: 40", "face_editor_age: 41"))
    elif change == "param":
        args = ["-p", "blend=0.5"]
    elif change == "force":
        args = ["--force", "edit"]
    elif change == "target":
        args = ["--target", "edit"]
    elif change == "output deleted":
        portrait.unlink()
    elif change == "output edited":  # saved as editors do: a new file in its place
        portrait.unlink()
        portrait.write_bytes(b"not a photo")
    elif change == "lock deleted":
        (project / "pipe.lock").unlink()
    elif change == "object deleted":
        blobs = [p for p in (project / ".ffpipe" / "objects").rglob("*") if p.is_file()]
        for blob in blobs:
            blob.unlink()
    elif change == "entry deleted":
        assert main(["cache", "gc", "--max-size", "0"]) == 0
    elif change == "engine code":
        monkeypatch.setattr(noop, "_code_fingerprint", lambda: "another engine version")
    elif change == "other out dir":
        args = ["--out", str(project / "elsewhere")]
    code, out, record = run(capsys, *args)
    assert code == 0, out
    assert not replayed(record)
    if change in ("output deleted", "output edited"):
        assert portrait.read_bytes()[:3] == b"\xff\xd8\xff"  # placed again
    if change == "lock deleted":
        assert (project / "pipe.lock").is_file()
    if change not in ("force", "target"):
        assert replayed(run(capsys, *args)[2])  # and the full pass stamped the new state


def test_an_environment_change_counts_only_where_the_pipeline_reads_env(
    project: Path,
    backend: CountingBackend,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run(capsys)
    monkeypatch.setenv("FFPIPE_PUBLIC_TEST_AGE", "40")
    assert replayed(run(capsys)[2])
    pipe = project / "pipe.yaml"
    pipe.write_text(
        pipe.read_text().replace(
            "face_editor_age: 40", "face_editor_age: '{{ env.FFPIPE_PUBLIC_TEST_AGE }}'"
        )
    )
    assert not replayed(run(capsys)[2])
    assert replayed(run(capsys)[2])
    monkeypatch.setenv("FFPIPE_PUBLIC_TEST_AGE", "41")
    record = run(capsys)[2]
    assert not replayed(record)
    assert record["steps"]["edit"]["status"] == "ran"  # type: ignore[index]


def test_a_failed_run_leaves_no_stamp(
    project: Path, backend: CountingBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys)
    (project / "grace.jpg").unlink()
    assert run(capsys)[0] == 2
    assert not list((project / ".ffpipe" / "noop").glob("*.json"))


def test_plan_replays_while_nothing_changed(
    project: Path, backend: CountingBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys)
    assert main(["plan", "pipe.yaml"]) == 0
    first = capsys.readouterr().out
    assert "  edit (edit)  [cached]\n" in first
    kept = list((project / ".ffpipe" / "noop").glob("*.plan-*.json"))
    assert len(kept) == 1
    assert main(["plan", "pipe.yaml"]) == 0
    assert capsys.readouterr().out == first
    photo = project / "astronaut.jpg"
    photo.write_bytes(photo.read_bytes() + b"\0")
    assert main(["plan", "pipe.yaml"]) == 0
    changed = capsys.readouterr().out
    assert "  enhance (enhance)  [will run (input target_media (astronaut.jpg) changed)]" in changed
    assert "[will run (upstream enhance will run: input target_media (astronaut.jpg) changed)]" in (
        changed
    )


def _tiny_project(folder: Path) -> None:
    for name in ("astronaut", "grace"):
        source = Path(__file__).resolve().parent.parent / "media" / f"{name}.jpg"
        if name == "grace":
            source = source.with_name("grace_hopper.jpg")
        Image.open(source).resize((96, 96)).save(folder / f"{name}.jpg")
    write_pipeline(
        folder,
        """
        version: 1
        name: tiny
        inputs: {a: astronaut.jpg, b: grace.jpg}
        steps:
          one: {uses: detect, with: {target_media: "{{ inputs.a }}"}}
          two: {uses: detect, with: {target_media: "{{ inputs.b }}"}}
        outputs:
          faces: "{{ steps.one.output }}"
        """,
    )


@pytest.mark.slow
def test_the_fast_path_imports_nothing_heavy(tmp_path: Path) -> None:
    """A real process on the real builtin engine: what the fast path loads is what users wait
    for."""
    _tiny_project(tmp_path)
    probe = (
        "import json, sys\n"
        "from ffpipe.cli import main\n"
        "code = main(sys.argv[1:])\n"
        f"loaded = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print('HEAVY=' + json.dumps(loaded), file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "FFPIPE_SERVER"}
    env["FFPIPE_WORKSPACE"] = str(tmp_path / ".ffpipe")

    def ffpipe(*args: str) -> tuple[str, list[str]]:
        done = subprocess.run(
            [sys.executable, "-c", probe, *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        assert done.returncode == 0, done.stderr
        line = next(line for line in done.stderr.splitlines() if line.startswith("HEAVY="))
        return done.stdout, json.loads(line.removeprefix("HEAVY="))

    first, loaded = ffpipe("run", "pipe.yaml")
    assert "2 ran" in first and "numpy" in loaded  # the full pass did load the engine
    again, loaded = ffpipe("run", "pipe.yaml")
    assert "0 ran, 2 cached" in again
    assert loaded == []
    ffpipe("plan", "pipe.yaml")  # the full plan, kept for the next one
    plan, loaded = ffpipe("plan", "pipe.yaml")
    assert "  one (detect)  [cached]" in plan
    assert loaded == []
