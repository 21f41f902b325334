"""Checking a whole workspace: re-hash every object and drop the step entries that lost one."""

from __future__ import annotations

from dataclasses import dataclass, field

from ffpipe.cache.errors import CacheMiss, CorruptObject
from ffpipe.cache.objects import TREE_PREFIX, ObjectStore, is_tree
from ffpipe.cache.steps import StepEntry
from ffpipe.cache.workspace import Workspace


@dataclass
class VerifyReport:
    """What :func:`verify_workspace` found; ``clean`` when nothing was wrong."""

    checked: int = 0
    corrupt: list[str] = field(default_factory=list)
    """Blob digests whose bytes did not match; they have been moved out of the store."""
    dropped: list[StepEntry] = field(default_factory=list)
    """Entries that referenced a corrupt or missing object; they have been deleted."""
    missing: dict[str, list[str]] = field(default_factory=dict)
    """Entry key -> output digests that were absent (not corrupt, just gone)."""

    @property
    def clean(self) -> bool:
        return not self.corrupt and not self.dropped


def verify_workspace(workspace: Workspace, *, lock_timeout: float | None = 10.0) -> VerifyReport:
    """Re-hash every object, quarantine corrupt ones and delete the entries that used them.

    Holds the workspace lock exclusively (a run in progress is waited for, up to
    ``lock_timeout`` seconds) so a half-finished run is never mistaken for damage.
    """
    report = VerifyReport()
    with workspace.lock(timeout=lock_timeout):
        store = workspace.objects
        report.checked = sum(1 for _ in store.iter_objects())
        report.corrupt = store.verify()
        corrupt = set(report.corrupt)
        for entry in workspace.steps.entries():
            for digest in entry.outputs.values():
                if is_tree(digest) and _malformed(store, digest):
                    report.corrupt.append(digest.removeprefix(TREE_PREFIX))
                    corrupt.add(digest.removeprefix(TREE_PREFIX))
            used = set().union(*(store.blobs_of(d) for d in entry.outputs.values()))
            absent = [digest for digest in entry.outputs.values() if not store.has(digest)]
            if used & corrupt or absent:
                report.dropped.append(entry)
                if absent and not used & corrupt:
                    report.missing[entry.key] = absent
        workspace.steps.delete_many(entry.key for entry in report.dropped)
    return report


def _malformed(store: ObjectStore, digest: str) -> bool:
    """Whether the tree's manifest has a shape nothing may use (it is quarantined then)."""
    try:
        store.manifest(digest)
    except CorruptObject:
        return True
    except CacheMiss:
        return False
    return False
