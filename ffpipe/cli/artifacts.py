"""Finding one step instance's cached artifact, for ``ffpipe show`` and ``ffpipe get``."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ffpipe.cli.context import Invocation
from ffpipe.errors import UserError


@dataclass(frozen=True)
class Artifact:
    """A cached step's output path (a named view in the workspace) and result document."""

    path: str
    result: dict[str, Any]


def pipeline_file(args: argparse.Namespace) -> Path:
    """``-f FILE``, else the only pipeline with a lock file under the current folder."""
    if args.file is not None:
        return Path(args.file)
    from ffpipe.cli.remote_support import locked_pipelines

    found = locked_pipelines(Path.cwd())
    if len(found) != 1:
        raise UserError(
            "name the pipeline with -f FILE"
            + (f" (found {len(found)} with lock files here)" if found else "")
        )
    return found[0]


def find_artifact(args: argparse.Namespace) -> Artifact | None:
    """The artifact of ``args.step``; None (after saying why) when it is not in the cache."""
    from ffpipe.cache.workspace import Workspace
    from ffpipe.cli.remote_support import plan_pipeline

    file = pipeline_file(args)
    invocation = Invocation.of(args, [file])
    if not invocation.workspace.is_dir():
        print(f"ffpipe: {args.step} is not in the cache (nothing has run here)", file=sys.stderr)
        return None
    with Workspace(invocation.workspace) as workspace:
        pipeline, _, planner, decisions = plan_pipeline(file, invocation, workspace, None)
        node = _instance(args.step, list(decisions), pipeline.name)
        decision = decisions[node]
        view = planner.views.get(node)
        if decision.status != "cached" or view is None:
            print(f"ffpipe: {node} is not in the cache: {decision}", file=sys.stderr)
            return None
        return Artifact(path=view.output, result=dict(view.result))


def _instance(step: str, instances: list[str], pipeline: str) -> str:
    if step in instances:
        return step
    matching = [node for node in instances if node.split("[", 1)[0] == step]
    if len(matching) == 1:
        return matching[0]
    if matching:
        raise UserError(f"{step} has several instances; name one: {', '.join(matching)}")
    raise UserError(f"no step {step!r} in {pipeline}; steps: {', '.join(instances)}")
