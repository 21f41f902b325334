"""What happened to one step instance in a run: the runner writes it, records and stamps read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ffpipe.run.statuses import StepStatus


@dataclass
class StepOutcome:
    """What happened to one instance in a run."""

    status: StepStatus
    reasons: tuple[str, ...] = ()
    key: str | None = None
    duration: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    input_paths: dict[str, str] = field(default_factory=dict)
    """The local path each input parameter named (its digest is in ``inputs``)."""
    file_names: dict[str, str] = field(default_factory=dict)
    """The file name of each output (``output`` -> ``portrait.jpg``), for people and reports."""
    fused_into: str | None = None
    """The fused group that produced this step's result, for members without an artifact."""
    group: tuple[str, ...] = ()
    """All members of the fused group this step belongs to."""
    job_id: str | None = None
    """The server job the step ran as, when it ran as one."""
    user_error: bool = False
    """Failed on a mistake of the user's (a deferred value of the pipeline, a bad input URL)."""
    worker: str | None = None
    """The cluster worker that ran the step, when it ran on one."""

    @property
    def warnings(self) -> list[str]:
        """What the op said it did less than asked (its result's ``warnings``)."""
        found = self.result.get("warnings", [])
        return [str(item) for item in found] if isinstance(found, list) else [str(found)]
