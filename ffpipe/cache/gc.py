"""Garbage collection: drop old or least recently used step entries, then unreferenced objects."""

from __future__ import annotations

import shutil
import time
from collections import Counter
from dataclasses import dataclass, field

from ffpipe.cache.fingerprint import hex_of
from ffpipe.cache.objects import ObjectStore, is_tree
from ffpipe.cache.steps import StepEntry
from ffpipe.cache.workspace import Workspace


@dataclass
class GcReport:
    """What a collection removed and what is left."""

    removed_entries: list[StepEntry] = field(default_factory=list)
    removed_objects: int = 0
    freed_bytes: int = 0
    remaining_entries: int = 0
    remaining_bytes: int = 0


def collect(
    workspace: Workspace,
    max_size: int | None = None,
    older_than: float | None = None,
    keep: set[str] | frozenset[str] = frozenset(),
    *,
    lock_timeout: float | None = 10.0,
) -> GcReport:
    """Prune the cache; returns what went.

    Entries unused for ``older_than`` seconds go first; then, while the objects take more than
    ``max_size`` bytes, the least recently used entries. Objects no entry references are always
    removed, as are leftovers of interrupted writes. ``keep`` holds step keys and artifact digests
    that must survive. Takes the workspace lock exclusively, so it waits for running pipelines
    (raising :class:`WorkspaceBusy` after ``lock_timeout`` seconds).
    """
    report = GcReport()
    with workspace.lock(timeout=lock_timeout):
        store = workspace.objects
        entries = list(workspace.steps.entries())
        cutoff = None if older_than is None else time.time() - older_than
        doomed = [
            entry
            for entry in entries
            if cutoff is not None and entry.last_used < cutoff and entry.key not in keep
        ]
        doomed_keys = {entry.key for entry in doomed}
        survivors = [entry for entry in entries if entry.key not in doomed_keys]

        kept_blobs = {
            blob for digest in keep if _is_digest(digest) for blob in store.blobs_of(digest)
        }
        references: Counter[str] = Counter()
        for entry in survivors:
            references.update(_blobs_of_entry(store, entry))
        sizes = {info.digest: info.size for info in store.iter_objects()}
        live = {blob for blob in sizes if references[blob] or blob in kept_blobs}
        total = sum(sizes[blob] for blob in live)

        if max_size is not None:
            for entry in survivors:
                if total <= max_size:
                    break
                if entry.key in keep:
                    continue
                doomed.append(entry)
                for blob in _blobs_of_entry(store, entry):
                    references[blob] -= 1
                    if references[blob] <= 0 and blob in live and blob not in kept_blobs:
                        live.discard(blob)
                        total -= sizes[blob]

        # Entries go before their objects: a crash in between leaves orphans, never dangling keys.
        workspace.steps.delete_many(entry.key for entry in doomed)
        for blob, size in sizes.items():
            if blob not in live:
                store.remove(blob)
                shutil.rmtree(workspace.names_dir / hex_of(blob), ignore_errors=True)
                report.removed_objects += 1
                report.freed_bytes += size
        for tree in store.materialised_trees():
            if tree.removeprefix("tree:") not in live:
                store.remove(tree)
        store.clear_scratch()
        _clear_folder_contents(workspace)

        report.removed_entries = doomed
        report.remaining_entries = len(entries) - len(doomed)
        report.remaining_bytes = total
    return report


def _blobs_of_entry(store: ObjectStore, entry: StepEntry) -> set[str]:
    blobs: set[str] = set()
    for digest in entry.outputs.values():
        blobs |= store.blobs_of(digest)
    return blobs


def _is_digest(text: str) -> bool:
    return text.startswith("sha256:") or is_tree(text)


def _clear_folder_contents(workspace: Workspace) -> None:
    """Remove scratch left by interrupted runs (no run holds the workspace while gc does)."""
    shutil.rmtree(workspace.tmp_dir, ignore_errors=True)
    workspace.tmp_dir.mkdir(parents=True, exist_ok=True)
