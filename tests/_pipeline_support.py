"""Writing pipeline files in tests: the one ``write_pipeline`` of the suite (runner, CLI and
pipeline-language tests alike), and where the sample media and examples are."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MEDIA = ROOT / "media"
EXAMPLES = ROOT / "pipelines" / "examples"
BAD = Path(__file__).resolve().parent / "bad_pipelines"


def write_pipeline(
    folder: Path, text: str, name: str = "pipe.yaml", *, photos: bool = False
) -> Path:
    """Write ``text`` (dedented) as the pipeline file ``folder/name`` and return its path.

    ``photos=True`` first copies the sample photos (``astronaut.jpg``, ``grace_hopper.jpg``)
    beside it, for pipelines that name them.
    """
    for photo in ("astronaut.jpg", "grace_hopper.jpg") if photos else ():
        if not (folder / photo).exists():
            shutil.copyfile(MEDIA / photo, folder / photo)
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path
