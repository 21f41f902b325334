"""What a loaded pipeline hands to the graph, the planner and the runner."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Location:
    """Where a value stands in a pipeline file (1-based line and column)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Deferred:
    """A template that needs a step's result, rendered when the steps it names have run."""

    source: str
    """The template text, e.g. ``"{{ steps.swap.output }}"``."""
    refs: frozenset[str]
    """Ids of the step instances it reads."""
    location: Location
    path: str
    """Key path of the value, e.g. ``steps.enhance.with.target_media``."""


@dataclass(frozen=True)
class StepView:
    """What a template sees of a step that has run: ``output``, ``outputs`` and ``result``."""

    output: str
    """Local path of the primary artifact."""
    outputs: Mapping[str, str]
    result: Mapping[str, Any]


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of transient failures, with exponential backoff and jitter."""

    attempts: int = 3
    backoff: float = 1.0
    factor: float = 2.0
    max_backoff: float = 30.0


@dataclass(frozen=True)
class StepInstance:
    """One node of the DAG: a step, or one matrix instance of it (``swap[target=b.jpg]``)."""

    id: str
    step: str
    """Id of the step in the file this instance comes from."""
    op: str
    params: Mapping[str, Any]
    """Rendered ``with`` values (defaults applied); values needing results are :class:`Deferred`."""
    needs: frozenset[str]
    """Instance ids this one depends on: from ``needs:`` and from template references."""
    location: Location
    condition: Deferred | bool = True
    """The ``if:`` value: a constant, or a template rendered once its steps have run."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float | None = None
    cache: bool = True
    asynchronous: bool = False
    matrix: Mapping[str, Any] = field(default_factory=dict)
    job: Mapping[str, Any] = field(default_factory=dict)
    """The step's ``job:`` options (catalog JobOptions: priority, callback_url, job_id)."""
    param_locations: Mapping[str, Location] = field(default_factory=dict)
    """Where each parameter is written (its ``with`` key, or the ``defaults`` entry)."""


@dataclass(frozen=True)
class OutputSpec:
    """A declared pipeline output: a name in the output folder and the artifact it copies."""

    name: str
    value: Deferred | str
    location: Location


@dataclass(frozen=True)
class LoadedPipeline:
    """A validated pipeline file with its matrix expanded and constant templates rendered."""

    name: str
    path: Path
    digest: str
    """sha256 of the file's bytes."""
    params: Mapping[str, Any]
    """Resolved params (defaults with ``-p`` overrides applied)."""
    inputs: Mapping[str, Any]
    """Resolved inputs: absolute local paths (globs expanded to lists) or http(s) URLs."""
    instances: Mapping[str, StepInstance]
    """In file order, matrix instances in expansion order."""
    outputs: tuple[OutputSpec, ...]
