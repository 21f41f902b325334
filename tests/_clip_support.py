"""Moving-face clips made in code from the sample photos, with each face's true place per frame.

A clip is a list of frames; each frame places one or more heads (cut from a sample photo) with a
pose: roll angle, zoom and position. Because the poses are known, so is where every face is in
every frame, and a test can tell per frame whether the face there was swapped without trusting
the detector it is testing: :func:`swapped_frames` compares the middle of each true face box
between the input and the output.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from _engine_support import ASTRONAUT, GRACE, photo

from ffpipe.engine.builtin.faces import detect_faces

BACKGROUND = 128
# Mean absolute difference (0-255) in the middle of a face box above which that face counts as
# swapped. Re-encoding alone moves it by about 1-3 levels; a swapped face by 20 or more.
SWAP_DIFFERENCE = 8.0


@dataclass(frozen=True)
class Pose:
    """Where one head is in a frame: roll in degrees (counter-clockwise), the face's side in
    pixels, and the face centre's position in pixels."""

    angle: float
    side: float
    centre: tuple[float, float]


@dataclass(frozen=True)
class Head:
    """A sample photo's face: the photo and its face box (left, top, right, bottom)."""

    pixels: np.ndarray
    box: tuple[int, int, int, int]

    @property
    def centre(self) -> tuple[float, float]:
        left, top, right, bottom = self.box
        return (left + right) / 2, (top + bottom) / 2

    @property
    def side(self) -> float:
        return float(self.box[2] - self.box[0])


def head(path: Path) -> Head:
    """The photo at ``path`` and its one face's box, found at full resolution."""
    pixels = photo(path)
    faces = detect_faces(pixels, score=0.3, detector_size=max(pixels.shape[:2]))
    assert len(faces) == 1, f"{path.name} should show one face"
    return Head(pixels, faces[0].box)


def astronaut() -> Head:
    return head(ASTRONAUT)


def grace() -> Head:
    return head(GRACE)


def _warp(head: Head, pose: Pose) -> np.ndarray:
    """2x3 map from the photo to the frame for ``pose``."""
    scale = pose.side / head.side
    warp = cv2.getRotationMatrix2D(head.centre, pose.angle, scale)
    warp[:, 2] += np.array(pose.centre) - np.array(head.centre)
    return warp


def render_frame(
    size: tuple[int, int], heads: Sequence[tuple[Head, Pose]], *, black: bool = False
) -> np.ndarray:
    """One RGB frame (``size`` = width, height) showing each head in its pose on grey."""
    width, height = size
    frame = np.full((height, width, 3), BACKGROUND, np.float32)
    if black:
        return np.zeros((height, width, 3), np.uint8)
    for face, pose in heads:
        warp = _warp(face, pose)
        # The head and shoulders: an ellipse around the face, feathered, so several heads can
        # share a frame without the photos' backgrounds overlapping.
        mask = np.zeros(face.pixels.shape[:2], np.float32)
        centre = (round(face.centre[0]), round(face.centre[1] + 0.15 * face.side))
        axes = (round(0.95 * face.side), round(1.25 * face.side))
        cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), face.side * 0.08)
        moved = cv2.warpAffine(face.pixels, warp, size, flags=cv2.INTER_LINEAR)
        weight = cv2.warpAffine(mask, warp, size, flags=cv2.INTER_LINEAR)[..., None]
        frame = frame * (1 - weight) + moved.astype(np.float32) * weight
    return np.clip(frame + 0.5, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Clip:
    """A generated clip: its file, and per frame the true centre and side of each head's face
    (``None`` where the frame is black)."""

    path: Path
    faces: list[list[tuple[tuple[float, float], float]] | None]

    @property
    def frames(self) -> int:
        return len(self.faces)


def write_clip(
    path: Path,
    heads: Sequence[Head],
    poses: Sequence[Sequence[Pose] | None],
    *,
    size: tuple[int, int] = (320, 240),
    fps: int = 24,
    motion_blur: bool = False,
) -> Clip:
    """Encode one frame per entry of ``poses`` (a pose per head, or ``None`` for black) at
    high quality (CRF 12), without audio. ``motion_blur``: each frame is smeared along the first
    head's way to its next pose, as a camera with a half-frame shutter would."""
    truth: list[list[tuple[tuple[float, float], float]] | None] = []
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"crf": "12", "preset": "veryfast"}
        for number, frame_poses in enumerate(poses):
            if frame_poses is None:
                image = render_frame(size, [], black=True)
                truth.append(None)
            else:
                image = render_frame(size, list(zip(heads, frame_poses, strict=True)))
                following = poses[number + 1] if number + 1 < len(poses) else None
                if motion_blur and following is not None:
                    image = _smeared(image, frame_poses[0], following[0])
                truth.append([(pose.centre, pose.side) for pose in frame_poses])
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = number
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return Clip(path, truth)


def _smeared(image: np.ndarray, pose: Pose, following: Pose) -> np.ndarray:
    """``image`` blurred along half the way from ``pose`` to ``following``."""
    dx, dy = (following.centre[0] - pose.centre[0]) / 4, (following.centre[1] - pose.centre[1]) / 4
    reach = max(1, math.ceil(math.hypot(dx, dy)))
    kernel = np.zeros((2 * reach + 1, 2 * reach + 1), np.float32)
    start = (round(reach - dx), round(reach - dy))
    end = (round(reach + dx), round(reach + dy))
    cv2.line(kernel, start, end, 1.0, 1)
    return cv2.filter2D(image, -1, kernel / kernel.sum())


def wave(number: int, frames: int, cycles: float = 1.0, phase: float = 0.0) -> float:
    """sin over ``cycles`` periods across the clip, at frame ``number``: -1.0 to 1.0."""
    return math.sin(2 * math.pi * (cycles * number / max(1, frames - 1)) + phase)


def decoded(path: Path) -> list[np.ndarray]:
    """Every frame of ``path``, RGB."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def face_difference(
    before: np.ndarray, after: np.ndarray, centre: tuple[float, float], side: float
) -> float:
    """Mean absolute difference over the middle of a face (a square of 0.6 of its side)."""
    half = 0.3 * side
    height, width = before.shape[:2]
    left, right = max(0, round(centre[0] - half)), min(width, round(centre[0] + half))
    top, bottom = max(0, round(centre[1] - half)), min(height, round(centre[1] + half))
    region = (slice(top, bottom), slice(left, right))
    return float(np.abs(before[region].astype(np.int16) - after[region]).mean())


def swapped_frames(clip: Clip, output: Path, head_number: int = 0) -> list[bool | None]:
    """Per frame: was head ``head_number``'s face swapped (``None`` for black frames)?"""
    before, after = decoded(clip.path), decoded(output)
    assert len(before) == len(after) == clip.frames
    verdicts: list[bool | None] = []
    for number, faces in enumerate(clip.faces):
        if faces is None:
            verdicts.append(None)
            continue
        centre, side = faces[head_number]
        difference = face_difference(before[number], after[number], centre, side)
        verdicts.append(difference > SWAP_DIFFERENCE)
    return verdicts
