"""The UI of ``ffpipe serve`` at ``/`` in headless Chromium (see _browser_support), and the API
beside it, against real servers on 127.0.0.1 (the shared fixtures of conftest.py)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from _run_support import ASTRONAUT, GRACE
from gradio_client import Client, handle_file

from ffpipe.server.errors import RequestError
from ffpipe.server.execute import parse_params

RUN_TIMEOUT_MS = 120_000


@pytest.fixture
def page(browser: Any, shared_server: Any) -> Iterator[Any]:
    """The UI of the shared server in a fresh browser context, failing on any console error."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(shared_server.url)
    opened.wait_for_selector("#run-swap", timeout=60_000)
    yield opened
    context.close()
    assert errors == []


def _upload(page: Any, op: str, name: str, path: Any) -> None:
    page.locator(f"#{op}-{name} input[type=file]").set_input_files(str(path))
    page.wait_for_selector(f"#{op}-{name} a, #{op}-{name} .file-preview", timeout=30_000)


def test_swap_two_photos_shows_the_output_image(page: Any) -> None:
    _upload(page, "swap", "source_face", GRACE)
    _upload(page, "swap", "target_media", ASTRONAUT)
    page.click("#run-swap")
    image = page.wait_for_selector("#image-swap img", timeout=RUN_TIMEOUT_MS)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image)
    assert "faces_processed" in page.inner_text("#result-swap")
    assert page.inner_text("#error-swap").strip() == ""


def test_a_bad_value_shows_the_catalogs_error_text(page: Any) -> None:
    with pytest.raises(RequestError) as refused:
        parse_params(
            "swap",
            {"source_face": "a.jpg", "target_media": "b.jpg", "output_image_resolution": "big"},
        )
    _upload(page, "swap", "source_face", GRACE)
    _upload(page, "swap", "target_media", ASTRONAUT)
    page.get_by_text("Encoding of image results").click()
    field = page.locator(
        "#swap-output_image_resolution textarea, #swap-output_image_resolution input"
    )
    field.first.fill("big")
    page.click("#run-swap")
    page.wait_for_function(
        "() => document.querySelector('#error-swap').innerText.includes('invalid parameters')",
        timeout=RUN_TIMEOUT_MS,
    )
    shown = page.inner_text("#error-swap")
    assert refused.value.detail in shown
    assert page.locator("#image-swap img").count() == 0


def test_a_submitted_job_reaches_completed_in_the_jobs_tab(page: Any) -> None:
    page.get_by_role("tab", name="edit").click()
    _upload(page, "edit", "target_media", ASTRONAUT)
    page.click("#job-edit")
    page.wait_for_function(
        "() => document.querySelector('#error-edit').innerText.includes('submitted job')",
        timeout=30_000,
    )
    job_id = re.search(r"submitted job (\S+)", page.inner_text("#error-edit")).group(1)
    page.get_by_role("tab", name="jobs").click()
    # One line of the table per job: id, op, status, progress, ETA, links to its results.
    done = re.compile(re.escape(job_id) + r"\s+edit\s+completed\s+100%")
    shown = ""
    deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
    while not done.search(shown) and time.monotonic() < deadline:
        page.wait_for_timeout(500)
        shown = page.inner_text("#jobs-table")
    assert done.search(shown), shown
    links = page.locator(f"#jobs-table a[href*='{job_id}/result/output']")
    assert links.count() >= 1


def test_the_catalog_example_still_answers_after_the_ui(shared_server: Any) -> None:
    client = Client(shared_server.url, verbose=False)
    listing = client.view_api(return_format="dict", print_info=False)
    assert list(listing["named_endpoints"]) == [
        "/swap",
        "/enhance",
        "/edit",
        "/detect",
        "/video",
        "/extract_frames",
        "/process",
        "/capabilities",
        "/submit_job",
        "/job_status",
        "/cancel_job",
    ]
    assert listing["unnamed_endpoints"] == {}
    swapped, result, _ = client.predict(
        source_face=handle_file(str(GRACE)),
        target_media=handle_file(str(ASTRONAUT)),
        face_swapper_model="inswapper_128",
        fn_index=0,
    )
    assert result["faces_processed"] == 1
    enhanced, _, _ = client.predict(target_media=handle_file(swapped), fn_index=1)
    edited, result, _ = client.predict(
        target_media=handle_file(enhanced), face_editor_age=70, fn_index=2
    )
    assert edited.endswith(".jpg") and result["faces_processed"] == 1


def test_auth_covers_the_ui(browser: Any, auth_server: Any, auth_users: dict[str, str]) -> None:
    anonymous = browser.new_context()
    try:
        # Chromium itself turns a 401 without credentials into a navigation error.
        response = anonymous.request.get(auth_server.url)
        assert response.status == 401
        assert response.json()["error"] == "authentication required"
    finally:
        anonymous.close()
    user, password = next(iter(auth_users.items()))
    context = browser.new_context(http_credentials={"username": user, "password": password})
    try:
        page = context.new_page()
        page.goto(auth_server.url)
        page.get_by_role("tab", name="detect").click()
        _upload(page, "detect", "target_media", GRACE)
        page.click("#run-detect")
        page.wait_for_function(
            "() => document.querySelector('#result-detect').innerText.includes('face_count')",
            timeout=RUN_TIMEOUT_MS,
        )
    finally:
        context.close()


def test_the_upload_limit_covers_the_ui(browser: Any, shared_server: Any, tmp_path: Any) -> None:
    # The shared server takes files up to 2 MB (conftest.SHARED_SERVER_ARGS).
    big = tmp_path / "big.jpg"
    big.write_bytes(ASTRONAUT.read_bytes() + bytes(3_000_000))
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(shared_server.url)
        page.wait_for_selector("#run-swap", timeout=60_000)
        page.locator("#swap-target_media input[type=file]").set_input_files(str(big))
        page.get_by_text("exceed the maximum allowed size").wait_for(timeout=30_000)
        assert page.locator("#swap-target_media a").count() == 0
    finally:
        context.close()
