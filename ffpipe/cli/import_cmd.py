"""``ffpipe import facefusion JOB.json [...]``: FaceFusion job files as a pipeline YAML.

Each job step becomes a pipeline step (``JOBID_N``); a remixed step (its target is an earlier
step's output) reads that step's output. FaceFusion arguments with no catalog name are written as
comments on their step and listed on stderr: kept in sight, not applied.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from ffpipe.errors import UserError


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=["facefusion"], help="what the files are")
    parser.add_argument(
        "jobs", nargs="+", type=Path, metavar="JOB.json", help="FaceFusion job files"
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="PIPELINE.yaml",
        help="write the pipeline here (default: print it); input paths are written relative to "
        "its folder when they lie inside it",
    )
    parser.add_argument("--name", help="the pipeline's name (default: the first job's id)")


def run(args: argparse.Namespace) -> int:
    from ffpipe.engine.facefusion.jobs_io import JobFileError, read_job

    try:
        jobs = [read_job(path) for path in args.jobs]
    except JobFileError as error:
        raise UserError(str(error)) from None
    folder = Path(os.path.abspath(args.output)).parent if args.output else Path.cwd()
    text, kept_lines = pipeline_text(jobs, args.name or jobs[0].job_id, folder)
    for line in kept_lines:
        print(f"ffpipe import: {line}", file=sys.stderr)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"ffpipe import: wrote {args.output} ({sum(len(j.steps) for j in jobs)} step(s))")
    return 0


def step_id(job_id: str, index: int) -> str:
    """A pipeline step id for step ``index`` of ``job_id`` (identifier characters only)."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", job_id)
    if not re.match(r"[A-Za-z_]", cleaned):
        cleaned = f"job_{cleaned}"
    return f"{cleaned}_{index}"


def pipeline_text(jobs: list[Any], name: str, folder: Path) -> tuple[str, list[str]]:
    """The pipeline YAML of ``jobs`` (paths relative to ``folder`` when inside it), and one line
    per step naming the FaceFusion arguments kept as comments."""
    inputs: dict[str, str] = {}
    lines = [
        "# Imported from FaceFusion job file(s) by `ffpipe import facefusion`:",
        *(f"#   {job.path} ({job.status or 'no status folder'})" for job in jobs),
        "# Options of processors a step does not run are inert in FaceFusion and left out.",
        "version: 1",
        f"name: {json.dumps(re.sub(r'[^A-Za-z0-9_.-]', '_', name))}",
    ]
    step_lines: list[str] = []
    outputs: dict[str, str] = {}
    notes: list[str] = []
    for job in jobs:
        for step in job.steps:
            this = step_id(job.job_id, step.index)
            step_lines += [f"  {this}:"]
            if step.kept:
                step_lines += [
                    f"    # FaceFusion job {job.job_id} step {step.index}: arguments with no "
                    "catalog name, kept here and not applied:",
                    *(f"    #   {key}: {json.dumps(value)}" for key, value in step.kept.items()),
                ]
                notes.append(
                    f"step {this}: FaceFusion argument(s) with no catalog name, kept as comments: "
                    + ", ".join(step.kept)
                )
            step_lines += [f"    uses: {step.op}", "    with:"]
            for key, value in step.params.items():
                if key == "target_media" and step.target_step is not None:
                    reference = step_id(job.job_id, step.target_step)
                    written = json.dumps(f"{{{{ steps.{reference}.output }}}}")
                elif key in ("target_media", "source_face"):
                    label = _input_name(inputs, key, str(value), folder)
                    written = json.dumps(f"{{{{ inputs.{label} }}}}")
                else:
                    written = json.dumps(value)
                step_lines.append(f"      {key}: {written}")
            if step.output_path:
                outputs[Path(step.output_path).name] = f"{{{{ steps.{this}.output }}}}"
    if inputs:
        lines += ["inputs:", *(f"  {key}: {json.dumps(value)}" for key, value in inputs.items())]
    lines += ["steps:", *step_lines]
    if outputs:
        lines += ["outputs:", *(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in outputs.items())]
    return "\n".join(lines) + "\n", notes


def _input_name(inputs: dict[str, str], key: str, path: str, folder: Path) -> str:
    shown = _relative(path, folder)
    for label, known in inputs.items():
        if known == shown:
            return label
    base = "target" if key == "target_media" else "source"
    label, number = base, 1
    while label in inputs:
        number += 1
        label = f"{base}_{number}"
    inputs[label] = shown
    return label


def _relative(path: str, folder: Path) -> str:
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(folder).as_posix()
    except ValueError:
        return str(absolute)
