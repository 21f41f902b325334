"""``ffpipe status FILE``: does the working tree still match the pipeline's lock file?

Exit 0 when it does; 1 when it does not (each difference is listed) or there is no lock file. An
output whose bytes differ while the recipe is the lock's and the engine's platform is not (another
CPU level, library version or GPU: see :mod:`ffpipe.engine.platform`) is listed as "same recipe,
other bytes (platform differs: ...)", apart from a changed recipe; it still counts as a
difference.
With ``--json``, one document per file that also says, per step, what differs from the lock:
a parameter, an input digest, the engine, an output digest.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ffpipe.cli import options
from ffpipe.cli.context import Invocation
from ffpipe.cli.engine_options import add_engine_arguments

if TYPE_CHECKING:
    from ffpipe.backends.base import Backend
    from ffpipe.cache.workspace import Workspace
    from ffpipe.pipeline import LoadedPipeline


def register(parser: argparse.ArgumentParser) -> None:
    options.add_pipeline_files(parser)
    options.add_params(parser)
    options.add_workspace(parser)
    options.add_server(parser)
    add_engine_arguments(parser)
    parser.add_argument(
        "--json", action="store_true", help="print per file and per step what differs, as JSON"
    )


def run(args: argparse.Namespace) -> int:
    from ffpipe.cache.workspace import Workspace
    from ffpipe.run.lockfile import differences, lock_path, read_lock

    invocation = Invocation.of(args, args.files)
    workspace = Workspace(invocation.workspace)
    backend = None
    documents: list[dict[str, Any]] = []

    def current_backend() -> Backend:
        nonlocal backend
        if backend is None:
            backend = invocation.make_backend(start=False)
        return backend

    def platform() -> dict[str, str]:
        return dict(current_backend().identity().platform)

    try:
        for path in args.files:
            pipeline = invocation.load(path)
            lock_file = lock_path(path)
            lock = read_lock(lock_file)
            document: dict[str, Any] = {"file": str(path), "lock": str(lock_file)}
            documents.append(document)
            if lock is None:
                document.update(up_to_date=False, differences=["no lock file"], steps={})
                if not args.json:
                    print(f"{path}: no lock file {lock_file.name}; run `ffpipe run {path}` first")
                continue
            found = differences(
                pipeline, lock, lambda value: workspace.stats.digest(Path(value)), platform
            )
            document.update(up_to_date=not found, differences=found)
            if args.json:
                document["steps"] = steps = _steps(pipeline, lock, workspace, current_backend())
                document["up_to_date"] = not found and all(s["in_sync"] for s in steps.values())
            elif found:
                print(f"{path}: out of date with {lock_file.name}")
                for difference in found:
                    print(f"  {difference}")
            else:
                print(f"{path}: up to date")
    finally:
        if backend is not None:
            backend.close()
        workspace.close()
    if args.json:
        print(json.dumps(documents, indent=2, default=str))
    return 0 if all(d["up_to_date"] for d in documents) else 1


def _steps(
    pipeline: LoadedPipeline, lock: dict[str, Any], workspace: Workspace, backend: Backend
) -> dict[str, dict[str, Any]]:
    """Per step: in sync with the lock, or the list of what differs."""
    from ffpipe.run.lockfile import step_drift
    from ffpipe.run.planner import explain

    identity = backend.identity()
    decisions = explain(pipeline, workspace, identity)
    drift = step_drift(lock, decisions, identity.key_fields())
    locked = lock.get("steps") or {}
    return {
        node: {
            "in_sync": not found,
            "differences": found,
            # What made the locked output, when its engine said (FaceFusion does).
            **(
                {"provenance": made} if (made := (locked.get(node) or {}).get("provenance")) else {}
            ),
        }
        for node, found in drift.items()
    }
