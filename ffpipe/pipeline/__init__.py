"""The pipeline file: loading with positions, templating, matrix expansion, located errors.

``load_pipeline`` turns a file into a :class:`LoadedPipeline`; the ``resolve_*`` functions fill in
the values that had to wait for earlier steps' results.
"""

from ffpipe.pipeline.errors import PipelineErrors, SpecError
from ffpipe.pipeline.instance import (
    Deferred,
    LoadedPipeline,
    Location,
    OutputSpec,
    RetryPolicy,
    StepInstance,
    StepView,
)
from ffpipe.pipeline.loader import LoadOptions, load_pipeline
from ffpipe.pipeline.params import OverrideError, parse_overrides
from ffpipe.pipeline.resolve import resolve_condition, resolve_output, resolve_params

__all__ = [
    "Deferred",
    "LoadOptions",
    "LoadedPipeline",
    "Location",
    "OutputSpec",
    "OverrideError",
    "PipelineErrors",
    "RetryPolicy",
    "SpecError",
    "StepInstance",
    "StepView",
    "load_pipeline",
    "parse_overrides",
    "resolve_condition",
    "resolve_output",
    "resolve_params",
]
