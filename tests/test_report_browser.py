"""The report of a matrix run, opened from disk in headless Chromium (see _browser_support)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _report_support import write_matrix_project

from ffpipe.cli import main


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report-browser")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("FFPIPE_WORKSPACE", str(folder / ".ffpipe"))
        patch.delenv("FFPIPE_SERVER", raising=False)
        write_matrix_project(folder)
        assert main(["run", "smiles.yaml", "--report", "--no-lock"]) == 0
    (page,) = (folder / ".ffpipe" / "runs").glob("*/report/index.html")
    return page


def test_matrix_report_in_a_browser(browser: Any, report_page: Path, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("requestfailed", lambda request: errors.append(f"failed: {request.url}"))
    try:
        page.goto(report_page.as_uri())
        page.wait_for_load_state("load")
        images = page.evaluate(
            "Array.from(document.images)"
            ".map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])"
        )
        assert images
        broken = [src for src, complete, width in images if not complete or width == 0]
        assert broken == []
        assert errors == []

        sheets = page.locator("table.contact-sheet")
        assert sheets.count() == 2
        for index in range(sheets.count()):
            sheet = sheets.nth(index)
            rows = int(sheet.get_attribute("data-rows"))
            columns = int(sheet.get_attribute("data-columns"))
            assert (rows, columns) == (2, 2)
            assert sheet.locator("tr").count() == rows + 1  # the column labels' row
            assert sheet.locator("td.cell img.thumb").count() == rows * columns
            links = sheet.locator("td.cell a").evaluate_all("links => links.map(a => a.href)")
            assert len(links) == rows * columns and all(
                link.startswith("file://") for link in links
            )

        nodes = page.locator("svg.dag g.node")
        assert nodes.count() == 8
        steps = nodes.evaluate_all("nodes => nodes.map(n => n.dataset.step)")
        assert sorted(steps) == sorted(
            f"{step}[photo={photo},smile={smile}]"
            for step in ("smile", "restore")
            for photo in ("astronaut.jpg", "grace.jpg")
            for smile in ("0.0", "0.6")
        )
        assert page.locator("svg.dag g.node.ran").count() == 8
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        assert (tmp_path / "report.png").stat().st_size > 0
    finally:
        page.close()
