"""Events and their reporters: plain lines, JSON lines, and the rich live display."""

from __future__ import annotations

import io
import json

from ffpipe.run import events as ev
from ffpipe.run.reporters import JsonReporter, PlainReporter, RichReporter, make_reporter

SEQUENCE: list[ev.Event] = [
    ev.RunStart(run_id="r1", pipeline="portrait", steps=3, jobs=2, backend="local"),
    ev.StepCached(step="swap", key="sha256:abc"),
    ev.StepStart(step="enhance", op="enhance", reasons=("face_enhancer_blend changed 0.8 -> 0.6",)),
    ev.StepProgress(step="enhance", fraction=0.5, stage="faces"),
    ev.StepProgress(step="enhance", fraction=0.55, stage="faces"),
    ev.StepRetry(step="enhance", attempt=1, delay=0.5, error="connection reset"),
    ev.StepDone(step="enhance", duration=1.25, substitutions=("gfpgan_1.4 -> unsharp",)),
    ev.StepFailed(step="aged", error="no face found"),
    ev.StepSkipped(step="final", reason="upstream aged failed"),
    ev.RunDone(
        run_id="r1",
        status="failed",
        duration=2.0,
        ran=1,
        cached=1,
        failed=1,
        skipped=1,
        outputs={"portrait": "out/portrait/portrait.jpg"},
    ),
]


def test_plain_lines() -> None:
    stream = io.StringIO()
    reporter = PlainReporter(stream)
    for event in SEQUENCE:
        reporter(event)
    text = stream.getvalue()
    assert "swap: cached" in text
    assert "enhance: running enhance (face_enhancer_blend changed 0.8 -> 0.6)" in text
    assert text.count("enhance: faces") == 1  # same stage, same tenth: one line
    assert "aged: FAILED: no face found" in text
    assert "final: skipped (upstream aged failed)" in text
    assert "portrait: out/portrait/portrait.jpg" in text


def test_json_lines_round_trip() -> None:
    stream = io.StringIO()
    reporter = JsonReporter(stream)
    for event in SEQUENCE:
        reporter(event)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == [event.kind for event in SEQUENCE]
    assert lines[2]["reasons"] == ["face_enhancer_blend changed 0.8 -> 0.6"]
    assert all(isinstance(line["time"], float) for line in lines)


def test_rich_reporter_runs_through_a_whole_run() -> None:
    reporter = RichReporter()
    reporter._console.file = io.StringIO()  # keep the test output clean
    for event in SEQUENCE:
        reporter(event)
    assert "enhance: done" in reporter._console.file.getvalue()


def test_make_reporter_picks_plain_off_a_terminal() -> None:
    assert isinstance(make_reporter(stream=io.StringIO()), PlainReporter)
    assert isinstance(make_reporter(json_lines=True, stream=io.StringIO()), JsonReporter)


def test_plain_progress_every_tenth_of_a_long_stage() -> None:
    stream = io.StringIO()
    reporter = PlainReporter(stream)
    for done in range(101):
        reporter(ev.StepProgress(step="swap", fraction=done / 100, stage="frames"))
    lines = stream.getvalue().splitlines()
    assert lines == [f"swap: frames {tenth * 10}%" for tenth in range(11)]
