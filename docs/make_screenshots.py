"""Write the README's screenshots of the run report and of the ``ffpipe serve`` UI.

Run from the repository root: ``.venv/bin/python docs/make_screenshots.py``. It runs
``pipelines/examples/batch_matrix.yaml`` with ``--report`` in a scratch folder and photographs the
report, then starts ``ffpipe serve`` on 127.0.0.1, swaps the two sample photos in its UI and
photographs that. Both pictures go to ``docs/images/`` (``report.png``, ``ui.png``) as palette
PNGs. It needs Debian's Chromium (``/usr/bin/chromium``, or FFPIPE_CHROMIUM) and the dev extra's
Playwright, as the browser tests do.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image
from playwright.sync_api import Browser, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
IMAGES = Path(__file__).resolve().parent / "images"
CHROMIUM = Path(os.environ.get("FFPIPE_CHROMIUM") or "/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VIEWPORT = {"width": 1200, "height": 960}
COLOURS = 128
"""Palette size of the saved PNGs: small files, and screenshots have few colours anyway."""
READY_MARK = "listening on "


def _save(raw: Path, name: str) -> Path:
    target = IMAGES / name
    with Image.open(raw) as shot:
        shot.convert("RGB").quantize(COLOURS).save(target, optimize=True)
    return target


def _report(browser: Browser, scratch: Path) -> Path:
    project = scratch / "project"
    shutil.copytree(ROOT / "media", project / "media")
    shutil.copytree(ROOT / "pipelines", project / "pipelines")
    example = "pipelines/examples/batch_matrix.yaml"
    subprocess.run(
        [sys.executable, "-m", "ffpipe", "run", example, "--report", "--no-lock"],
        cwd=project,
        check=True,
        env={**os.environ, "FFPIPE_WORKSPACE": str(project / ".ffpipe")},
    )
    (page_path,) = (project / ".ffpipe" / "runs").glob("*/report/index.html")
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(page_path.as_uri())
    page.wait_for_load_state("load")
    page.screenshot(path=str(scratch / "report.png"))
    page.close()
    return _save(scratch / "report.png", "report.png")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ui(browser: Browser, scratch: Path) -> Path:
    command = [sys.executable, "-m", "ffpipe", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(_free_port()), "--data-dir", str(scratch / "serve")]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = next(
            line.split(READY_MARK, 1)[1].strip() for line in server.stdout if READY_MARK in line
        )
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(url)
        page.wait_for_selector("#run-swap", timeout=60_000)
        for name, photo in (("source_face", "grace_hopper.jpg"), ("target_media", "astronaut.jpg")):
            page.locator(f"#swap-{name} input[type=file]").set_input_files(
                str(ROOT / "media" / photo)
            )
        page.wait_for_timeout(1500)
        page.click("#run-swap")
        page.wait_for_selector("#image-swap img", timeout=120_000)
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(500)
        page.screenshot(path=str(scratch / "ui.png"))
        page.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return _save(scratch / "ui.png", "ui.png")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(FLAGS))
        try:
            for written in (_report(browser, Path(folder)), _ui(browser, Path(folder))):
                print(f"{written} ({written.stat().st_size // 1024} KB)")
        finally:
            browser.close()


if __name__ == "__main__":
    main()
