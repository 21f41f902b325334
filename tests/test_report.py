"""``ffpipe report`` and ``ffpipe run --report`` on a real matrix run of the builtin engine.

The page is read as HTML here (its structure, links and files); the browser tests
(test_report_browser.py) look at it in Chromium.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest
from _report_support import write_matrix_project

from ffpipe.cache.objects import ObjectStore
from ffpipe.cli import main
from ffpipe.report.dag import lay_out
from ffpipe.report.pictures import Pictures
from ffpipe.report.sheets import contact_sheets


class _Page(HTMLParser):
    """Every tag of a page with its attributes, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {key: value or "" for key, value in attrs}))

    def find(self, tag: str, css_class: str | None = None) -> list[dict[str, str]]:
        return [
            attrs
            for name, attrs in self.tags
            if name == tag and (css_class is None or css_class in attrs.get("class", "").split())
        ]


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _run(folder: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.chdir(folder)
    monkeypatch.setenv("FFPIPE_WORKSPACE", str(folder / ".ffpipe"))
    monkeypatch.delenv("FFPIPE_SERVER", raising=False)
    return main(list(args))


@pytest.fixture(scope="module")
def matrix_reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A matrix run and a second one with one parameter changed; both reports."""
    folder = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as patch:
        write_matrix_project(folder)
        assert _run(folder, patch, "run", "smiles.yaml", "--report", "--no-lock") == 0
        first = _newest_report(folder)
        write_matrix_project(folder, blend=0.9)
        assert _run(folder, patch, "run", "smiles.yaml", "--report", "--no-lock") == 0
        second = _newest_report(folder)
    assert first != second
    return folder, first, second


def _newest_report(folder: Path) -> Path:
    # Run ids name the second a run started: two quick runs share it, so ask the files.
    pages = (folder / ".ffpipe" / "runs").glob("*/report/index.html")
    return max(pages, key=lambda page: page.stat().st_mtime_ns)


@pytest.mark.slow
def test_run_report_draws_a_node_per_step_with_its_status(
    matrix_reports: tuple[Path, Path, Path],
) -> None:
    _, first, second = matrix_reports
    nodes = _parse(first).find("g", "node")
    assert len(nodes) == 8
    assert all("ran" in node["class"].split() for node in nodes)
    classes = {node["data-step"]: node["class"].split() for node in _parse(second).find("g")}
    assert "cached" in classes["smile[photo=astronaut.jpg,smile=0.6]"]
    assert "ran" in classes["restore[photo=astronaut.jpg,smile=0.6]"]


def test_contact_sheet_has_rows_by_columns_linked_thumbnails(
    matrix_reports: tuple[Path, Path, Path],
) -> None:
    _, first, _ = matrix_reports
    page = _parse(first)
    sheets = page.find("table", "contact-sheet")
    assert [(s["data-rows"], s["data-columns"]) for s in sheets] == [("2", "2"), ("2", "2")]
    cells = page.find("td", "cell")
    assert len(cells) == 8
    thumbs = page.find("img", "thumb")
    for thumb in thumbs:
        assert (first.parent / thumb["src"]).is_file()


def test_every_link_is_relative_and_exists(matrix_reports: tuple[Path, Path, Path]) -> None:
    _, first, _ = matrix_reports
    page = _parse(first)
    targets = [a["href"] for a in page.find("a")] + [i["src"] for i in page.find("img")]
    files = [t for t in targets if not t.startswith("#")]
    assert files
    for target in files:
        assert not re.match(r"^(/|[a-z]+:)", target), target
        assert (first.parent / target).exists(), target
    outputs = [a["href"] for a in page.find("a", "output-link")]
    assert len({o for o in outputs if o.endswith(".jpg")}) >= 4


def test_changed_parameter_is_marked_with_its_old_value(
    matrix_reports: tuple[Path, Path, Path],
) -> None:
    _, first, second = matrix_reports
    text = second.read_text()
    assert _parse(first).find("tr", "changed") == []
    changed = _parse(second).find("tr", "changed")
    assert len(changed) == 4  # face_enhancer_blend of the four restore instances
    assert "0.5</span>" in text
    assert "face_enhancer_blend changed 0.5 -&gt; 0.9" in text


def test_step_shows_why_stand_ins_faces_and_pictures(
    matrix_reports: tuple[Path, Path, Path],
) -> None:
    _, first, _ = matrix_reports
    text = first.read_text()
    assert "no cache entry" in text
    assert "gfpgan_1.4 → classical restoration" in text
    assert "faces found 1, processed 1" in text
    page = _parse(first)
    assert len(page.find("figure", "before")) == len(page.find("figure", "after")) == 8


def test_report_command_writes_latest_or_named_run(
    matrix_reports: tuple[Path, Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    folder, first, _ = matrix_reports
    run_id = first.parent.parent.name
    assert _run(folder, monkeypatch, "report", run_id, "--out", str(tmp_path / "r")) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "r" / "index.html")
    assert (tmp_path / "r" / "index.html").is_file()
    assert _run(folder, monkeypatch, "report", "nonexistent") == 2
    assert "run 'nonexistent'" in capsys.readouterr().err


def test_unknown_run_is_a_user_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(tmp_path, monkeypatch, "report") == 2
    assert "no finished run" in capsys.readouterr().err


def test_record_keeps_what_the_report_needs(matrix_reports: tuple[Path, Path, Path]) -> None:
    _, first, _ = matrix_reports
    record = json.loads((first.parent.parent / "run.json").read_text())
    step = record["steps"]["restore[photo=grace.jpg,smile=0.0]"]
    assert step["op"] == "enhance" and step["step"] == "restore"
    assert step["needs"] == ["smile[photo=grace.jpg,smile=0.0]"]
    assert step["matrix"] == {"photo": "grace.jpg", "smile": 0.0}
    assert step["params"]["face_enhancer_blend"] == 0.5
    assert step["inputs"]["target_media"]["path"].endswith("grace.jpg")
    assert step["file_names"] == {"output": "grace.jpg"}
    assert record["matrix_axes"] == ["photo", "smile"]


def test_video_gets_a_poster_and_a_looping_preview(
    tmp_path: Path, make_video: Callable[..., Path]
) -> None:
    from PIL import Image

    clip = make_video(tmp_path / "clip.mp4", width=160, height=120, fps=5, seconds=2)
    picture = Pictures(tmp_path / "report").of(clip)
    assert picture.kind == "video"
    with Image.open(tmp_path / "report" / picture.preview) as preview:
        assert preview.n_frames > 1
        assert preview.info.get("loop") == 0
    with Image.open(tmp_path / "report" / picture.poster) as poster:
        assert max(poster.size) <= 320


def test_sheet_shapes_for_one_two_and_three_axes() -> None:
    def steps(combos: list[dict[str, object]]) -> dict[str, dict[str, object]]:
        return {f"s{i}": {"step": "s", "matrix": combo} for i, combo in enumerate(combos)}

    one = steps([{"a": 1}, {"a": 2}, {"a": 3}])
    (sheet,) = contact_sheets(list(one), one, ["a"])
    assert (len(sheet.rows), len(sheet.columns)) == (1, 3)
    three = steps([{"a": a, "b": b, "c": c} for a in (1, 2) for b in "xy" for c in "pq"])
    (sheet,) = contact_sheets(list(three), three, ["a", "b", "c"])
    assert (sheet.rows, sheet.columns) == (["1", "2"], ["x, p", "x, q", "y, p", "y, q"])
    gap = steps([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}])
    (sheet,) = contact_sheets(list(gap), gap, ["a", "b"])
    assert sheet.cells == [["s0", None], [None, "s1"]]


def test_sheet_labels_are_those_of_the_instance_ids() -> None:
    # Two photos of one name in two folders: the sheet tells them apart as the instance ids do
    # (ffpipe.axis_labels), rather than folding both into one column.
    photos = ["/a/photo.jpg", "/b/photo.jpg"]
    steps = {f"s{i}": {"step": "s", "matrix": {"p": photo}} for i, photo in enumerate(photos)}
    (sheet,) = contact_sheets(list(steps), steps, ["p"])
    assert sheet.columns == photos
    assert sheet.cells == [["s0", "s1"]]


def test_layout_puts_each_generation_in_its_own_column() -> None:
    layout = lay_out(["a", "b", "c"], {"b": ["a"], "c": ["a"]}, dict.fromkeys("abc", "ran"), {})
    x = {box.id: box.x for box in layout.boxes}
    assert x["a"] < x["b"] == x["c"]
    assert len(layout.edges) == 2


def test_a_run_answered_from_its_stamp_gets_a_report_too(
    matrix_reports: tuple[Path, Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, _, second = matrix_reports
    capsys.readouterr()
    assert _run(folder, monkeypatch, "run", "smiles.yaml", "--report", "--no-lock") == 0
    printed = capsys.readouterr().out
    page = folder / printed.split("report: ", 1)[1].strip()
    assert page != second and page.is_file()
    assert "answered from run" in page.read_text()
    nodes = _parse(page).find("g", "node")
    assert len(nodes) == 8 and all("cached" in node["class"].split() for node in nodes)


def test_reports_link_to_the_cache_instead_of_copying_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_matrix_project(tmp_path)
    for _ in range(3):  # a run and two no-op replays, each with its report
        assert _run(tmp_path, monkeypatch, "run", "smiles.yaml", "--report", "--no-lock") == 0
    runs = tmp_path / ".ffpipe" / "runs"
    assert len(list(runs.glob("*/report/index.html"))) == 3
    files = [path for path in runs.glob("*/report/files/**/*") if not path.is_dir()]
    linked = [path for path in files if path.is_symlink()]
    objects = (tmp_path / ".ffpipe" / "objects").resolve()
    assert len(linked) >= 3 * 8 and all(p.resolve().is_relative_to(objects) for p in linked)
    copied = {path.name for path in files if not path.is_symlink()}
    assert copied <= {path.name for path in tmp_path.iterdir()}  # only the pipeline's inputs


def test_cache_gc_keeps_only_the_newest_runs_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_matrix_project(tmp_path)
    for _ in range(3):
        assert _run(tmp_path, monkeypatch, "run", "smiles.yaml", "--report", "--no-lock") == 0
    runs = tmp_path / ".ffpipe" / "runs"
    newest = _newest_report(tmp_path).parent.parent
    capsys.readouterr()
    assert _run(tmp_path, monkeypatch, "cache", "gc", "--keep-runs", "1", "--dry-run") == 0
    assert "would remove 2 runs" in capsys.readouterr().out
    assert len(list(runs.glob("*/run.json"))) == 3
    assert _run(tmp_path, monkeypatch, "cache", "gc", "--keep-runs", "1") == 0
    assert "removed 2 runs" in capsys.readouterr().out
    assert [path.parent for path in runs.glob("*/run.json")] == [newest]


def test_parameters_show_what_was_written_references_and_defaults(
    matrix_reports: tuple[Path, Path, Path],
) -> None:
    _, first, _ = matrix_reports
    text = first.read_text()
    record = json.loads((first.parent.parent / "run.json").read_text())
    restore = record["steps"]["restore[photo=astronaut.jpg,smile=0.0]"]
    assert restore["written"]["target_media"] == "steps.smile.output"
    smile = record["steps"]["smile[photo=astronaut.jpg,smile=0.0]"]
    assert smile["written"]["face_editor_mouth_smile"] == 0.0
    assert smile["at_default"] == ["face_editor_mouth_smile"]
    # The downstream target is named by its reference, with the file it was in brackets.
    assert re.search(
        r"<td>target_media</td><td>steps\.smile\.output <span class=\"rendered\"", text
    )
    # A value the user wrote equal to the default is shown and marked.
    page = _parse(first)
    assert len(page.find("tr", "default")) == 2  # the two smile=0.0 instances
    assert text.count('class="default-mark"') == 2


def test_matrix_node_labels_put_the_values_on_their_own_line(
    matrix_reports: tuple[Path, Path, Path],
) -> None:
    _, first, _ = matrix_reports
    text = first.read_text()
    assert '<text class="instance" x="8" y="34">photo=astronaut.jpg, smile=0.0</text>' in text
    assert "<title>restore[photo=grace.jpg,smile=0.6]: " in text


def test_a_failed_step_shows_its_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from _pipeline_support import write_pipeline
    from _run_support import copy_photos

    copy_photos(tmp_path)
    write_pipeline(
        tmp_path,
        """
        version: 1
        name: restyle
        steps:
          restyle:
            uses: edit
            with:
              target_media: astronaut.jpg
              face_editor_hair_style: 2
              face_editor_blend: 0.7
        """,
    )
    assert _run(tmp_path, monkeypatch, "run", "pipe.yaml", "--no-lock", "--report") != 0
    text = _newest_report(tmp_path).read_text()
    failed = text[text.index('class="step failed') :]
    assert "<td>face_editor_hair_style</td><td>2" in failed
    assert "<td>face_editor_blend</td><td>0.7" in failed


def test_a_detect_step_shows_its_boxes_on_the_photo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np
    from _pipeline_support import write_pipeline
    from _run_support import copy_photos
    from PIL import Image

    copy_photos(tmp_path)
    write_pipeline(
        tmp_path,
        """
        version: 1
        name: look
        steps:
          look:
            uses: detect
            with: {target_media: grace.jpg}
        """,
    )
    assert _run(tmp_path, monkeypatch, "run", "pipe.yaml", "--no-lock", "--report") == 0
    report = _newest_report(tmp_path)
    page = _parse(report)
    [after] = page.find("figure", "after")
    thumbs = [img["src"] for img in page.find("img") if "-faces-" in img["src"]]
    assert len(thumbs) == 1 and after is not None
    assert "1 face boxed" in report.read_text()
    drawn = np.asarray(Image.open(report.parent / thumbs[0]).convert("RGB")).astype(int)
    green = (drawn[..., 1] > 180) & (drawn[..., 0] < 90) & (drawn[..., 2] < 160)
    assert green.sum() > 100  # the box's outline, absent from the photo itself


def test_report_of_an_older_run_never_shows_todays_input_as_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from _pipeline_support import write_pipeline
    from _run_support import copy_photos

    copy_photos(tmp_path)
    write_pipeline(
        tmp_path,
        """
        version: 1
        name: look
        steps:
          look:
            uses: detect
            with: {target_media: grace.jpg}
        """,
    )
    assert _run(tmp_path, monkeypatch, "run", "pipe.yaml", "--no-lock") == 0
    [first_run] = [path.name for path in (tmp_path / ".ffpipe" / "runs").iterdir()]
    original = (tmp_path / "grace.jpg").read_bytes()
    edited = (tmp_path / "astronaut.jpg").read_bytes()
    (tmp_path / "grace.jpg").write_bytes(edited)  # the input edited since the first run
    assert _run(tmp_path, monkeypatch, "run", "pipe.yaml", "--no-lock") == 0
    capsys.readouterr()

    out = tmp_path / "old-report"
    assert _run(tmp_path, monkeypatch, "report", first_run, "--out", str(out)) == 0
    copied = [path.read_bytes() for path in (out / "files").rglob("*") if path.is_file()]
    assert edited not in copied and original not in copied
    assert "input changed since this run" in (out / "index.html").read_text()

    # With the first run's input bytes in the cache, the report shows them instead.
    ObjectStore(tmp_path / ".ffpipe" / "objects").put_bytes(original)
    again = tmp_path / "old-report-cached"
    assert _run(tmp_path, monkeypatch, "report", first_run, "--out", str(again)) == 0
    copied = [path.read_bytes() for path in (again / "files").rglob("*") if path.is_file()]
    assert original in copied and edited not in copied
    assert "input changed since this run" not in (again / "index.html").read_text()
