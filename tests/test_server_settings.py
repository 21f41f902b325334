"""The limits a server reports (sizes are read by ffpipe.units: tests/test_units.py)."""

from __future__ import annotations

from pathlib import Path

from ffpipe.server.settings import ServerSettings


def test_settings_derive_folders_url_and_limits(tmp_path: Path) -> None:
    settings = ServerSettings(
        data_dir=tmp_path, host="0.0.0.0", port=9100, credentials={"u": "p"}, concurrency=3
    )
    assert settings.upload_dir == tmp_path / "uploads"
    assert settings.output_dir == tmp_path / "outputs"
    assert settings.url == "http://127.0.0.1:9100/"
    limits = settings.limits()
    assert limits["max_file_size"] == 100_000_000
    assert limits["concurrency"] == 3
    assert limits["auth"] is True
