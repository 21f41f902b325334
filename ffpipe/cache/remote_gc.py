"""Pruning a remote cache down to what lock files name.

Entries whose key no lock file names go first, then the objects no remaining entry uses, then
leftovers of uploads killed midway and quarantined objects. Entries of steps rendered in the
last ``grace`` seconds and objects uploaded in that time are kept, so a push in progress
(objects up, entry not yet) is not cut short.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field

from ffpipe.cache.fingerprint import hex_of
from ffpipe.cache.objects import TREE_PREFIX, is_tree
from ffpipe.cache.remote import RemoteStore
from ffpipe.cache.steps import StepEntry


@dataclass
class RemoteGcReport:
    """What a remote collection removed (or, in a dry run, would remove)."""

    removed_entries: list[StepEntry] = field(default_factory=list)
    removed_objects: int = 0
    freed_bytes: int = 0
    removed_leftovers: int = 0
    kept_entries: int = 0
    kept_bytes: int = 0


def collect_remote(
    remote: RemoteStore, keep: set[str], *, dry_run: bool = False, grace: float = 3600.0
) -> RemoteGcReport:
    """Remove what ``keep`` (step keys) does not need; with ``dry_run`` only say what."""
    report = RemoteGcReport()
    recent = time.time() - grace
    entries = list(remote.entries())
    doomed = [e for e in entries if e.key not in keep and e.created < recent]
    doomed_keys = {entry.key for entry in doomed}
    live: set[str] = set()
    for entry in entries:
        if entry.key not in doomed_keys:
            live |= _blobs(remote, entry)
    report.removed_entries = doomed
    report.kept_entries = len(entries) - len(doomed)
    objects = remote.objects()
    unused = [obj for obj in objects if obj.digest not in live and obj.modified < recent]
    report.kept_bytes = sum(obj.size for obj in objects if obj.digest in live)
    report.removed_objects = len(unused)
    report.freed_bytes = sum(obj.size for obj in unused)
    leftovers = remote.stale_uploads(grace) + remote.quarantined()
    report.removed_leftovers = len(leftovers)
    if dry_run:
        return report
    # Entries before their objects: an interrupted collection leaves orphans, never dangling keys.
    for entry in doomed:
        remote.delete_entry(entry.key)
    for obj in unused:
        remote.delete_object(obj.digest)
    for path in leftovers:
        remote.remove_path(path)
    return report


def _blobs(remote: RemoteStore, entry: StepEntry) -> set[str]:
    """The blobs an entry uses, tree members included (read from the manifests up there)."""
    blobs: set[str] = set()
    for digest in entry.outputs.values():
        if not is_tree(digest):
            blobs.add(digest)
            continue
        manifest = digest.removeprefix(TREE_PREFIX)
        blobs.add(manifest)
        with contextlib.suppress(FileNotFoundError, ValueError):
            members = json.loads(remote.read_object(manifest))
            for member in members.values():
                hex_of(member)
                blobs.add(member)
    return blobs
