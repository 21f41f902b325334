"""The workspace: cheap to open, parts in their places, locks that hold across processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ffpipe.cache.errors import NotAWorkspace, WorkspaceBusy
from ffpipe.cache.workspace import Workspace

_HOLD_LOCK = """
import sys, time
from pathlib import Path
from ffpipe.cache.workspace import Workspace
with Workspace(Path(sys.argv[1])).lock(shared=sys.argv[2] == "shared"):
    print("locked", flush=True)
    sys.stdin.readline()
"""


class _LockHolder:
    """Another process holding the workspace lock until released."""

    def __init__(self, root: Path, *, shared: bool) -> None:
        mode = "shared" if shared else "exclusive"
        self.process = subprocess.Popen(
            [sys.executable, "-c", _HOLD_LOCK, str(root), mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "locked"

    def release(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        assert self.process.wait(timeout=30) == 0


def test_opening_touches_nothing(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / ".ffpipe")
    assert not (tmp_path / ".ffpipe").exists()
    workspace.close()


def test_parts_live_where_documented(tmp_path: Path, store_entry) -> None:
    root = tmp_path / ".ffpipe"
    with Workspace(root) as workspace:
        store_entry(workspace, "swap", {"output": b"swapped"})
        assert workspace.objects.root == root / "objects"
        assert workspace.runs_dir == root / "runs" and workspace.runs_dir.is_dir()
        assert workspace.tmp_dir == root / "tmp" and workspace.tmp_dir.is_dir()
        assert workspace.stats.digest(Path(__file__)).startswith("sha256:")
    assert (root / "state.db").is_file()
    assert (root / "steps.db").is_file()
    with Workspace(root) as reopened:
        assert [entry.instance_id for entry in reopened.steps.entries()] == ["swap"]


def test_default_root_is_dot_ffpipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert Workspace().root == Path(".ffpipe")


def test_an_exclusive_lock_keeps_others_out_until_released(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / ".ffpipe")
    holder = _LockHolder(workspace.root, shared=False)
    try:
        busy = pytest.raises(WorkspaceBusy, match="in use by another ffpipe process")
        with busy, workspace.lock(shared=True, timeout=0.2):
            pass
    finally:
        holder.release()
    with workspace.lock(timeout=5):
        pass


def test_shared_locks_coexist_but_exclude_an_exclusive_one(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / ".ffpipe")
    holder = _LockHolder(workspace.root, shared=True)
    try:
        with workspace.lock(shared=True, timeout=5):
            pass
        with pytest.raises(WorkspaceBusy), workspace.lock(timeout=0.2):
            pass
    finally:
        holder.release()


def test_locks_with_different_names_are_independent(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / ".ffpipe")
    holder = _LockHolder(workspace.root, shared=False)
    try:
        with workspace.lock("downloads", timeout=0.2):
            assert (workspace.root / "locks" / "downloads.lock").exists()
    finally:
        holder.release()


def test_the_cache_loads_no_heavy_libraries(tmp_path: Path) -> None:
    # A fully cached run must not pay for gradio, OpenCV or dlib; the cache is its whole path.
    script = f"""
import sys
from pathlib import Path
import ffpipe.cache.gc, ffpipe.cache.key, ffpipe.cache.verify, ffpipe.cli.cache_cmd
from ffpipe.cache.workspace import Workspace
with Workspace(Path({str(tmp_path / ".ffpipe")!r})) as workspace:
    workspace.stats.digest(Path({__file__!r}))
    workspace.objects.put_bytes(b"x")
    workspace.steps.get("sha256:none")
print(sorted(set(sys.modules) & {{"gradio", "cv2", "dlib", "numpy", "av", "gradio_client"}}))
"""
    finished = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert finished.stdout.strip() == "[]"


def test_a_file_in_place_of_the_workspace_is_a_user_error(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    root.write_text("not a folder")
    with pytest.raises(NotAWorkspace, match=f"the workspace {root} is not a folder"):
        Workspace(root)
