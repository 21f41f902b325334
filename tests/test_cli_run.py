"""``ffpipe run`` as users call it, on real photos with the builtin engine.

Most cases call ``main(argv)`` in-process with the output captured; the ones about a whole
process (what it imports, Ctrl-C, kill -9, two processes on one workspace) run real subprocesses.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from _pipeline_support import write_pipeline
from _run_support import copy_photos
from PIL import Image

from ffpipe.cli import main

pytestmark = pytest.mark.slow  # ffpipe runs end to end, in processes

PORTRAIT = """
    version: 1
    name: portrait
    params:
      age: {type: integer, default: 65}
    inputs: {source: grace.jpg, target: astronaut.jpg}
    steps:
      swap:
        uses: swap
        with: {source_face: "{{ inputs.source }}", target_media: "{{ inputs.target }}"}
      enhance:
        uses: enhance
        with: {target_media: "{{ steps.swap.output }}", face_enhancer_blend: 0.8}
      aged:
        uses: edit
        with: {target_media: "{{ steps.enhance.output }}", face_editor_age: "{{ params.age }}"}
      found:
        uses: detect
        with: {target_media: "{{ inputs.target }}"}
    outputs:
      portrait: "{{ steps.aged.output }}"
      faces: "{{ steps.found.output }}"
"""
HEAVY = ("cv2", "dlib", "gradio", "gradio_client")
_PROBE = (
    "import json, sys\n"
    "from ffpipe.cli import main\n"
    "code = main(sys.argv[1:])\n"
    f"loaded = [m for m in {HEAVY!r} if m in sys.modules]\n"
    "print('HEAVY=' + json.dumps(loaded), file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def ffpipe(folder: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run the CLI in ``folder`` and report which heavy modules it loaded (on stderr)."""
    return subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "FFPIPE_WORKSPACE": str(folder / ".ffpipe")},
    )


@dataclass(frozen=True)
class Result:
    """What an in-process call of the CLI returned and printed."""

    returncode: int
    stdout: str
    stderr: str


Cli = Callable[..., Result]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """``ffpipe ARGS`` in-process in ``folder``, as ``ffpipe`` runs it there as a process."""

    def call(folder: Path, *args: str) -> Result:
        monkeypatch.chdir(folder)
        monkeypatch.setenv("FFPIPE_WORKSPACE", str(folder / ".ffpipe"))
        monkeypatch.delenv("FFPIPE_SERVER", raising=False)
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as stopped:  # argparse refusing the arguments
            code = stopped.code if isinstance(stopped.code, int) else 2
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return call


def heavy_modules(result: subprocess.CompletedProcess[str]) -> list[str]:
    line = next(line for line in result.stderr.splitlines() if line.startswith("HEAVY="))
    return json.loads(line.removeprefix("HEAVY="))


def events(result: Result | subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy_photos(tmp_path)
    write_pipeline(tmp_path, PORTRAIT, "portrait.yaml")
    return tmp_path


def test_run_then_cached_run_without_heavy_imports(project: Path) -> None:
    first = ffpipe(project, "run", "portrait.yaml", "--json")
    assert first.returncode == 0, first.stderr
    kinds = [event["event"] for event in events(first)]
    assert kinds.count("step_done") == 4
    portrait = (project / "out" / "portrait" / "portrait.jpg").read_bytes()
    assert portrait[:3] == b"\xff\xd8\xff"
    second = ffpipe(project, "run", "portrait.yaml", "--json")
    assert second.returncode == 0, second.stderr
    assert [e["event"] for e in events(second)].count("step_cached") == 4
    assert heavy_modules(second) == []
    assert (project / "out" / "portrait" / "portrait.jpg").read_bytes() == portrait
    status = ffpipe(project, "status", "portrait.yaml")
    assert status.returncode == 0, status.stdout + status.stderr


def test_plain_output_names_outputs_and_reasons(project: Path, cli: Cli) -> None:
    cli(project, "run", "portrait.yaml")
    result = cli(project, "run", "portrait.yaml", "-p", "age=30")
    assert result.returncode == 0, result.stderr
    assert "aged: running edit (face_editor_age changed 65 -> 30)" in result.stdout
    assert "swap: cached" in result.stdout
    assert "out/portrait/portrait.jpg" in result.stdout


def test_bad_pipeline_is_exit_2_without_traceback(project: Path, cli: Cli) -> None:
    bad = write_pipeline(project, "version: 1\nsteps:\n  x: {uses: swap, with: {bogus: 1}}\n")
    result = cli(project, "run", bad.name)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "bogus" in result.stderr


def test_strict_models_refuses_the_plan_before_any_step_runs(project: Path, cli: Cli) -> None:
    result = cli(project, "run", "portrait.yaml", "--strict-models", "--json")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "face_swapper_model='inswapper_128' would be replaced by" in result.stderr
    assert "step_start" not in result.stdout
    assert not (project / "out").exists()


def test_bad_arguments_are_exit_2(project: Path, cli: Cli) -> None:
    assert cli(project, "run", "portrait.yaml", "--jobs", "0").returncode == 2
    assert cli(project, "run", "portrait.yaml", "-p", "age").returncode == 2


def test_failed_step_is_exit_1_and_keep_going_runs_the_rest(project: Path, cli: Cli) -> None:
    Image.new("RGB", (64, 64), (200, 30, 30)).save(project / "blank.jpg")
    write_pipeline(
        project,
        PORTRAIT.replace("source: grace.jpg", "source: blank.jpg"),
        "faceless.yaml",
    )
    result = cli(project, "run", "faceless.yaml", "--json", "--keep-going", "--jobs", "1")
    assert result.returncode == 1, result.stderr
    by_kind: dict[str, list[str]] = {}
    for event in events(result):
        by_kind.setdefault(str(event["event"]), []).append(str(event.get("step")))
    assert by_kind["step_failed"] == ["swap"]
    assert sorted(by_kind["step_skipped"]) == ["aged", "enhance"]
    assert by_kind["step_done"] == ["found"]


def test_a_value_that_fails_once_rendered_is_exit_2_with_its_location(
    project: Path, cli: Cli
) -> None:
    write_pipeline(
        project,
        """
        version: 1
        steps:
          found:
            uses: detect
            with: {target_media: astronaut.jpg}
          restored:
            uses: enhance
            with:
              target_media: astronaut.jpg
              face_enhancer_blend: "{{ steps.found.result.faces | length / 0 }}"
        """,
        "divide.yaml",
    )
    result = cli(project, "run", "divide.yaml")
    assert result.returncode == 2, result.stderr
    assert "divide.yaml:10:7: steps.restored.with.face_enhancer_blend:" in result.stdout
    assert "Traceback" not in result.stderr


def test_several_pipelines_in_one_call(project: Path, cli: Cli) -> None:
    write_pipeline(project, PORTRAIT.replace("name: portrait", "name: second"), "second.yaml")
    result = cli(project, "run", "portrait.yaml", "second.yaml")
    assert result.returncode == 0, result.stderr
    assert (project / "out" / "portrait" / "portrait.jpg").exists()
    assert (project / "out" / "second" / "portrait.jpg").exists()
    # Same steps, same inputs: the second pipeline reuses the first one's work.
    assert result.stdout.count(": cached") == 4


def test_interrupt_exits_130_and_a_rerun_completes(project: Path) -> None:
    process = _start(project, "run", "portrait.yaml", "--json", "--jobs", "1")
    _wait_for(process, "step_start")
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130
    (record,) = (project / ".ffpipe" / "runs").glob("*/run.json")
    assert json.loads(record.read_text())["status"] == "interrupted"
    verify = ffpipe(project, "cache", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    rerun = ffpipe(project, "run", "portrait.yaml")
    assert rerun.returncode == 0, rerun.stderr


def test_kill_9_at_several_points_then_rerun_is_byte_identical(tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    reference.mkdir()
    copy_photos(reference)
    write_pipeline(reference, PORTRAIT, "portrait.yaml")
    assert ffpipe(reference, "run", "portrait.yaml").returncode == 0
    project = tmp_path / "killed"
    shutil.copytree(reference, project, ignore=shutil.ignore_patterns(".ffpipe", "out", "*.lock"))
    # Kill points: as the run starts, while the first step runs, after a step was stored, and
    # while a later step runs.
    for kind, count in (("run_start", 1), ("step_start", 1), ("step_done", 1), ("step_start", 3)):
        process = _start(project, "run", "portrait.yaml", "--json", "--jobs", "1")
        _wait_for(process, kind, count)
        process.kill()
        process.wait(timeout=30)
    final = ffpipe(project, "run", "portrait.yaml")
    assert final.returncode == 0, final.stderr
    for name in ("portrait/portrait.jpg", "portrait/faces.json"):
        assert (project / "out" / name).read_bytes() == (reference / "out" / name).read_bytes()
    verify = ffpipe(project, "cache", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert not list((project / ".ffpipe" / "tmp").glob("run-*"))  # killed runs' scratch swept


def test_two_runs_at_once_on_one_workspace(project: Path) -> None:
    first = _start(project, "run", "portrait.yaml", "--json")
    second = _start(project, "run", "portrait.yaml", "--json", "-p", "age=40")
    assert first.wait(timeout=180) == 0
    assert second.wait(timeout=180) == 0
    verify = ffpipe(project, "cache", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    again = ffpipe(project, "run", "portrait.yaml", "--json")
    assert again.returncode == 0, again.stderr
    assert [e["event"] for e in events(again)].count("step_cached") == 4


def _start(folder: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ffpipe", *args],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "FFPIPE_WORKSPACE": str(folder / ".ffpipe")},
    )


def _wait_for(process: subprocess.Popen[str], kind: str, count: int = 1) -> None:
    """Read JSON events until the ``count``-th event of ``kind`` (bounded by the run's end)."""
    assert process.stdout is not None
    seen = 0
    for line in process.stdout:
        if json.loads(line)["event"] == kind:
            seen += 1
            if seen == count:
                return
    pytest.fail(f"the run ended before {count} {kind} event(s)")


def test_no_lock_leaves_no_lock_file_beside_the_pipeline(project: Path, cli: Cli) -> None:
    result = cli(project, "run", "portrait.yaml", "--target", "found")
    assert result.returncode == 0, result.stderr
    assert not (project / "portrait.lock").exists()  # targeted runs never write one
    result = cli(project, "run", "portrait.yaml", "--no-lock")
    assert result.returncode == 0, result.stderr
    assert not (project / "portrait.lock").exists()
    assert (project / "out" / "portrait" / "portrait.jpg").exists()
    assert cli(project, "run", "portrait.yaml").returncode == 0
    assert (project / "portrait.lock").exists()
