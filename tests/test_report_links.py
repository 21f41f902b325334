"""Report links name their files exactly, whatever characters the file names hold."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from ffpipe.cache.workspace import Workspace
from ffpipe.report.page import _Builder


@pytest.mark.parametrize("name", ["a#b.png", "what?.png", "100%.png", "x%23y.png"])
def test_a_link_to_a_file_with_url_characters_reaches_that_file(tmp_path: Path, name: str) -> None:
    with Workspace(tmp_path / ".ffpipe") as workspace:
        digest = workspace.objects.put_bytes(b"not really a png")
        builder = _Builder(workspace.objects, tmp_path / "report")
        link = builder._link("output", digest, workspace.objects.path(digest), name)
    assert link.href is not None
    parts = urlsplit(link.href)  # how a browser reads the href: no fragment, no query
    assert not parts.fragment and not parts.query
    target = tmp_path / "report" / unquote(parts.path)
    assert target.name == name and target.read_bytes() == b"not really a png"
