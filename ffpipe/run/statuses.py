"""The states of a step and of a run, as enums whose values are what records, events and JSON
have always held (str enums: ``json.dumps`` and f-strings give the bare value)."""

from __future__ import annotations

from enum import Enum


class StepStatus(str, Enum):
    """What the planner decided for a step, or what became of it in a run."""

    CACHED = "cached"
    WILL_RUN = "will run"
    SKIPPED = "skipped"
    RAN = "ran"
    FAILED = "failed"
    NOT_RUN = "not run"

    __str__ = str.__str__


class RunStatus(str, Enum):
    """How a run ended."""

    OK = "ok"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    __str__ = str.__str__
