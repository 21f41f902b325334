"""Remote documents are checked against their schema before use: a malformed tree manifest from a
remote cache is refused and quarantined on pull, and ``cache verify`` finds one already pulled.

The remote is a real folder (``RemoteStore`` on the local file system); each hostile manifest is
stored under its true digest, so only its shape gives it away.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ffpipe.cache.objects import TREE_PREFIX
from ffpipe.cache.remote import RemoteStore, pull_entries
from ffpipe.cache.steps import StepEntry
from ffpipe.cache.verify import verify_workspace
from ffpipe.cache.workspace import Workspace

MEMBER = "sha256:" + "ab" * 32

HOSTILE = {
    "a list": [["frame.png", MEMBER]],
    "a member that is not a digest": {"frame.png": "not-a-digest"},
    "a file beside its own folder": {"a": MEMBER, "a/b": MEMBER},
    "a name climbing out": {"../escape.png": MEMBER},
    "an absolute name": {"/etc/x": MEMBER},
    "a backslash name": {"..\\x.png": MEMBER},
}


def _entry(tree_digest: str) -> StepEntry:
    return StepEntry(
        key="k" * 64,
        pipeline="portrait",
        instance_id="frames",
        outputs={"output": tree_digest},
        result={},
        key_document={},
        created=0.0,
        last_used=0.0,
    )


@pytest.mark.parametrize("case", HOSTILE)
def test_a_malformed_remote_manifest_is_refused_and_quarantined(tmp_path: Path, case: str) -> None:
    with Workspace(tmp_path / "maker") as maker:
        manifest = maker.objects.put_bytes(json.dumps(HOSTILE[case]).encode())
        remote = RemoteStore(str(tmp_path / "remote"))
        remote.put_object(manifest, maker.objects.path(manifest))
    with Workspace(tmp_path / "puller") as puller:
        complete, report = pull_entries(puller.objects, remote, [_entry(TREE_PREFIX + manifest)])
        assert complete == []
        assert report.failed is not None and "malformed" in report.failed["k" * 64]
        assert not puller.objects.has(manifest)  # moved to quarantine, not kept


def test_cache_verify_finds_a_malformed_manifest_already_in_the_workspace(tmp_path: Path) -> None:
    with Workspace(tmp_path / "ws") as workspace:
        manifest = workspace.objects.put_bytes(json.dumps(HOSTILE["a list"]).encode())
        entry = _entry(TREE_PREFIX + manifest)
        workspace.steps.put(entry.key, entry)
        report = verify_workspace(workspace)
        assert not report.clean
        assert [dropped.key for dropped in report.dropped] == [entry.key]
        assert workspace.steps.get(entry.key) is None
