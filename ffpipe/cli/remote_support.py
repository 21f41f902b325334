"""The remote cache for the commands that use it: pushing, lock files, planning a pipeline's steps.

Which remote, and the planner's source for it, come from the command's
:class:`~ffpipe.cli.context.Invocation`. fsspec (and s3fs) load only when the remote is first
contacted.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ffpipe.cache.remote import RemoteStore, TransferReport
    from ffpipe.cache.steps import StepEntry
    from ffpipe.cache.workspace import Workspace
    from ffpipe.cli.context import Invocation
    from ffpipe.pipeline.instance import LoadedPipeline
    from ffpipe.run import events as ev
    from ffpipe.run.planner import Decision, Planner
    from ffpipe.run.prepare import StepPreparer
    from ffpipe.run.remote import RemoteSource


def open_store(url: str, *, require: bool) -> RemoteStore | None:
    """The remote store, or None (after saying why) when it cannot be used and not required."""
    from ffpipe.cache.remote import RemoteUnavailable, open_remote

    try:
        store = open_remote(url)
        store.probe()
    except RemoteUnavailable as error:
        if require:
            raise
        print(f"ffpipe: {error}; nothing was transferred", file=sys.stderr)
        return None
    return store


def push(
    workspace: Workspace,
    url: str,
    entries: Iterable[StepEntry],
    *,
    jobs: int,
    require: bool,
    emit: Callable[[ev.Event], None] | None = None,
) -> TransferReport | None:
    """Upload entries and their objects; None when the remote could not be used."""
    from ffpipe.cache.remote import RemoteUnavailable, push_entries

    store = open_store(url, require=require)
    if store is None:
        return None
    progress = None
    if emit is not None:
        from ffpipe.run import events as ev

        def progress(done: int, total: int, moved: int) -> None:
            emit(ev.Transfer(direction="push", done=done, total=total, bytes=moved))

    try:
        return push_entries(workspace.objects, store, entries, jobs=jobs, progress=progress)
    except RemoteUnavailable as error:
        if require:
            raise
        print(f"ffpipe: {error}; the push stopped", file=sys.stderr)
        return None


def describe(report: TransferReport, verb: str) -> str:
    """``pushed 3 entries, 5 objects (1.2 MB); 2 objects were there already``."""
    line = (
        f"{verb} {report.entries} entries, {report.objects} objects ({report.bytes / 1e6:.1f} MB)"
    )
    if report.skipped_objects:
        line += f"; {report.skipped_objects} objects were there already"
    return line


SKIPPED_FOLDERS = frozenset({".git", ".ffpipe", ".venv", "node_modules", "out", "__pycache__"})


def lock_files(root: Path) -> list[Path]:
    """Every pipeline lock file (``*.lock`` with a ``steps`` table) under ``root``."""
    import os

    import yaml

    found = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [name for name in subfolders if name not in SKIPPED_FOLDERS]
        for name in names:
            if not name.endswith(".lock"):
                continue
            path = Path(folder) / name
            try:
                document = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, ValueError, yaml.YAMLError):
                continue
            if isinstance(document, dict) and isinstance(document.get("steps"), dict):
                found.append(path)
    return sorted(found)


def locked_keys(locks: Iterable[Path]) -> set[str]:
    """The step keys the lock files name."""
    import yaml

    keys = set()
    for path in locks:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for step in document["steps"].values():
            if isinstance(step, dict) and isinstance(step.get("key"), str):
                keys.add(step["key"])
    return keys


def locked_pipelines(root: Path) -> list[Path]:
    """The pipeline files the lock files under ``root`` were written for."""
    import yaml

    found = []
    for lock in lock_files(root):
        document = yaml.safe_load(lock.read_text(encoding="utf-8"))
        pipeline = lock.parent / str(document.get("file", ""))
        if pipeline.is_file():
            found.append(pipeline)
    return found


def plan_pipeline(
    file: Path, invocation: Invocation, workspace: Workspace, remote: RemoteSource | None
) -> tuple[LoadedPipeline, StepPreparer, Planner, dict[str, Decision]]:
    """Load ``file`` and run the planner over all of it, as ``ffpipe plan`` would, keying the
    steps with the invocation's engine (not started: its identity is all that is needed)."""
    from ffpipe.run.planner import Planner, plan
    from ffpipe.run.prepare import StepPreparer
    from ffpipe.run.runner import RunOptions, selected_instances

    pipeline = invocation.load(file)
    backend = invocation.make_backend(start=False)
    try:
        identity = backend.identity()
    finally:
        backend.close()
    selected, fusion = selected_instances(pipeline, RunOptions())
    preparer = StepPreparer(pipeline, workspace, identity)
    planner = Planner(pipeline, preparer, selected, fusion, remote=remote)
    return pipeline, preparer, planner, plan(planner)


def pipeline_entries(
    file: Path, invocation: Invocation, workspace: Workspace, remote: RemoteSource | None
) -> tuple[list[StepEntry], list[str]]:
    """The entries of ``file``'s cached steps (in the workspace, or the remote when given) and
    the instances that would have to run."""
    from ffpipe.run.statuses import StepStatus

    _, _, _, decisions = plan_pipeline(file, invocation, workspace, remote)
    entries = {
        d.entry.key: d.entry
        for d in decisions.values()
        if d.status == StepStatus.CACHED and d.entry
    }
    missing = [node for node, decision in decisions.items() if decision.will_run]
    return list(entries.values()), missing


def write_cached_outputs(
    file: Path, invocation: Invocation, workspace: Workspace
) -> tuple[dict[str, Path], list[str]]:
    """Write the outputs of ``file`` whose steps are all in the workspace; the instances that
    are not."""
    from ffpipe.run.results import write_outputs
    from ffpipe.run.statuses import StepStatus

    pipeline, preparer, planner, decisions = plan_pipeline(file, invocation, workspace, None)
    views = {n: v for n, v in planner.views.items() if planner.settled.get(n) == StepStatus.CACHED}
    out_dir = invocation.out_dir(pipeline.name)
    written = write_outputs(pipeline, preparer, views, out_dir)
    missing = [node for node, decision in decisions.items() if decision.will_run]
    return {name: path for name, (path, _) in written.items()}, missing
