"""Running pipelines: scheduling, caching decisions, retries, events, records and outputs."""

from __future__ import annotations

from ffpipe.run.explain import Decision, explain
from ffpipe.run.runner import RunOptions, RunSummary, run_pipeline

__all__ = ["Decision", "RunOptions", "RunSummary", "explain", "run_pipeline"]
