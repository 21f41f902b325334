"""``ffpipe runs``, ``ffpipe runs gc``, ``ffpipe diff`` and ``ffpipe report --compare`` on real
runs of the builtin engine (the report tests' matrix: two photos x two smiles, then enhance)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from _report_support import write_matrix_project

from ffpipe.cli import main
from ffpipe.report.run_retention import prune_runs


def _ffpipe(folder: Path, patch: pytest.MonkeyPatch, *args: str) -> int:
    patch.chdir(folder)
    patch.setenv("FFPIPE_WORKSPACE", str(folder / ".ffpipe"))
    patch.delenv("FFPIPE_SERVER", raising=False)
    return main(list(args))


def _git(folder: Path, *args: str) -> None:
    environment = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    subprocess.run(
        ["git", "-C", str(folder), *args], check=True, env=environment, capture_output=True
    )


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git project run twice: the second run with the enhance blend raised, not committed."""
    folder = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as patch:
        write_matrix_project(folder, blend=0.5)
        _git(folder, "init", "-q")
        _git(folder, "add", "smiles.yaml")
        _git(folder, "commit", "-q", "-m", "first")
        assert _ffpipe(folder, patch, "run", "smiles.yaml", "--no-lock") == 0
        write_matrix_project(folder, blend=0.9)
        assert _ffpipe(folder, patch, "run", "smiles.yaml", "--no-lock") == 0
    return folder


def _run_ids(folder: Path) -> list[str]:
    records = sorted(
        (folder / ".ffpipe" / "runs").glob("*/run.json"), key=lambda p: p.stat().st_mtime_ns
    )
    return [path.parent.name for path in records]


def test_runs_lists_one_line_per_run_with_only_the_varying_columns(
    two_runs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _ffpipe(two_runs, monkeypatch, "runs") == 0
    lines = capsys.readouterr().out.splitlines()
    first, second = _run_ids(two_runs)
    assert len(lines) == 3
    header = lines[0].split()
    assert header[:4] == ["run", "started", "status", "time"]
    assert "commit" in header  # the second run's tree was edited: same commit, now dirty
    assert "restore.face_enhancer_blend" in header
    assert "smile.output_image_resolution" not in header  # the same in both runs
    assert "pipeline" not in header  # only one pipeline
    assert lines[1].startswith(first) and "8 ran, 0 cached" in lines[1]
    assert lines[2].startswith(second) and "4 ran, 4 cached" in lines[2]
    assert re.search(r"\b[0-9a-f]{8}\+", lines[2]) and "+" not in lines[1].split()[5]
    assert "*0.9" in lines[2] and "*" not in lines[1]


def test_runs_json_and_all_columns(
    two_runs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _ffpipe(two_runs, monkeypatch, "runs", "--json", "smiles.yaml") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["changed"] for row in rows] == [[], ["restore.face_enhancer_blend"]]
    assert rows[0]["git"]["dirty"] is False and rows[1]["git"]["dirty"] is True
    assert rows[0]["git"]["commit"] == rows[1]["git"]["commit"]
    assert _ffpipe(two_runs, monkeypatch, "runs", "--all", "other") == 0
    assert "no runs" in capsys.readouterr().out
    assert _ffpipe(two_runs, monkeypatch, "runs", "--all") == 0
    assert "smile.output_image_resolution" in capsys.readouterr().out.splitlines()[0]


def test_diff_names_parameters_outputs_and_their_difference(
    two_runs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _ffpipe(two_runs, monkeypatch, "diff") == 0
    out = capsys.readouterr().out
    first, second = _run_ids(two_runs)
    assert out.startswith(f"{first} -> {second} (smiles)")
    assert out.count("param face_enhancer_blend: 0.5 -> 0.9") == 4
    assert out.count("output output changed: MAD ") == 4
    assert "4 steps unchanged" in out  # the smile steps were cached
    assert _ffpipe(two_runs, monkeypatch, "diff", first[:17], "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["a"], document["b"]) == (first, second)
    changed = [step for step in document["steps"] if step["node"].startswith("restore")]
    assert len(changed) == 4
    for step in changed:
        figure = step["outputs"][0]["difference"]
        assert 0 < figure["mad"] < 30 and 0.5 < figure["ssim"] < 1.0


def test_diff_without_a_second_run_is_a_user_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _ffpipe(tmp_path, monkeypatch, "diff") == 2
    assert "no finished run" in capsys.readouterr().err


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {key: value or "" for key, value in attrs}))


def test_compare_page_shows_a_b_heat_map_slider_and_blink(
    two_runs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _ffpipe(two_runs, monkeypatch, "diff", "--html", "cmp") == 0
    page = two_runs / "cmp" / "index.html"
    html = page.read_text()
    parser = _Tags()
    parser.feed(html)
    images = [attrs for tag, attrs in parser.tags if tag == "img"]
    sources = {attrs["src"] for attrs in images}
    assert all((page.parent / src).is_file() for src in sources)
    # The restore step is a matrix step: one aligned row per instance, A, B and heat map each.
    assert html.count('<tr class="changed">') == 4
    assert sum(src.endswith("-heat.jpg") for src in sources) == 4
    assert sum(1 for _, attrs in parser.tags if attrs.get("type") == "range") == 4
    assert html.count('class="blink"') == 4
    assert "face_enhancer_blend" in html and "SSIM" in html
    assert 'src="http' not in html  # nothing fetched from the network


def test_report_compare_writes_the_page_beside_the_report(
    two_runs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = _run_ids(two_runs)
    assert _ffpipe(two_runs, monkeypatch, "report", "--compare", first, second) == 0
    page = Path(capsys.readouterr().out.strip())
    assert page.name == "compare.html" and page.parent.parent.name == second
    assert 'href="compare.html"' in (page.parent / "index.html").read_text()
    assert "-heat.jpg" in page.read_text()


def test_runs_gc_keeps_the_newest_of_each_pipeline(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    now = time.time()
    for index, (pipeline, age_days) in enumerate(
        [("a", 40), ("a", 20), ("a", 1), ("b", 90), ("b", 30)]
    ):
        folder = runs / f"2026010{index}T000000-00000{index}"
        folder.mkdir(parents=True)
        record = folder / "run.json"
        record.write_text(json.dumps({"run_id": folder.name, "pipeline": pipeline}))
        (folder / "report").mkdir()
        (folder / "report" / "index.html").write_text("x" * 1000)
        moment = now - age_days * 86400
        os.utime(record, (moment, moment))
    crashed = runs / "20260109T000000-dead00"
    crashed.mkdir()
    (crashed / "events.jsonl").write_text("{}\n")
    for path in (crashed / "events.jsonl", crashed):
        os.utime(path, (now - 50 * 86400, now - 50 * 86400))

    dry = prune_runs(runs, older_than=25 * 86400, dry_run=True, now=now)
    assert sorted(dry.removed) == ["20260100T000000-000000", "20260103T000000-000003", crashed.name]
    assert crashed.exists()
    kept = prune_runs(runs, keep=1, now=now)
    assert sorted(kept.removed) == [
        "20260100T000000-000000",
        "20260101T000000-000001",
        "20260103T000000-000003",
    ]
    assert kept.freed_bytes > 3000
    assert sorted(p.name for p in runs.iterdir()) == [
        "20260102T000000-000002",
        "20260104T000000-000004",
        crashed.name,
    ]


def test_runs_gc_command(
    two_runs: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _ffpipe(two_runs, monkeypatch, "runs", "gc") == 2
    assert "--keep N" in capsys.readouterr().err
    assert _ffpipe(two_runs, monkeypatch, "runs", "gc", "--keep", "1", "--dry-run") == 0
    out = capsys.readouterr().out
    assert out.startswith("would remove 1 run (") and "kept 1 run" in out
    assert len(_run_ids(two_runs)) == 2


def test_diff_rev_compares_the_file_with_its_committed_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_matrix_project(tmp_path, blend=0.5)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "smiles.yaml")
    _git(tmp_path, "commit", "-q", "-m", "first")
    write_matrix_project(tmp_path, blend=0.7)
    assert _ffpipe(tmp_path, monkeypatch, "diff", "--rev", "HEAD", "smiles.yaml") == 0
    out = capsys.readouterr().out
    assert out.startswith("smiles.yaml at HEAD -> as it is now\n")
    assert out.count("face_enhancer_blend: 0.5 -> 0.7") == 4  # each restore instance
    assert "smile[" not in out  # the smile steps did not change
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".smiles")) == []
    assert _ffpipe(tmp_path, monkeypatch, "diff", "--rev", "nope", "smiles.yaml") == 2
    assert "invalid object name" in capsys.readouterr().err
