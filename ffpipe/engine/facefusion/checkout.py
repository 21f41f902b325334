"""Finding a FaceFusion checkout and the Python that runs it, with one clear message when wrong."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ffpipe.engine.api import EngineError

SUPPORTED_SERIES = (3, 8)
"""FaceFusion's release line whose command line the mapping table was read from."""
SUPPORTED_TEXT = "FaceFusion 3.8.x (3.8.1 is tested; 3.8.0, 3.8.2, 3.8.3 share its command line)"

_VERSION_RE = re.compile(r"'version'\s*:\s*'([0-9][^']*)'")
_VENV_PYTHONS = (".venv/bin/python", "venv/bin/python", ".venv/Scripts/python.exe")


class CheckoutError(EngineError):
    """Not a FaceFusion checkout, an unsupported version, or no Python that can run it."""


@dataclass(frozen=True)
class Checkout:
    """A FaceFusion source folder and the interpreter of its own environment."""

    root: Path
    python: Path
    version: str
    commit: str | None = None
    """The checkout's git commit, when it is a git clone (provenance in run records)."""

    @property
    def models_dir(self) -> Path:
        return self.root / ".assets" / "models"


def read_version(root: Path) -> str:
    """FaceFusion's version from ``facefusion/metadata.py``, without importing it."""
    metadata = root / "facefusion" / "metadata.py"
    if not (root / "facefusion.py").is_file() or not metadata.is_file():
        raise CheckoutError(
            f"{root} is not a FaceFusion checkout (expected facefusion.py and "
            "facefusion/metadata.py in it); pass the folder you cloned FaceFusion into"
        )
    found = _VERSION_RE.search(metadata.read_text(encoding="utf-8", errors="replace"))
    if found is None:
        raise CheckoutError(f"{metadata} names no version; is this a FaceFusion checkout?")
    return found.group(1)


def check_version(version: str, root: Path | None = None) -> None:
    """Refuse a FaceFusion outside the supported release line, naming what is supported.

    The v4 branch gets its own reason: its command line has ``run`` where 3.8 has
    ``headless-run``, so none of the catalog mapping applies to it.
    """
    parts = tuple(int(part) for part in re.findall(r"\d+", version)[:2])
    if parts == SUPPORTED_SERIES and not (root is not None and _is_v4_layout(root)):
        return
    if parts[:1] == (4,) or (root is not None and _is_v4_layout(root)):
        reason = (
            "it is FaceFusion's v4 line, whose command is `run` where 3.8 has `headless-run`, "
            "and the facefusion engine drives 3.8's command line"
        )
    else:
        reason = "the facefusion engine maps the catalog onto 3.8's command line only"
    raise CheckoutError(
        f"FaceFusion {version} is not supported: {reason}. Supported: {SUPPORTED_TEXT}; "
        "check out a 3.8 release (git checkout 3.8.1)"
    )


def _is_v4_layout(root: Path) -> bool:
    """A checkout whose program offers no ``headless-run`` (v4 renamed it ``run``)."""
    program = root / "facefusion" / "program.py"
    if not program.is_file():
        return False
    return "'headless-run'" not in program.read_text(encoding="utf-8", errors="replace")


def read_commit(root: Path) -> str | None:
    """The git commit of a checkout that is a git clone, else None (no git needed)."""
    if not (root / ".git").exists() or shutil.which("git") is None:
        return None
    try:
        answer = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = answer.stdout.strip()
    return commit if answer.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", commit) else None


def find_python(root: Path, python: Path | str | None) -> Path:
    """The interpreter named by ``--facefusion-python``, else the checkout's own venv."""
    if python is not None:
        named = Path(python)
        resolved = shutil.which(str(named)) if named.parent == Path(".") else None
        candidate = Path(resolved) if resolved else named
        if not candidate.is_file() or not os.access(candidate, os.X_OK):
            raise CheckoutError(f"--facefusion-python {python} is not an executable file")
        return candidate
    for relative in _VENV_PYTHONS:
        candidate = root / relative
        if candidate.is_file():
            return candidate
    raise CheckoutError(
        f"no Python environment found in {root} (looked for {', '.join(_VENV_PYTHONS)}); "
        "create FaceFusion's own environment there, or name its interpreter with "
        "--facefusion-python (ffpipe never runs FaceFusion in its own Python)"
    )


def open_checkout(root: Path | str, python: Path | str | None = None) -> Checkout:
    """Validate ``root`` as a supported FaceFusion checkout and find its interpreter."""
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise CheckoutError(f"--facefusion {root}: no such folder")
    version = read_version(folder)
    check_version(version, folder)
    return Checkout(
        root=folder.resolve(),
        python=find_python(folder, python),
        version=version,
        commit=read_commit(folder),
    )
