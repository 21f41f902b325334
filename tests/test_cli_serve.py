"""``ffpipe serve`` arguments that are wrong: one readable message and exit 2, no server."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffpipe.cli import main


def test_a_port_out_of_range_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--port", "99999"])
    assert stopped.value.code == 2
    assert "'99999' is not a port number (0-65535)" in capsys.readouterr().err


def test_a_file_as_the_data_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("not a folder")
    assert main(["serve", "--port", "0", "--data-dir", str(blocker)]) == 2
    assert capsys.readouterr().err == f"ffpipe: error: --data-dir {blocker} is not a folder\n"
    assert main(["serve", "--port", "0", "--data-dir", str(blocker / "below")]) == 2
    assert f"cannot use --data-dir {blocker / 'below'}: Not a directory" in capsys.readouterr().err
