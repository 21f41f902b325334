"""Turning a step instance into what the cache and the backend need: parameters, digests, key.

Used by the planner (:mod:`ffpipe.run.planner`) for plans and runs alike.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ffpipe.backends.base import BackendIdentity
from ffpipe.cache.key import key_document, step_key
from ffpipe.cache.objects import is_tree
from ffpipe.cache.steps import StepEntry
from ffpipe.cache.workspace import Workspace
from ffpipe.catalog import OPS
from ffpipe.pipeline import resolve_params
from ffpipe.pipeline.instance import LoadedPipeline, StepInstance, StepView
from ffpipe.run.download import fetch, is_url
from ffpipe.run.fusion import FUSED_OP, FusedGroup, merge_params

PARALLELISM_ONLY = frozenset({"execution_thread_count", "execution_queue_count"})
"""Parameters that set how much runs at once, never what comes out: left out of step keys, so
moving to a machine with more cores does not redo every step."""

FILE_NAMES = "_file_names"
"""Key of a stored result that remembers each output file's name (objects have none)."""


@dataclass(frozen=True)
class PreparedStep:
    """A step ready to look up or run: its key, the document explaining it, backend params."""

    instance: StepInstance
    key: str
    document: dict[str, Any]
    """What the key hashes (:func:`ffpipe.cache.key.key_document`), kept to explain a miss."""
    params: dict[str, Any]
    """Validated parameters with file fields as local paths (URLs replaced by downloads)."""

    @property
    def input_digests(self) -> dict[str, str]:
        return dict(self.document["inputs"])


class StepPreparer:
    """Resolves parameters and computes keys; remembers artifact and download digests."""

    def __init__(
        self, pipeline: LoadedPipeline, workspace: Workspace, identity: BackendIdentity
    ) -> None:
        self.pipeline = pipeline
        self.workspace = workspace
        self.identity = identity
        self._artifacts: dict[str, str] = {}
        self._downloads: dict[str, str] = {}
        self._local: dict[str, str] = {}
        self._signatures: dict[str, tuple[int, int, int, int]] = {}
        """Local input path -> (size, mtime_ns, ctime_ns, inode) taken just before it was
        digested."""
        self._lock = threading.Lock()
        self._names = Path(os.path.abspath(workspace.names_dir))

    def prepare(self, instance: StepInstance, views: Mapping[str, StepView]) -> PreparedStep:
        """Render and validate the instance's parameters and compute its cache key."""
        return self._keyed(instance, resolve_params(self.pipeline, instance, views))

    def prepare_group(self, group: FusedGroup, views: Mapping[str, StepView]) -> PreparedStep:
        """The one ``process`` call of a fused chain, keyed on all its members' parameters.

        Later members read the previous member's output as their target; that output never
        exists, so they are resolved against a stand-in view of it (the chain's own target).
        """
        resolved: list[dict[str, Any]] = []
        stand_ins: dict[str, StepView] = {}
        for member in group.members:
            params = resolve_params(
                self.pipeline, self.pipeline.instances[member], {**views, **stand_ins}
            )
            resolved.append(params)
            stand_ins[member] = StepView(output=resolved[0]["target_media"], outputs={}, result={})
        return self._keyed(group_instance(self.pipeline, group), merge_params(group.ops, resolved))

    def _keyed(self, instance: StepInstance, params: dict[str, Any]) -> PreparedStep:
        inputs: dict[str, str] = {}
        for name in OPS[instance.op].file_fields:
            value = params.get(name)
            if isinstance(value, str):
                inputs[name], params[name] = self._file_digest(value)
        key, document = keyed_step(instance.op, params, inputs, self.identity)
        return PreparedStep(instance=instance, key=key, document=document, params=params)

    def digest(self, value: str) -> str:
        """The content digest of a file value: a local path, an artifact path or a URL."""
        return self._file_digest(value)[0]

    def artifact_digest(self, path: str) -> str | None:
        """The object digest behind an artifact path handed to templates, if it is one."""
        with self._lock:
            return self._artifacts.get(path)

    def _file_digest(self, value: str) -> tuple[str, str]:
        """The digest of a file value and the local path the backend should read it from."""
        with self._lock:
            if value in self._artifacts:
                return self._artifacts[value], value
            if is_url(value):
                digest = self._downloads.get(value)
                if digest is None:
                    downloaded = fetch(value, self.workspace.tmp_dir)
                    digest = self.workspace.objects.put_file(downloaded, move=True)
                    self._downloads[value] = digest
                name = value.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
                return digest, str(self._named(digest, name))
            local = self._local.get(value)
        if local is None:
            # Once per run and path: a file is taken as it was when the run first read it.
            signature = _signature(value)
            local = self._local[value] = self.workspace.stats.digest(Path(value))
            with self._lock:
                self._signatures[value] = signature
        return local, value

    def files_read(self) -> dict[str, tuple[int, int, int]]:
        """Local file -> (size, mtime_ns, inode) as it was when its digest was taken."""
        with self._lock:
            return dict(self._signatures)

    @property
    def downloads(self) -> int:
        """How many URL inputs were fetched."""
        with self._lock:
            return len(self._downloads)

    def changed_inputs(self, prepared: PreparedStep) -> list[str]:
        """The local input files of ``prepared`` that changed since their digest was taken.

        The backend reads inputs by path when the step runs, so an input edited in between
        would store an output made from other bytes than the key names.
        """
        changed = []
        for name in prepared.input_digests:
            path = str(prepared.params[name])
            with self._lock:
                before = self._signatures.get(path)
            if before is not None and _signature(path) != before:
                changed.append(path)
        return changed

    def view_of(self, entry: StepEntry, *, require_objects: bool = True) -> StepView | None:
        """What templates see of a stored step, or None when one of its objects is gone or edited.

        Without ``require_objects`` the view is the entry's prediction of what running the step
        again makes (its objects may be gone): used to plan the steps after it.
        """
        if "output" not in entry.outputs:
            return None
        if require_objects and not all(map(self.workspace.intact, entry.outputs.values())):
            return None
        names = entry.result.get(FILE_NAMES, {})
        name_path = self._named if require_objects else self._predicted_name
        paths = {
            name: str(name_path(digest, names.get(name, "")))
            for name, digest in entry.outputs.items()
        }
        with self._lock:
            for name, digest in entry.outputs.items():
                self._artifacts[paths[name]] = digest
        result = {key: value for key, value in entry.result.items() if key != FILE_NAMES}
        return StepView(output=paths["output"], outputs=paths, result=result)

    def _predicted_name(self, digest: str, name: str) -> Path:
        """The path :meth:`_named` will give the object once it exists; nothing is written."""
        folder = self._names / digest.rsplit(":", 1)[-1]
        if not name or "/" in name or name in (".", "..") or is_tree(digest):
            return folder
        return folder / name

    def _named(self, digest: str, name: str) -> Path:
        """A path to the object that ends in its file name, so its extension is known.

        Objects are stored nameless; engines and outputs need ``portrait.jpg``, so each named
        view is a symbolic link ``<workspace>/names/<hex>/<name>`` to the object.
        """
        stored = Path(os.path.abspath(self.workspace.objects.path(digest)))
        if not name or "/" in name or name in (".", "..") or is_tree(digest):
            return stored
        folder = self._names / digest.rsplit(":", 1)[-1]
        link = folder / name
        if os.path.exists(link):  # the link's name holds the digest: it cannot point elsewhere
            return link
        folder.mkdir(parents=True, exist_ok=True)
        staging = folder / f".{name}.{os.getpid()}.{threading.get_ident()}"
        staging.unlink(missing_ok=True)
        staging.symlink_to(stored)
        os.replace(staging, link)
        return link


def keyed_step(
    op: str, params: Mapping[str, Any], inputs: Mapping[str, str], identity: BackendIdentity
) -> tuple[str, dict[str, Any]]:
    """The cache key of ``op`` with ``params`` (file fields as paths) whose input files have the
    digests ``inputs``, run by ``identity``; and the document it hashes."""
    # Keyed with every default spelled out: a changed catalog default changes outputs too,
    # and a diff can then say "0.8 -> 0.6" rather than "added".
    complete = OPS[op].params.model_validate(dict(params)).model_dump(mode="json")
    keyed = {
        name: value
        for name, value in complete.items()
        if name not in inputs and name not in PARALLELISM_ONLY
    }
    fields = identity.key_fields(op, complete)
    suffixes = {name: Path(params[name]).suffix for name in inputs}
    document = key_document(op, keyed, dict(inputs), fields, suffixes)
    return step_key(op, keyed, dict(inputs), fields, suffixes), document


def _signature(path: str) -> tuple[int, int, int, int]:
    """What says a file changed: size, mtime, ctime and inode; all zero for a file that is gone."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return (0, 0, 0, 0)
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)


def group_instance(pipeline: LoadedPipeline, group: FusedGroup) -> StepInstance:
    """A stand-in instance for a fused chain: named after its members, run as ``process``.

    It inherits the first member's retries; its time limit is the sum of the members' limits
    (none when any member has none).
    """
    members = [pipeline.instances[member] for member in group.members]
    head = members[0]
    limits = [member.timeout for member in members]
    return StepInstance(
        id=group.id,
        step=group.id,
        op=FUSED_OP,
        params={},
        needs=head.needs,
        location=head.location,
        retry=head.retry,
        timeout=None if None in limits else sum(limit or 0.0 for limit in limits),
        matrix=head.matrix,
    )
