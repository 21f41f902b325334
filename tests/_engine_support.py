"""Shared helpers for the engine tests: the sample photos, collages made from them, file writers."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

MEDIA = Path(__file__).resolve().parent.parent / "media"
ASTRONAUT = MEDIA / "astronaut.jpg"
GRACE = MEDIA / "grace_hopper.jpg"
TILE = 240


@cache
def photo(path: Path) -> np.ndarray:
    """A sample photo as (H, W, 3) uint8 RGB (read-only)."""
    import cv2

    pixels = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    pixels.setflags(write=False)
    return pixels


def astronaut_tile() -> np.ndarray:
    """The astronaut's head and shoulders, TILE x TILE."""
    import cv2

    return cv2.resize(
        photo(ASTRONAUT)[30:250, 110:330], (TILE, TILE), interpolation=cv2.INTER_CUBIC
    )


def grace_tile() -> np.ndarray:
    """Grace Hopper's head, TILE x TILE."""
    import cv2

    return cv2.resize(photo(GRACE)[100:400, 120:420], (TILE, TILE), interpolation=cv2.INTER_AREA)


def collage() -> np.ndarray:
    """Three faces left to right: the astronaut, Grace Hopper, the astronaut mirrored."""
    astronaut = astronaut_tile()
    return np.ascontiguousarray(np.hstack([astronaut, grace_tile(), astronaut[:, ::-1]]))


def write_rgb(path: Path, rgb: np.ndarray) -> Path:
    """Write an RGB array with OpenCV; the extension picks the format."""
    import cv2

    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
    return path


def read_rgb(path: Path) -> np.ndarray:
    """Read an image written by the engine as RGB (8-bit, alpha dropped)."""
    import cv2

    pixels = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert pixels is not None, f"unreadable output {path}"
    return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)


def face_near(image_rgb: np.ndarray, box: tuple[int, int, int, int]):
    """The face of ``image_rgb`` closest to ``box`` (detected leniently, with its embedding)."""
    from ffpipe.engine.builtin.faces import detect_faces

    faces = detect_faces(image_rgb, score=0.25)
    centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    assert faces, "no face found in the output"
    return min(faces, key=lambda face: float(np.linalg.norm(np.array(face.center) - centre)))
