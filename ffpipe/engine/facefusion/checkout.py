"""Finding a FaceFusion checkout and the Python that runs it, with one clear message when wrong."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ffpipe.engine.api import EngineError

SUPPORTED_SERIES = (3, 8)
"""FaceFusion's release line whose command line the mapping table was read from."""

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


def check_version(version: str) -> None:
    """Refuse a FaceFusion outside the supported release line."""
    parts = tuple(int(part) for part in re.findall(r"\d+", version)[:2])
    if parts != SUPPORTED_SERIES:
        wanted = ".".join(map(str, SUPPORTED_SERIES))
        raise CheckoutError(
            f"FaceFusion {version} is not supported: the facefusion engine drives FaceFusion "
            f"{wanted}.x (its command line is what ffpipe maps the catalog onto)"
        )


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
    check_version(version)
    return Checkout(root=folder.resolve(), python=find_python(folder, python), version=version)
