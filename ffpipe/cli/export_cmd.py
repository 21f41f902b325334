"""``ffpipe export facefusion PIPELINE``: a pipeline as a FaceFusion job, run by ``job-run``.

Every step instance (matrix instances too), in dependency order, becomes one step of one job,
written by FaceFusion's own job manager into its jobs folder (its ``.jobs`` by default, so its
``job-list``, ``job-run`` and UI see it), queued or, with ``--drafted``, drafted. A step reading an
earlier step's output gets that step's output as FaceFusion's remixed steps do.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import networkx as nx

from ffpipe.cli import options
from ffpipe.cli.context import Invocation
from ffpipe.cli.engine_options import add_engine_arguments
from ffpipe.errors import UserError

_OUTPUT_REFERENCE = re.compile(r"^\{\{\s*steps\.(.+)\.output\s*\}\}$")


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=["facefusion"], help="what to write")
    parser.add_argument("file", type=Path, metavar="PIPELINE", help="pipeline file")
    parser.add_argument(
        "--jobs-path",
        type=Path,
        help="FaceFusion's jobs folder (default: the checkout's .jobs, FaceFusion's own)",
    )
    parser.add_argument("--job-id", help="the job's id (default: the pipeline's name)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("out-facefusion"),
        help="folder the job writes its outputs into, one subfolder per step "
        "(default: out-facefusion)",
    )
    parser.add_argument(
        "--drafted", action="store_true", help="leave the job drafted (default: queued)"
    )
    options.add_params(parser)
    add_engine_arguments(parser, with_engine=False)


def run(args: argparse.Namespace) -> int:
    from ffpipe.engine.api import EngineError
    from ffpipe.engine.facefusion.jobs_io import export_job
    from ffpipe.graph import build_graph

    pipeline = Invocation.of(args, [args.file]).load(args.file)
    order = list(
        nx.lexicographical_topological_sort(build_graph(pipeline), key=_file_order(pipeline))
    )
    steps = export_steps(pipeline, order)
    args.engine = "facefusion"
    args.devices = None  # one worker writes the job
    from ffpipe.cli.engine_options import make_engine, start_engine

    engine: Any = make_engine(args)
    start_engine(engine)
    jobs_path = args.jobs_path or (engine.checkout.root / ".jobs")
    job_id = args.job_id or re.sub(r"[^A-Za-z0-9_.-]", "_", pipeline.name)
    try:
        job = export_job(
            engine,
            steps,
            jobs_path=jobs_path.absolute(),
            job_id=job_id,
            out_dir=args.out.absolute(),
            submit=not args.drafted,
        )
    except EngineError as error:
        raise UserError(str(error)) from None
    finally:
        engine.close()
    status = "drafted" if args.drafted else "queued"
    print(f"ffpipe export: wrote FaceFusion job {job.job_id} ({status}): {job.path}")
    for step, output in zip(steps, job.outputs, strict=True):
        print(f"  {step.name}: {step.op} -> {output}")
    for line in job.notes:
        print(f"  emulated: {line}")
    run_command = "job-submit" if args.drafted else "job-run"
    print(
        f"run it: python facefusion.py {run_command} {job.job_id} --jobs-path {jobs_path}"
        " (add --execution-providers ... for a GPU)"
    )
    return 0


def _file_order(pipeline: Any) -> Any:
    position = {name: number for number, name in enumerate(pipeline.instances)}
    return lambda name: f"{position.get(name, 0):08d}"


def export_steps(pipeline: Any, order: list[str]) -> list[Any]:
    """The pipeline's step instances as export steps; a value that is not a constant or an
    earlier step's output is refused with its location."""
    from ffpipe.engine.facefusion.jobs_io import ExportStep
    from ffpipe.pipeline import Deferred

    index: dict[str, int] = {}
    steps = []
    for name in order:
        instance = pipeline.instances[name]
        if isinstance(instance.condition, Deferred):
            raise UserError(
                f"{instance.condition.location}: step {name}: an `if:` that needs step results "
                "has no FaceFusion job equivalent"
            )
        if instance.condition is False:
            continue
        values: dict[str, Any] = {}
        references: dict[str, int] = {}
        for key, value in instance.params.items():
            if not isinstance(value, Deferred):
                values[key] = value
                continue
            found = _OUTPUT_REFERENCE.match(value.source.strip())
            if key not in ("target_media", "source_face") or not found or len(value.refs) != 1:
                raise UserError(
                    f"{value.location}: {value.path}: a FaceFusion job step can read an earlier "
                    "step's output as its target_media or source_face only"
                )
            reference = next(iter(value.refs))
            if reference not in index:
                raise UserError(f"{value.location}: {value.path}: step {reference} is skipped")
            references[key] = index[reference]
        index[name] = len(steps)
        steps.append(
            ExportStep(
                name=re.sub(r"[^A-Za-z0-9_.-]", "_", name),
                op=instance.op,
                values=values,
                target_step=references.get("target_media"),
                source_step=references.get("source_face"),
            )
        )
    return steps
