"""``ffpipe status``: the working tree against the lock file of the last successful run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from _pipeline_support import write_pipeline
from _run_support import CountingBackend, copy_photos

from ffpipe.cache.workspace import Workspace
from ffpipe.cli import main
from ffpipe.pipeline import load_pipeline
from ffpipe.run.runner import RunOptions, run_pipeline

PIPELINE = """
    version: 1
    name: lockme
    params:
      blend: {type: number, default: 0.8}
    inputs: {a: astronaut.jpg, many: "*.jpg"}
    steps:
      enhance:
        uses: enhance
        with: {target_media: "{{ inputs.a }}", face_enhancer_blend: "{{ params.blend }}"}
    outputs:
      result: "{{ steps.enhance.output }}"
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    copy_photos(tmp_path)
    write_pipeline(tmp_path, PIPELINE)
    monkeypatch.chdir(tmp_path)
    pipeline = load_pipeline(tmp_path / "pipe.yaml")
    summary = run_pipeline(
        pipeline, Workspace(tmp_path / ".ffpipe"), CountingBackend(), RunOptions()
    )
    assert summary.status == "ok"
    return tmp_path


def status(project: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["status", "pipe.yaml", "--workspace", str(project / ".ffpipe"), *extra])
    return code, capsys.readouterr().out


def test_up_to_date_after_a_run(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert status(project, capsys) == (0, "pipe.yaml: up to date\n")


def test_touch_without_change_is_still_up_to_date(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "astronaut.jpg").touch()
    assert status(project, capsys)[0] == 0


def test_changed_input(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo = project / "grace.jpg"
    photo.write_bytes(photo.read_bytes() + b"\0")
    code, out = status(project, capsys)
    assert code == 1
    assert "input many (grace.jpg) changed" in out


def test_new_file_in_a_glob(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "third.jpg").write_bytes((project / "grace.jpg").read_bytes())
    code, out = status(project, capsys)
    assert code == 1 and "input many: the files it names changed" in out


def test_missing_and_edited_outputs(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = project / "out" / "lockme" / "result.jpg"
    output.unlink()
    code, out = status(project, capsys)
    assert code == 1 and "output result (out/lockme/result.jpg) is missing" in out


def test_param_override_and_pipeline_edit(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = status(project, capsys, "-p", "blend=0.5")
    assert code == 1 and "param blend: 0.8 in the lock, 0.5 now" in out
    pipe = project / "pipe.yaml"
    pipe.write_text(pipe.read_text() + "\n# edited\n")
    code, out = status(project, capsys)
    assert code == 1 and "pipeline file pipe.yaml changed" in out


def test_no_lock_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "pipe.lock").unlink()
    code, out = status(project, capsys)
    assert code == 1 and "no lock file" in out


def test_a_removed_input_is_a_difference(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pipe = project / "pipe.yaml"
    pipe.write_text(pipe.read_text().replace(', many: "*.jpg"', ""))
    code, out = status(project, capsys)
    assert code == 1 and "  input many removed\n" in out


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("<<<<<<< HEAD\nversion: 1\n=======\n  x: [\n", r"pipe.lock:\d+:\d+: the lock file is not"),
        ("params: 3\n", "params in the lock file is not a mapping"),
        ("outputs: {result: 1}\n", "outputs.result in the lock file has no path"),
    ],
)
def test_a_damaged_lock_file_is_a_user_error(
    project: Path, capsys: pytest.CaptureFixture[str], damage: str, message: str
) -> None:
    # A merge conflict in a committed lock file is the likely way to get here.
    lock = project / "pipe.lock"
    lock.write_text(lock.read_text() + damage if damage.startswith("<") else damage)
    assert main(["status", "pipe.yaml", "--workspace", str(project / ".ffpipe")]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and "run `ffpipe run`" in err


@pytest.mark.slow
def test_json_names_the_parameter_that_differs_per_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lock is written by the real local engine, so only the edit differs.
    monkeypatch.delenv("FFPIPE_SERVER", raising=False)
    monkeypatch.chdir(tmp_path)
    copy_photos(tmp_path)
    write_pipeline(
        tmp_path,
        """
        version: 1
        name: found
        params:
          score: {type: number, default: 0.5}
        steps:
          find:
            uses: detect
            with: {target_media: grace.jpg, face_detector_score: "{{ params.score }}"}
          again:
            uses: detect
            with: {target_media: astronaut.jpg}
        """,
    )
    workspace = str(tmp_path / ".ffpipe")
    assert main(["run", "pipe.yaml", "--workspace", workspace]) == 0
    capsys.readouterr()
    assert main(["status", "pipe.yaml", "--workspace", workspace, "--json"]) == 0
    [document] = json.loads(capsys.readouterr().out)
    assert document["up_to_date"] is True
    assert document["steps"] == {
        "again": {"in_sync": True, "differences": []},
        "find": {"in_sync": True, "differences": []},
    }
    assert main(["status", "pipe.yaml", "--workspace", workspace, "--json", "-p", "score=0.4"]) == 1
    [document] = json.loads(capsys.readouterr().out)
    assert document["up_to_date"] is False
    assert document["steps"]["again"] == {"in_sync": True, "differences": []}
    assert document["steps"]["find"]["differences"] == [
        {"kind": "parameter", "name": "face_detector_score", "lock": 0.5, "now": 0.4}
    ]
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(photo.read_bytes() + b"\0")
    assert main(["status", "pipe.yaml", "--workspace", workspace, "--json"]) == 1
    [document] = json.loads(capsys.readouterr().out)
    [difference] = document["steps"]["again"]["differences"]
    assert difference["kind"] == "input" and difference["name"] == "target_media"
    assert difference["lock"] != difference["now"]


def _record_platform(project: Path, platform: dict[str, str]) -> None:
    """The lock as if written on a machine with ``platform``, and its output with other bytes."""
    import yaml

    lock = project / "pipe.lock"
    document = yaml.safe_load(lock.read_text())
    document["platform"] = platform
    lock.write_text(yaml.safe_dump(document, sort_keys=False))
    output = project / "out" / "lockme" / "result.jpg"
    output.write_bytes(output.read_bytes() + b"other bytes")


def test_other_bytes_on_another_platform_are_told_apart_from_a_changed_recipe(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ffpipe.engine.builtin.capabilities import platform

    here = platform()
    _record_platform(project, {**here, "cpu": "x86-64-v1", "numpy": "1.26.0"})
    code, out = status(project, capsys)
    assert code == 1
    assert (
        "output result (out/lockme/result.jpg): same recipe, other bytes (platform differs: "
        f"cpu x86-64-v1 -> {here['cpu']}, numpy 1.26.0 -> {here['numpy']})"
    ) in out
    # A changed recipe explains other bytes by itself: no platform excuse then.
    code, out = status(project, capsys, "--param", "blend=0.5")
    assert code == 1 and "param blend" in out
    assert "same recipe" not in out and "result.jpg) differs from the lock" in out


def test_other_bytes_on_the_same_platform_are_a_plain_difference(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ffpipe.engine.builtin.capabilities import platform

    _record_platform(project, platform())
    code, out = status(project, capsys)
    assert code == 1 and "output result (out/lockme/result.jpg) differs from the lock" in out
    assert "same recipe" not in out
