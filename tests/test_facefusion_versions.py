"""Which FaceFusion checkouts the engine accepts, and the one message for the rest.

Checkouts are laid out here as the files ffpipe reads (facefusion.py, facefusion/metadata.py,
facefusion/program.py); none of them is run, so no FaceFusion install is needed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ffpipe.engine.facefusion.checkout import CheckoutError, open_checkout


def lay_out(root: Path, version: str, *, commands: tuple[str, ...] = ("headless-run",)) -> Path:
    (root / "facefusion").mkdir(parents=True)
    (root / "facefusion.py").write_text("")
    (root / "facefusion" / "metadata.py").write_text(f"METADATA = {{'version': '{version}'}}\n")
    parsers = "\n".join(f"sub_program.add_parser('{name}')" for name in commands)
    (root / "facefusion" / "program.py").write_text(parsers + "\n")
    return root


@pytest.mark.parametrize("version", ["3.8.0", "3.8.1", "3.8.2", "3.8.3"])
def test_every_3_8_patch_release_is_accepted(tmp_path: Path, version: str) -> None:
    checkout = open_checkout(lay_out(tmp_path / "ff", version), sys.executable)
    assert checkout.version == version


@pytest.mark.parametrize("version", ["3.4.0", "3.9.0", "2.6.3"])
def test_an_unknown_version_names_what_is_supported(tmp_path: Path, version: str) -> None:
    with pytest.raises(CheckoutError) as raised:
        open_checkout(lay_out(tmp_path / "ff", version), sys.executable)
    message = str(raised.value)
    assert f"FaceFusion {version} is not supported" in message
    assert "Supported: FaceFusion 3.8.x" in message and "\n" not in message


def test_the_v4_branch_is_refused_for_its_run_command(tmp_path: Path) -> None:
    with pytest.raises(CheckoutError) as raised:
        open_checkout(lay_out(tmp_path / "a", "4.0.0", commands=("run",)), sys.executable)
    assert "v4 line" in str(raised.value) and "`headless-run`" in str(raised.value)
    assert "Supported: FaceFusion 3.8.x" in str(raised.value)
    # A v4 development checkout that still says 3.8 in its metadata is told apart by its parser.
    with pytest.raises(CheckoutError, match="v4 line"):
        open_checkout(lay_out(tmp_path / "b", "3.8.1", commands=("run",)), sys.executable)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_git_clone_reports_its_commit(tmp_path: Path) -> None:
    root = lay_out(tmp_path / "ff", "3.8.1")
    assert open_checkout(root, sys.executable).commit is None
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "release"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    assert open_checkout(root, sys.executable).commit == head.stdout.strip()
