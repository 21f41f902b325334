"""``ffpipe validate FILE...``: report every mistake of each pipeline with its location."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ffpipe.cli import options
from ffpipe.cli.context import Invocation
from ffpipe.graph import build_graph
from ffpipe.pipeline import (
    LoadedPipeline,
    LoadOptions,
    PipelineErrors,
    load_pipeline,
    parse_overrides,
)
from ffpipe.pipeline.errors import merge_errors
from ffpipe.words import steps_and_instances


def load_checked(
    path: Path, params: list[str], granted: LoadOptions | None = None
) -> LoadedPipeline:
    """Load ``path`` and check its DAG; one :class:`PipelineErrors` with everything found."""
    pipeline = load_pipeline(path, parse_overrides(params), granted)
    build_graph(pipeline)
    return pipeline


def register(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``ffpipe validate``."""
    options.add_pipeline_files(parser)
    options.add_params(parser)
    parser.add_argument(
        "--json", action="store_true", help="print the errors as a JSON list on stdout"
    )


def run(args: argparse.Namespace) -> int:
    """Validate each file; ``ok`` lines on success, every error otherwise."""
    failures: list[PipelineErrors] = []
    summaries: list[str] = []
    for path in args.files:
        try:
            # One invocation per file: validating touches no workspace, so files of several
            # projects may be checked together.
            granted = Invocation.of(args, [path]).load_options()
            pipeline = load_checked(path, args.params, granted)
        except PipelineErrors as failure:
            failures.append(failure)
            continue
        steps = len({instance.step for instance in pipeline.instances.values()})
        summaries.append(f"{path}: ok, {steps_and_instances(steps, len(pipeline.instances))}")
    if args.json:
        errors = merge_errors(failures).to_json() if failures else []
        print(json.dumps(errors, indent=2))
        return PipelineErrors.exit_code if failures else 0
    for line in summaries:
        print(line)
    if failures:
        raise merge_errors(failures)
    return 0
