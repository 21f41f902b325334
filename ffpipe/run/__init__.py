"""Running pipelines: one decision pass (the planner), a thin run loop, records and outputs."""

from __future__ import annotations

from ffpipe.run.planner import Decision, explain
from ffpipe.run.runner import RunOptions, RunSummary, run_pipeline

__all__ = ["Decision", "RunOptions", "RunSummary", "explain", "run_pipeline"]
