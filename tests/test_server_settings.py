"""Size parsing and the limits a server reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffpipe.server.settings import ServerSettings, format_size, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100MB", 100_000_000),
        ("100mb", 100_000_000),
        ("512kB", 512_000),
        ("2GiB", 2 * 1024**3),
        ("1.5M", 1_500_000),
        ("1048576", 1_048_576),
        (" 7 b ", 7),
    ],
)
def test_parse_size_reads_decimal_and_binary_units(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "MB", "-1MB", "0", "12 parsecs", "1e3MB"])
def test_parse_size_refuses_what_is_not_a_size(text: str) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


def test_format_size_is_readable() -> None:
    assert format_size(100_000_000) == "100 MB"
    assert format_size(1_500) == "1.5 kB"
    assert format_size(12) == "12 bytes"


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
