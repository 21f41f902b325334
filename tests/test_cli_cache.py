"""``ffpipe cache ls | gc | verify`` as users call it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from _cache_support import damage, store_entry

from ffpipe.cache.workspace import Workspace
from ffpipe.cli import main

DAY = 86400.0


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / ".ffpipe"
    with Workspace(root) as workspace:
        now = time.time()
        store_entry(workspace, "swap", {"output": b"s" * 1500}, last_used=now - 3 * DAY)
        store_entry(workspace, "enhance", {"output": b"e" * 500}, last_used=now - 60)
    return root


def test_ls_lists_entries_with_age_and_size_and_totals(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cache", "ls", "--workspace", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["PIPELINE", "STEP", "LAST", "USED", "SIZE"]
    assert lines[1].split() == ["portrait", "enhance", "1m", "ago", "500", "B"]
    assert lines[2].split() == ["portrait", "swap", "3d", "ago", "1.5", "kB"]
    assert lines[3] == f"2 entries, 2 objects, 2.0 kB in {root}"


def test_workspace_may_come_before_the_action(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cache", "--workspace", str(root), "ls"]) == 0
    assert "2 entries" in capsys.readouterr().out


def test_the_workspace_defaults_to_ffpipe_workspace(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As for `ffpipe run`: a cache kept elsewhere through the environment is the one listed.
    monkeypatch.setenv("FFPIPE_WORKSPACE", str(root))
    monkeypatch.chdir(root.parent.parent)
    assert main(["cache", "ls"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith(f"2.0 kB in {root}")


def test_a_missing_workspace_is_not_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cache", "verify", "--workspace", str(tmp_path / "nothing")]) == 0
    assert "no cache at" in capsys.readouterr().out
    assert not (tmp_path / "nothing").exists()


def test_gc_by_age_and_size(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cache", "gc", "--older-than", "1d", "--workspace", str(root)]) == 0
    out = capsys.readouterr().out
    assert "removed portrait/swap" in out
    assert "removed 1 entry and 1 object, freed 1.5 kB; 1 entry and 500 B left" in out
    assert main(["cache", "gc", "--max-size", "100B", "--workspace", str(root)]) == 0
    assert "0 entries and 0 B left" in capsys.readouterr().out


def test_a_dry_run_gc_of_the_workspace_removes_nothing(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cache", "gc", "--max-size", "100B", "--dry-run", "--workspace", str(root)]) == 0
    out = capsys.readouterr().out
    assert "would remove portrait/swap" in out and "would remove portrait/enhance" in out
    assert "would remove 2 entries and 2 objects, would free 2.0 kB" in out
    assert main(["cache", "ls", "--workspace", str(root)]) == 0
    assert "2 entries, 2 objects, 2.0 kB" in capsys.readouterr().out


def test_bad_gc_arguments_are_reported_without_a_traceback(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["cache", "gc", "--max-size", "lots", "--workspace", str(root)])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "error: argument --max-size: not a size: 'lots'" in err
    assert "Traceback" not in err


def test_verify_exits_0_when_clean_and_1_after_removing_corruption(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cache", "verify", "--workspace", str(root)]) == 0
    assert "cache is clean: 2 objects" in capsys.readouterr().out
    with Workspace(root) as workspace:
        swap = next(e for e in workspace.steps.entries() if e.instance_id == "swap")
        damage(workspace.objects.path(swap.outputs["output"]))
    assert main(["cache", "verify", "--workspace", str(root)]) == 1
    out = capsys.readouterr().out
    assert f"corrupt object removed: {swap.outputs['output']}" in out
    assert f"entry dropped (corrupt objects): portrait/swap key {swap.key}" in out
    assert main(["cache", "verify", "--workspace", str(root)]) == 0


def test_the_console_command_runs_in_a_fresh_process(root: Path) -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "ffpipe", "cache", "ls", "--workspace", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    assert "2 entries, 2 objects" in finished.stdout
