"""A step that did less than asked says so: its result's ``warnings`` reach the CLI, the run
record and ``--json``, on the first run and when the result is reused from the cache."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from _pipeline_support import write_pipeline
from _run_support import CountingBackend, copy_photos
from PIL import Image

from ffpipe.backends.base import StepRequest, StepResult
from ffpipe.cache.workspace import Workspace
from ffpipe.cli import main
from ffpipe.pipeline import load_pipeline
from ffpipe.run.reporters import PlainReporter
from ffpipe.run.runner import RunOptions, run_pipeline

PIPELINE = """
    version: 1
    name: warned
    inputs: {target: astronaut.jpg}
    steps:
      swap:
        uses: swap
        with: {source_face: "{{ inputs.target }}", target_media: "{{ inputs.target }}"}
"""


class WarningBackend(CountingBackend):
    """Test double: the op works but reports frames it skipped, as a real engine would."""

    def run(self, request: StepRequest) -> StepResult:
        done = super().run(request)
        return StepResult(done.files, {**done.result, "warnings": ["11 of 50 frames had no face"]})


def test_warnings_are_shown_recorded_and_kept_with_the_cache(tmp_path: Path) -> None:
    copy_photos(tmp_path)
    path = write_pipeline(tmp_path, PIPELINE)
    backend = WarningBackend()
    for status in ("ran", "cached"):
        stream = io.StringIO()
        summary = run_pipeline(
            load_pipeline(path),
            Workspace(tmp_path / ".ffpipe"),
            backend,
            RunOptions(out_dir=tmp_path / "out"),
            PlainReporter(stream),
        )
        assert summary.steps["swap"].status == status
        assert "swap: warning: 11 of 50 frames had no face\n" in stream.getvalue()
        record = json.loads(summary.record.read_text())
        assert record["steps"]["swap"]["warnings"] == ["11 of 50 frames had no face"]
    assert backend.total == 1


def test_a_step_without_warnings_records_none(tmp_path: Path) -> None:
    copy_photos(tmp_path)
    path = write_pipeline(tmp_path, PIPELINE)
    summary = run_pipeline(
        load_pipeline(path), Workspace(tmp_path / ".ffpipe"), CountingBackend(), RunOptions()
    )
    assert json.loads(summary.record.read_text())["steps"]["swap"]["warnings"] == []


def test_the_builtin_engine_warns_when_a_jpeg_output_drops_the_alpha_channel(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FFPIPE_SERVER", raising=False)  # the local backend, in-process
    astronaut, _ = copy_photos(tmp_path)
    rgba = Image.open(astronaut).convert("RGBA")
    rgba.putalpha(200)
    rgba.save(tmp_path / "see-through.png")
    path = write_pipeline(
        tmp_path,
        """
        version: 1
        name: alpha
        steps:
          flat:
            uses: enhance
            with: {target_media: see-through.png, output_path: flat.jpg}
        """,
    )
    workspace = str(tmp_path / ".ffpipe")
    out = str(tmp_path / "out")
    assert main(["run", str(path), "--workspace", workspace, "--out", out, "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    warnings = [e for e in events if e["event"] == "step_warning"]
    assert [(e["step"], "alpha channel was dropped" in e["message"]) for e in warnings] == [
        ("flat", True)
    ]
    assert main(["run", str(path), "--workspace", workspace, "--out", out]) == 0
    text = capsys.readouterr().out
    assert "flat: cached\n" in text
    assert "flat: warning: " in text and "the alpha channel was dropped" in text
