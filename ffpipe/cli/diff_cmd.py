"""``ffpipe diff [RUN_A [RUN_B]]``: what changed between two runs, step by step.

With no run named, the last two runs of the latest run's pipeline; with one, that run against
the latest run of its pipeline after it. Per step: parameters old -> new, inputs and outputs
that changed, and for an image or a video output its difference (MAD, PSNR, SSIM).
``--html DIR`` writes the compare page: A and B side by side with a slider and a blink toggle,
and a heat map of where they differ.

Exit codes: 0 compared; 2 no such run (or nothing to compare with).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from ffpipe.cli import options
from ffpipe.errors import UserError
from ffpipe.words import plural

if TYPE_CHECKING:
    from ffpipe.report.compare import RunComparison


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_a", nargs="?", metavar="RUN_A", help="the older run (an id prefix)")
    parser.add_argument("run_b", nargs="?", metavar="RUN_B", help="the newer run (default: latest)")
    options.add_workspace(parser)
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    parser.add_argument(
        "--html", type=Path, metavar="DIR", help="also write the compare page into DIR"
    )
    parser.add_argument(
        "--rev",
        metavar="GIT_REV",
        help="compare pipeline file RUN_A as committed at GIT_REV with the file as it is now "
        "(both loaded, nothing run): steps added or removed, parameters old -> new",
    )


def run(args: argparse.Namespace) -> int:
    if args.rev is not None:
        return _revision(args)
    from ffpipe.cache.workspace import Workspace
    from ffpipe.cli.context import default_workspace, project_here
    from ffpipe.report.compare import compare_runs, pick_runs
    from ffpipe.report.compare_page import write_compare_page
    from ffpipe.report.runs import RunNotFound

    with Workspace(args.workspace or default_workspace(project_here())) as workspace:
        try:
            a, b = pick_runs(workspace.runs_dir, args.run_a, args.run_b)
        except RunNotFound as error:
            raise UserError(str(error)) from None
        comparison = compare_runs(workspace.objects, a, b)
        page = write_compare_page(comparison, args.html) if args.html is not None else None
    if args.json:
        document = comparison.to_dict()
        document["html"] = str(page) if page is not None else None
        print(json.dumps(document, indent=2, sort_keys=True))
        return 0
    print(describe(comparison))
    if page is not None:
        print(f"compare page: {page}")
    return 0


def describe(comparison: RunComparison) -> str:
    """The comparison as text: a block per step that changed, a count of those that did not."""
    a, b = comparison.a, comparison.b
    lines = [f"{a.run_id} -> {b.run_id} ({b.pipeline})"]
    lines += [f"  params.{change.describe()}" for change in comparison.params]
    unchanged = 0
    for step in comparison.steps:
        if not step.changed:
            unchanged += 1
            continue
        status = step.status_b or "absent"
        if step.status_a != step.status_b:
            status = f"{step.status_a or 'absent'} -> {status}"
        lines.append(f"{step.node}: {status}")
        lines += [f"  param {change.describe()}" for change in step.params]
        lines += [f"  input {change.describe()}" for change in step.inputs]
        for output in step.outputs:
            if output.same:
                continue
            figure = output.difference.describe() if output.difference is not None else ""
            lines.append(f"  output {output.name} changed" + (f": {figure}" if figure else ""))
    if unchanged:
        lines.append(f"{plural(unchanged, 'step')} unchanged")
    return "\n".join(lines)


def _revision(args: argparse.Namespace) -> int:
    """``diff --rev REV FILE``: the pipeline at REV against the file as it is."""
    from ffpipe.cli.revision import compare_with_revision

    if args.run_a is None or args.run_b is not None or args.html is not None:
        raise UserError("ffpipe diff --rev GIT_REV takes one pipeline file (and no --html)")
    changes = compare_with_revision(Path(args.run_a), args.rev)
    if args.json:
        print(json.dumps(changes, indent=2, sort_keys=True))
        return 0
    print(f"{args.run_a} at {args.rev} -> as it is now")
    if not any(changes.values()):
        print("no step or parameter changed")
    for line in changes["params"]:
        print(f"  params.{line}")
    for node in changes["added"]:
        print(f"{node}: added")
    for node in changes["removed"]:
        print(f"{node}: removed")
    for node, lines in changes["changed"].items():
        print(f"{node}:")
        print("\n".join(f"  {line}" for line in lines))
    return 0
