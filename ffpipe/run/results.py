"""Keeping what a run made: a step's files into the cache, declared outputs into ``out/``.

The runner calls these on its own thread after the executor hands back a result; a failure to
store is reported as the step's failure (:class:`StoreError`), never as a half-written object.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from ffpipe.backends.base import StepResult
from ffpipe.cache.steps import StepEntry
from ffpipe.cache.workspace import Workspace
from ffpipe.pipeline import resolve_output
from ffpipe.pipeline.instance import Deferred, LoadedPipeline, StepView
from ffpipe.run.outputs import OutputPathError, destination, place
from ffpipe.run.prepare import FILE_NAMES, PreparedStep, StepPreparer


class StoreError(Exception):
    """A step's result could not be kept; the message says why, for the step's failure."""


def store_result(
    workspace: Workspace,
    preparer: StepPreparer,
    prepared: PreparedStep,
    result: StepResult,
) -> tuple[StepEntry, StepView]:
    """Move the result's files into the object store and record the step entry under its key."""
    if "output" not in result.files:
        raise StoreError("the backend returned no primary output")
    changed = preparer.changed_inputs(prepared)
    if changed:
        raise StoreError(
            f"input {', '.join(changed)} changed while the step ran; its output was not "
            "cached (run again)"
        )
    objects = workspace.objects
    try:
        with workspace.lock("write"):
            digests = {
                name: objects.put_tree(path, move=True)
                if path.is_dir()
                else objects.put_file(path, move=True)
                for name, path in sorted(result.files.items())
            }
            now = time.time()
            entry = StepEntry(
                key=prepared.key,
                pipeline=preparer.pipeline.name,
                instance_id=prepared.instance.id,
                outputs=digests,
                result={
                    **result.result,
                    FILE_NAMES: {name: path.name for name, path in result.files.items()},
                },
                key_document=prepared.document,
                created=now,
                last_used=now,
            )
            workspace.steps.put(prepared.key, entry)
    except OSError as error:
        raise StoreError(f"cannot store outputs: {error}") from None
    view = preparer.view_of(entry)
    if view is None:
        raise StoreError("stored outputs vanished from the workspace")
    return entry, view


def check_output_names(pipeline: LoadedPipeline, out_dir: Path) -> None:
    """Refuse output names that would land outside ``out_dir``, before any work."""
    for spec in pipeline.outputs:
        destination(out_dir, spec.name, Path(spec.name))


def write_outputs(
    pipeline: LoadedPipeline,
    preparer: StepPreparer,
    views: Mapping[str, StepView],
    out_dir: Path,
) -> dict[str, tuple[Path, str]]:
    """Place each declared output whose steps all have a view; name -> (path, digest)."""
    written: dict[str, tuple[Path, str]] = {}
    for spec in pipeline.outputs:
        refs = spec.value.refs if isinstance(spec.value, Deferred) else frozenset()
        if not refs <= set(views):
            continue
        artifact = Path(resolve_output(pipeline, spec, views))
        target = destination(out_dir, spec.name, artifact)
        try:
            place(artifact, target)
        except OSError as error:  # e.g. a file where the output folder should be
            raise OutputPathError(
                f"cannot write output {spec.name!r} to {target}: {error.strerror or error}"
            ) from None
        written[spec.name] = (target, preparer.artifact_digest(str(artifact)) or "")
    return written
