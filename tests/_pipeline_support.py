"""Helpers shared by the pipeline-language tests: writing small pipelines next to the media."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MEDIA = ROOT / "media"
EXAMPLES = ROOT / "pipelines" / "examples"
BAD = Path(__file__).resolve().parent / "bad_pipelines"


def write_pipeline(folder: Path, text: str, name: str = "pipeline.yaml") -> Path:
    """Write ``text`` (dedented) as a pipeline in ``folder``, with the sample photos beside it."""
    for photo in ("astronaut.jpg", "grace_hopper.jpg"):
        if not (folder / photo).exists():
            shutil.copyfile(MEDIA / photo, folder / photo)
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path
