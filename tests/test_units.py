"""Sizes and durations are read one way (ffpipe/units.py) by every command that takes them:
``cache gc --max-size/--older-than``, ``serve --max-file-size`` and ``serve --retention``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from ffpipe.cli import main, serve_cmd
from ffpipe.errors import UserError
from ffpipe.server.retention import Retention, RetentionError
from ffpipe.units import UnitError, format_size, parse_duration, parse_size

DAY = 86400.0

SIZES = [
    ("123", 123),
    ("7B", 7),
    (" 7 b ", 7),
    ("2GB", 2 * 10**9),
    ("2gb", 2 * 10**9),
    ("2 GB", 2 * 10**9),
    ("1G", 10**9),
    ("512kB", 512_000),
    ("1.5 kb", 1500),
    ("1.5M", 1_500_000),
    ("100MB", 100 * 10**6),
    ("3TB", 3 * 10**12),
    ("1PB", 10**15),
    ("500MiB", 500 * 2**20),
    ("2GiB", 2 * 2**30),
    ("2gib", 2 * 2**30),
    ("2Gi", 2 * 2**30),
    ("4KiB", 4096),
    ("1TiB", 2**40),
]
DURATIONS = [
    ("45", 45.0),
    ("2.5", 2.5),
    ("30s", 30.0),
    ("90m", 5400.0),
    ("12h", 43200.0),
    ("7d", 7 * DAY),
    ("7D", 7 * DAY),
    ("1w", 7 * DAY),
    ("2w", 14 * DAY),
    ("1d12h", 1.5 * DAY),
    ("1d 12h", 1.5 * DAY),
    ("1.5h", 5400.0),
]
BAD_SIZES = ["", "big", "MB", "2XB", "-1GB", "12 parsecs", "1e3MB", "2ib"]
BAD_DURATIONS = ["", "7x", "d7", "1d 2q", "-3d", "forever", "1e3s"]


@pytest.mark.parametrize(("text", "size"), SIZES)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(("text", "seconds"), DURATIONS)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", BAD_SIZES)
def test_bad_sizes_are_user_errors(text: str) -> None:
    with pytest.raises(UserError, match="not a size"):
        parse_size(text)


@pytest.mark.parametrize("text", BAD_DURATIONS)
def test_bad_durations_are_user_errors(text: str) -> None:
    with pytest.raises(UnitError, match="not a duration"):
        parse_duration(text)


def test_format_size_is_readable() -> None:
    assert format_size(100_000_000) == "100 MB"
    assert format_size(1_500) == "1.5 kB"
    assert format_size(12) == "12 bytes"


# Every spelling through each command that takes it.


def _serve_arguments(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    serve_cmd.register(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize(("text", "size"), SIZES)
def test_cache_gc_max_size(text: str, size: int, tmp_path: Path) -> None:
    assert main(["cache", "gc", "--max-size", text, "--workspace", str(tmp_path / "w")]) == 0


@pytest.mark.parametrize(("text", "seconds"), DURATIONS)
def test_cache_gc_older_than(text: str, seconds: float, tmp_path: Path) -> None:
    assert main(["cache", "gc", "--older-than", text, "--workspace", str(tmp_path / "w")]) == 0


@pytest.mark.parametrize(("text", "size"), [s for s in SIZES if s[1] > 0])
def test_serve_max_file_size(text: str, size: int) -> None:
    assert _serve_arguments("--max-file-size", text).max_file_size == size


def _is_duration(text: str) -> bool:
    try:
        parse_duration(text)
    except UnitError:
        return False
    return True


@pytest.mark.parametrize(("text", "seconds"), [d for d in DURATIONS if not d[0][-1].isdigit()])
@pytest.mark.parametrize(("size_text", "size"), [s for s in SIZES if not _is_duration(s[0])])
def test_serve_retention(text: str, seconds: float, size_text: str, size: int) -> None:
    # Every spelling with a unit reads as it does for cache gc. A bare number is refused in a
    # retention (bytes or seconds?), and a bare M is minutes there (1.5M: test below).
    retention = _serve_arguments("--retention", f"{text},{size_text}").retention
    assert Retention.parse(retention) == Retention(seconds, size)
    assert Retention.parse(f"{size_text}, {text}") == Retention(seconds, size)


@pytest.mark.parametrize("text", ["1w,20GB", "7d,2GiB", "1w", "2GiB"])
def test_retention_spellings_that_failed_before(text: str) -> None:
    assert Retention.parse(text) != Retention(None, None)


def test_a_bare_m_in_a_retention_is_minutes() -> None:
    assert Retention.parse("1.5M") == Retention(90.0, None)
    assert Retention.parse("1.5MB") == Retention(None, 1_500_000)


@pytest.mark.parametrize("text", ["45", "1w,1w", "2GB,2GB", "7d,forever"])
def test_unreadable_retentions(text: str) -> None:
    with pytest.raises(RetentionError, match="cannot read retention"):
        Retention.parse(text)


@pytest.mark.parametrize("text", BAD_SIZES)
def test_bad_sizes_are_usage_errors(
    text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["cache", "gc", f"--max-size={text}", "--workspace", str(tmp_path)])
    assert exited.value.code == 2
    assert "not a size" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _serve_arguments(f"--max-file-size={text}")
