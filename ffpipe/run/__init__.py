"""Running pipelines: the planner (one decision pass), a thin run loop, results and records.

Nothing is imported here, so the no-op fast path (:mod:`ffpipe.run.noop`) loads only itself.
"""
