"""Showing events: a live display on a terminal, else one plain line per event, or JSON."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from typing import TextIO

from ffpipe.run import events as ev
from ffpipe.words import steps_and_instances

Reporter = Callable[[ev.Event], None]


class StandIns:
    """Says each model stand-in of a run in full once: a step with the same stand-ins as an
    earlier one says so in a word (the run record and ``--json`` keep them per step)."""

    def __init__(self, verbose: bool = False) -> None:
        self.verbose = verbose
        self._seen: set[str] = set()

    def line(self, event: ev.Event) -> str | None:
        """The event's plain line, its stand-ins cut to the new ones."""
        if isinstance(event, ev.RunStart):
            self._seen.clear()
        if not isinstance(event, ev.StepDone) or not event.substitutions or self.verbose:
            return _plain_line(event)
        new = [item for item in event.substitutions if item not in self._seen]
        self._seen.update(event.substitutions)
        if new == list(event.substitutions):
            return _plain_line(event)
        shown = f"stand-ins as above; new: {', '.join(new)}" if new else "stand-ins as above"
        return f"{event.step}: done in {event.duration:.2f}s [{shown}]"


def _plain_line(event: ev.Event) -> str | None:
    match event:
        case ev.RunStart():
            return (
                f"run {event.run_id}: {event.pipeline}, "
                f"{steps_and_instances(event.steps, event.instances or event.steps)}, "
                f"{event.jobs} at a time on {event.backend}"
            )
        case ev.StepCached():
            return f"{event.step}: cached" + (" (remote)" if event.remote else "")
        case ev.RemoteNote():
            return f"remote cache: {event.message}"
        case ev.Transfer() if event.done == event.total:
            return (
                f"{event.direction}: {event.done} of {event.total} done, {event.bytes / 1e6:.1f} MB"
            )
        case ev.StepStart():
            why = "; ".join(event.reasons)
            return f"{event.step}: running {event.op}" + (f" ({why})" if why else "")
        case ev.StepRetry():
            return (
                f"{event.step}: attempt {event.attempt} failed ({event.error}); "
                f"retrying in {event.delay:.1f}s"
            )
        case ev.StepDone():
            subs = f" [stand-ins: {', '.join(event.substitutions)}]" if event.substitutions else ""
            where = f" on {event.worker}" if event.worker else ""
            return f"{event.step}: done in {event.duration:.2f}s{where}{subs}"
        case ev.StepWarning():
            return f"{event.step}: warning: {event.message}"
        case ev.StepFailed():
            return f"{event.step}: FAILED: {event.error}"
        case ev.StepSkipped():
            return f"{event.step}: skipped ({event.reason})"
        case ev.RunDone():
            lines = [
                f"run {event.run_id} {event.status} in {event.duration:.2f}s: {event.ran} ran, "
                f"{event.cached} cached, {event.failed} failed, {event.skipped} skipped"
            ]
            lines += [f"  {name}: {path}" for name, path in event.outputs.items()]
            return "\n".join(lines)
    return None


PROGRESS_STEP = 0.1
"""A plain progress line is printed when the stage changes or another tenth is done."""


class PlainReporter:
    """One line per event, progress only when its stage changes or another tenth is done."""

    def __init__(self, stream: TextIO | None = None, verbose: bool = False) -> None:
        self._stream = stream or sys.stdout
        self._stand_ins = StandIns(verbose)
        self._shown: dict[str, tuple[str, int]] = {}
        self._lock = threading.Lock()

    def __call__(self, event: ev.Event) -> None:
        with self._lock:
            if isinstance(event, ev.StepProgress):
                tenth = int(event.fraction / PROGRESS_STEP + 1e-9)
                if self._shown.get(event.step) == (event.stage, tenth):
                    return
                self._shown[event.step] = (event.stage, tenth)
                line = f"{event.step}: {event.stage} {event.fraction:.0%}"
            else:
                line = self._stand_ins.line(event)
            if line is not None:
                print(line, file=self._stream, flush=True)


class JsonReporter:
    """One JSON object per line per event."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout
        self._lock = threading.Lock()

    def __call__(self, event: ev.Event) -> None:
        with self._lock:
            print(json.dumps(event.to_dict()), file=self._stream, flush=True)


class RichReporter:
    """A live progress bar per running step; finished steps are printed above it."""

    def __init__(self, verbose: bool = False) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._console = Console(stderr=False)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[stage]}"),
            TimeElapsedColumn(),
            console=self._console,
            transient=True,
        )
        self._tasks: dict[str, int] = {}
        self._stand_ins = StandIns(verbose)
        self._in_run = False
        self._lock = threading.Lock()

    def __call__(self, event: ev.Event) -> None:
        with self._lock:
            if isinstance(event, ev.RunStart):
                self._in_run = True
                self._progress.start()
            if isinstance(event, ev.StepStart):
                self._tasks[event.step] = self._progress.add_task(
                    event.step, total=1.0, stage=event.op
                )
            elif isinstance(event, ev.StepProgress) and event.step in self._tasks:
                self._progress.update(
                    self._tasks[event.step], completed=event.fraction, stage=event.stage
                )
            elif isinstance(event, ev.Transfer):
                self._transfer(event)
            elif isinstance(event, ev.StepDone | ev.StepFailed) and event.step in self._tasks:
                self._progress.remove_task(self._tasks.pop(event.step))
            if isinstance(event, ev.RunDone):
                self._in_run = False
                self._progress.stop()
            line = self._stand_ins.line(event)
            if line is not None and not isinstance(event, ev.RunStart | ev.StepStart):
                style = {
                    "step_failed": "red",
                    "step_cached": "dim",
                    "step_done": "green",
                    "step_warning": "yellow",
                }
                self._progress.console.print(line, style=style.get(event.kind), highlight=False)

    def _transfer(self, event: ev.Transfer) -> None:
        """One bar per direction, counting objects, gone when the transfer is complete."""
        self._progress.start()
        task = self._tasks.get(event.direction)
        if task is None:
            task = self._tasks[event.direction] = self._progress.add_task(
                event.direction, total=max(event.total, 1), stage="objects"
            )
        self._progress.update(task, completed=event.done, total=max(event.total, 1))
        if event.done >= event.total:
            self._progress.remove_task(self._tasks.pop(event.direction))
            if not self._tasks and not self._in_run:
                self._progress.stop()


def make_reporter(
    *, json_lines: bool = False, stream: TextIO | None = None, verbose: bool = False
) -> Reporter:
    """JSON lines when asked, a live display on a terminal, plain lines otherwise; ``verbose``
    repeats every step's stand-ins in full."""
    target = stream or sys.stdout
    if json_lines:
        return JsonReporter(target)
    if stream is None and target.isatty():
        return RichReporter(verbose)
    return PlainReporter(target, verbose)
