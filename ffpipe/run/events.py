"""What a run tells the world: a small vocabulary of events, each a plain dataclass."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    """Base of every event; ``kind`` names it in JSON output and the events file."""

    kind: ClassVar[str] = "event"
    time: float = field(default_factory=time.time, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, **asdict(self)}


@dataclass(frozen=True)
class RunStart(Event):
    """A run began: how many steps, how many at once, on which backend."""

    kind: ClassVar[str] = "run_start"
    run_id: str
    pipeline: str
    steps: int
    """Steps of the pipeline file the run covers (a matrix step counts once)."""
    jobs: int
    backend: str
    instances: int = 0
    """Step instances the run covers (the matrix's combinations); 0 when not recorded."""


@dataclass(frozen=True)
class StepCached(Event):
    """A step's outputs were found in the cache under its key."""

    kind: ClassVar[str] = "step_cached"
    step: str
    key: str
    remote: bool = False
    """Fetched from the remote cache in this run rather than found in the workspace."""


@dataclass(frozen=True)
class StepStart(Event):
    """A step was handed to the backend, with the reasons it had to run."""

    kind: ClassVar[str] = "step_start"
    step: str
    op: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class StepProgress(Event):
    """A running step reported progress (0.0-1.0) and its current stage."""

    kind: ClassVar[str] = "step_progress"
    step: str
    fraction: float
    stage: str


@dataclass(frozen=True)
class StepRetry(Event):
    """A transient failure; the step is tried again after ``delay`` seconds."""

    kind: ClassVar[str] = "step_retry"
    step: str
    attempt: int
    delay: float
    error: str


@dataclass(frozen=True)
class StepDone(Event):
    """A step ran and its outputs are stored; model stand-ins are listed."""

    kind: ClassVar[str] = "step_done"
    step: str
    duration: float
    substitutions: tuple[str, ...] = ()
    worker: str | None = None
    """The cluster worker that ran it (``ffpipe run --cluster``)."""


@dataclass(frozen=True)
class StepWarning(Event):
    """A step did less than asked (``11 of 50 frames had no face``): from its result's
    ``warnings``, whether it ran now or its cached result is reused."""

    kind: ClassVar[str] = "step_warning"
    step: str
    message: str


@dataclass(frozen=True)
class StepFailed(Event):
    """A step failed for good, with the backend's message."""

    kind: ClassVar[str] = "step_failed"
    step: str
    error: str


@dataclass(frozen=True)
class StepSkipped(Event):
    """A step did not run: a false condition, an upstream failure, or a stopped run."""

    kind: ClassVar[str] = "step_skipped"
    step: str
    reason: str


@dataclass(frozen=True)
class RemoteNote(Event):
    """Something about the remote cache the user should know (unreachable, a corrupt object)."""

    kind: ClassVar[str] = "remote"
    message: str


@dataclass(frozen=True)
class Transfer(Event):
    """Moving to or from the remote cache: ``done`` of ``total`` (objects for a push, steps for
    a pull), ``bytes`` moved so far."""

    kind: ClassVar[str] = "transfer"
    direction: str
    """``pull`` or ``push``."""
    done: int
    total: int
    bytes: int


@dataclass(frozen=True)
class RunDone(Event):
    """The run ended: ``ok``, ``failed`` or ``interrupted``, with counts and outputs."""

    kind: ClassVar[str] = "run_done"
    run_id: str
    status: str
    duration: float
    ran: int
    cached: int
    failed: int
    skipped: int
    outputs: dict[str, str] = field(default_factory=dict)
