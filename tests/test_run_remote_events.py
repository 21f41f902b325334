"""How the remote's events read: cached (remote), notes, transfer progress."""

from __future__ import annotations

import io

from ffpipe.run import events as ev
from ffpipe.run.reporters import PlainReporter, RichReporter


def test_plain_lines() -> None:
    stream = io.StringIO()
    report = PlainReporter(stream)
    report(ev.StepCached(step="swap", key="sha256:" + "0" * 64, remote=True))
    report(ev.StepCached(step="edit", key="sha256:" + "1" * 64))
    report(ev.RemoteNote(message="remote s3://b/p is unreachable: refused"))
    report(ev.Transfer(direction="pull", done=1, total=2, bytes=10))
    report(ev.Transfer(direction="pull", done=2, total=2, bytes=2_500_000))
    assert stream.getvalue().splitlines() == [
        "swap: cached (remote)",
        "edit: cached",
        "remote cache: remote s3://b/p is unreachable: refused",
        "pull: 2 of 2 done, 2.5 MB",
    ]


def test_rich_transfer_bar_outside_and_inside_a_run() -> None:
    report = RichReporter()
    for done in range(4):
        report(ev.Transfer(direction="push", done=done, total=3, bytes=done * 10))
    assert not report._progress.live.is_started  # a push alone: the bar is gone when done
    report(ev.RunStart(run_id="r", pipeline="p", steps=1, jobs=1, backend="local"))
    report(ev.Transfer(direction="pull", done=1, total=1, bytes=1))
    assert report._progress.live.is_started  # inside a run the display stays for the steps
    report(ev.RunDone(run_id="r", status="ok", duration=0.1, ran=0, cached=1, failed=0, skipped=0))
    assert not report._progress.live.is_started
