"""``ffpipe serve`` arguments that are wrong: one readable message and exit 2, no server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ffpipe.cli import main


@pytest.mark.parametrize("port", ["99999", "0"])
def test_a_port_out_of_range_is_refused(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--port", port])
    assert stopped.value.code == 2
    assert f"'{port}' is not a port number (1-65535)" in capsys.readouterr().err


def test_a_file_as_the_data_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("not a folder")
    assert main(["serve", "--port", "19002", "--data-dir", str(blocker)]) == 2
    assert capsys.readouterr().err == f"ffpipe: error: --data-dir {blocker} is not a folder\n"
    assert main(["serve", "--port", "19002", "--data-dir", str(blocker / "below")]) == 2
    assert f"cannot use --data-dir {blocker / 'below'}: Not a directory" in capsys.readouterr().err


def test_the_projects_engine_is_the_one_served(tmp_path: Path) -> None:
    """``[engine] name`` of the project's ffpipe.toml chooses the engine, as for every command:
    here FaceFusion, which cannot start without a checkout, so serve stops before listening."""
    (tmp_path / "ffpipe.toml").write_text('[engine]\nname = "facefusion"\n')
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FFPIPE_FACEFUSION")}
    served = subprocess.run(
        [sys.executable, "-m", "ffpipe", "serve", "--port", "19002", "--data-dir", "data"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert served.returncode == 2, served.stdout
    assert "the facefusion engine needs --facefusion PATH" in served.stderr
