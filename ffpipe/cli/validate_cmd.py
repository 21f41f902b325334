"""``ffpipe validate FILE...``: report every mistake of each pipeline with its location."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ffpipe.graph import build_graph
from ffpipe.spec import LoadedPipeline, LoadOptions, PipelineErrors, load_pipeline, parse_overrides
from ffpipe.spec.errors import merge_errors
from ffpipe.spec.matrix import DEFAULT_MAX_INSTANCES

HELP = "check pipeline files and report every mistake with its location"


def add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    """``-p NAME=VALUE`` overrides, shared by the commands that load a pipeline."""
    parser.add_argument(
        "-p",
        "--param",
        dest="params",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a pipeline param (repeatable)",
    )
    parser.add_argument(
        "--max-instances",
        type=int,
        default=DEFAULT_MAX_INSTANCES,
        metavar="N",
        help=f"matrix combinations a pipeline may expand to (default {DEFAULT_MAX_INSTANCES})",
    )
    parser.add_argument(
        "--allow-outside-files",
        action="store_true",
        help="let inputs and globs name files outside the pipeline's folder or git work tree",
    )


def load_options(args: argparse.Namespace) -> LoadOptions:
    """The loading limits the command line grants (see :func:`add_pipeline_arguments`)."""
    return LoadOptions(
        max_instances=args.max_instances, allow_outside_files=args.allow_outside_files
    )


def load_checked(
    path: Path, params: list[str], options: LoadOptions | None = None
) -> LoadedPipeline:
    """Load ``path`` and check its DAG; one :class:`PipelineErrors` with everything found."""
    pipeline = load_pipeline(path, parse_overrides(params), options)
    build_graph(pipeline)
    return pipeline


def register(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``ffpipe validate``."""
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="pipeline files")
    add_pipeline_arguments(parser)
    parser.add_argument(
        "--json", action="store_true", help="print the errors as a JSON list on stdout"
    )


def run(args: argparse.Namespace) -> int:
    """Validate each file; ``ok`` lines on success, every error otherwise."""
    failures: list[PipelineErrors] = []
    summaries: list[str] = []
    for path in args.files:
        try:
            pipeline = load_checked(path, args.params, load_options(args))
        except PipelineErrors as failure:
            failures.append(failure)
            continue
        steps = len({instance.step for instance in pipeline.instances.values()})
        summaries.append(
            f"{path}: ok ({steps} step{'s' if steps != 1 else ''}, "
            f"{len(pipeline.instances)} instance{'s' if len(pipeline.instances) != 1 else ''})"
        )
    if args.json:
        errors = merge_errors(failures).to_json() if failures else []
        print(json.dumps(errors, indent=2))
        return PipelineErrors.exit_code if failures else 0
    for line in summaries:
        print(line)
    if failures:
        raise merge_errors(failures)
    return 0
