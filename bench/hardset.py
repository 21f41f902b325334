"""A hard detection set made in code from the two sample photos, with known face boxes.

Heads cut from the sample portraits are scaled, flipped, recoloured, rotated and pasted with a soft
edge onto generated backgrounds (noise, gradients, stripes, blotches), alone or in collages, then
darkened, brightened, blurred or partly covered. Every placed face's box is recorded, so recall
(faces found / faces present) is measured without labelling anything by hand. A fixed seed makes
the set identical on every run; the detection benchmark and tests both use it.

Face sizes are given as the side of the face box (eyebrows to chin, as dlib boxes it) at the
detector size, 640 px on the longest side, the catalog default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

MEDIA = Path(__file__).resolve().parent.parent / "media"
DETECTOR_SIZE = 640
SEED = 20261127

# Face boxes (left, top, right, bottom) in the sample photos, as dlib finds them at full size.
_PORTRAITS = {
    "astronaut": (MEDIA / "astronaut.jpg", (179, 83, 266, 170)),
    "grace": (MEDIA / "grace_hopper.jpg", (161, 137, 376, 352)),
}
# A head is cut as a square this many face-box sides wide, centred on the face box.
_HEAD_SPAN = 2.0

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class HardCase:
    """One generated image and the faces placed in it."""

    name: str
    kind: str
    """small, collage, group, side_by_side, rotated, dark, bright, occluded or blur."""
    image: np.ndarray
    """(H, W, 3) uint8 RGB."""
    faces: tuple[Box, ...]
    """Placed face boxes (left, top, right, bottom) in image pixels, left to right."""
    people: tuple[str, ...] = field(default=())
    """Who each face is ("astronaut" or "grace"), in the order of ``faces``."""
    tilts: tuple[float, ...] = field(default=())
    """How far each head is turned (degrees, counter-clockwise), in the order of ``faces``."""

    @property
    def clean(self) -> bool:
        """Sharp, well exposed, unoccluded, upright faces: every one must be found."""
        return self.kind in ("collage", "group", "side_by_side")


@cache
def _portrait(person: str) -> tuple[np.ndarray, Box]:
    import cv2

    path, box = _PORTRAITS[person]
    pixels = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    return pixels, box


@cache
def _head(person: str) -> np.ndarray:
    """A square head crop with the face box in its central 1/_HEAD_SPAN."""
    pixels, (left, top, right, bottom) = _portrait(person)
    side = (right - left) * _HEAD_SPAN
    cx, cy = (left + right) / 2, (top + bottom) / 2
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    crop = pixels[y0 : y0 + round(side), x0 : x0 + round(side)]
    if crop.shape[0] != crop.shape[1]:
        raise RuntimeError(f"the head crop of {person} leaves the photo")
    return crop


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    import cv2

    style = rng.integers(4)
    base = rng.uniform(30, 220, size=3)
    if style == 0:  # smooth noise
        small = rng.normal(0, 40, size=(max(2, height // 40), max(2, width // 40), 3))
        noise = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
        image = base + noise + 6 * rng.standard_normal((height, width, 3), dtype=np.float32)
    elif style == 1:  # linear gradient between two colours
        other = rng.uniform(30, 220, size=3)
        angle = rng.uniform(0, np.pi)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        ramp = xs * np.cos(angle) + ys * np.sin(angle)
        ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1.0)
        image = base + (other - base) * ramp[..., None]
    elif style == 2:  # stripes, like blinds or a patterned wall
        period = rng.uniform(12, 60)
        angle = rng.uniform(0, np.pi)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        wave = np.sin((xs * np.cos(angle) + ys * np.sin(angle)) * 2 * np.pi / period)
        image = base + 35 * wave[..., None] * rng.uniform(0.5, 1.0, size=3)
    else:  # blotches: blurred random rectangles, like a cluttered room
        image = np.broadcast_to(base, (height, width, 3)).copy()
        for _ in range(int(rng.integers(8, 20))):
            x0, y0 = int(rng.integers(width)), int(rng.integers(height))
            w, h = (
                int(rng.integers(width // 12, width // 3)),
                int(rng.integers(height // 12, height // 3)),
            )
            image[y0 : y0 + h, x0 : x0 + w] = rng.uniform(20, 235, size=3)
        image = cv2.GaussianBlur(image, (0, 0), 3)
    return np.clip(image, 0, 255).astype(np.uint8)


def _recolour(rng: np.random.Generator, head: np.ndarray) -> np.ndarray:
    gains = rng.uniform(0.85, 1.15, size=3)
    shifted = head.astype(np.float32) * gains + rng.uniform(-12, 12, size=3)
    if rng.random() < 0.2:
        shifted = np.repeat(shifted.mean(axis=2, keepdims=True), 3, axis=2)
    return np.clip(shifted, 0, 255).astype(np.uint8)


def _soft_disc(side: int) -> np.ndarray:
    """Alpha of a head: opaque in the middle, fading out towards the corners."""
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    centre = (side - 1) / 2
    radius = np.hypot(xs - centre, ys - centre) / (side / 2)
    return np.clip((1.0 - radius) / 0.25, 0.0, 1.0)[..., None]


def _place(
    rng: np.random.Generator,
    canvas: np.ndarray,
    person: str,
    face_side: float,
    centre: tuple[float, float],
    *,
    angle: float = 0.0,
) -> Box:
    """Paste a head whose face box is ``face_side`` px at ``centre``; return the face box."""
    import cv2

    head = _recolour(rng, _head(person))
    if rng.random() < 0.5:
        head = np.ascontiguousarray(head[:, ::-1])
    side = max(8, round(face_side * _HEAD_SPAN))
    interpolation = cv2.INTER_AREA if side < head.shape[0] else cv2.INTER_CUBIC
    head = cv2.resize(head, (side, side), interpolation=interpolation)
    alpha = _soft_disc(side)
    if angle:
        turn = cv2.getRotationMatrix2D(((side - 1) / 2, (side - 1) / 2), angle, 1.0)
        head = cv2.warpAffine(head, turn, (side, side), borderMode=cv2.BORDER_REFLECT)
        alpha = cv2.warpAffine(alpha, turn, (side, side))[..., None]
    x0, y0 = round(centre[0] - side / 2), round(centre[1] - side / 2)
    height, width = canvas.shape[:2]
    cx0, cy0 = max(0, x0), max(0, y0)
    cx1, cy1 = min(width, x0 + side), min(height, y0 + side)
    patch = head[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0].astype(np.float32)
    weight = alpha[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    region = canvas[cy0:cy1, cx0:cx1].astype(np.float32)
    canvas[cy0:cy1, cx0:cx1] = np.round(region * (1 - weight) + patch * weight).astype(np.uint8)
    half = face_side / 2
    return (centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half)


def _scale_to_detector(width: int, height: int) -> float:
    return max(width, height) / DETECTOR_SIZE


def _free_spot(
    rng: np.random.Generator, taken: list[Box], width: int, height: int, side: float
) -> tuple[float, float] | None:
    margin = side * _HEAD_SPAN / 2
    for _ in range(200):
        cx = rng.uniform(margin, width - margin)
        cy = rng.uniform(margin, height - margin)
        box = (cx - margin, cy - margin, cx + margin, cy + margin)
        if all(_apart(box, other) for other in taken):
            return cx, cy
    return None


def _apart(first: Box, second: Box) -> bool:
    return (
        first[2] <= second[0]
        or second[2] <= first[0]
        or first[3] <= second[1]
        or second[3] <= first[1]
    )


def _scatter(
    rng: np.random.Generator,
    name: str,
    kind: str,
    size: tuple[int, int],
    sides_at_detector: Sequence[float],
    *,
    angles: Sequence[float] | None = None,
) -> HardCase:
    """Faces of the given sizes (at the detector size) at random free spots of a new canvas."""
    width, height = size
    scale = _scale_to_detector(width, height)
    canvas = _background(rng, height, width)
    taken: list[Box] = []
    placed: list[tuple[Box, str, float]] = []
    for number, side_at_detector in enumerate(sorted(sides_at_detector, reverse=True)):
        side = side_at_detector * scale
        spot = _free_spot(rng, taken, width, height, side)
        if spot is None:
            raise RuntimeError(f"{name}: no room for a face of {side:.0f} px")
        margin = side * _HEAD_SPAN / 2
        taken.append((spot[0] - margin, spot[1] - margin, spot[0] + margin, spot[1] + margin))
        person = str(rng.choice(list(_PORTRAITS)))
        angle = 0.0 if angles is None else float(angles[number % len(angles)])
        placed.append((_place(rng, canvas, person, side, spot, angle=angle), person, angle))
    return _case(name, kind, canvas, placed)


def _case(
    name: str, kind: str, canvas: np.ndarray, placed: list[tuple[Box, str, float]]
) -> HardCase:
    placed.sort(key=lambda item: (item[0][0], item[0][1]))
    return HardCase(
        name=name,
        kind=kind,
        image=canvas,
        faces=tuple(box for box, _, _ in placed),
        people=tuple(person for _, person, _ in placed),
        tilts=tuple(angle for _, _, angle in placed),
    )


def collage(rng: np.random.Generator, count: int) -> HardCase:
    """``count`` faces of mixed sizes (24-150 px at the detector size), one per cell of a grid."""
    columns = int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns))
    width, height = int(rng.integers(1000, 1700)), int(rng.integers(800, 1200))
    scale = _scale_to_detector(width, height)
    cell_width, cell_height = width / columns, height / rows
    canvas = _background(rng, height, width)
    placed = []
    cells = rng.permutation(rows * columns)[:count]
    for cell in cells:
        row, column = divmod(int(cell), columns)
        largest = min(150.0, min(cell_width, cell_height) / scale / _HEAD_SPAN)
        side = rng.uniform(24.0, largest) * scale
        free_x = cell_width - side * _HEAD_SPAN
        free_y = cell_height - side * _HEAD_SPAN
        spot = (
            column * cell_width + side * _HEAD_SPAN / 2 + rng.uniform(0, free_x),
            row * cell_height + side * _HEAD_SPAN / 2 + rng.uniform(0, free_y),
        )
        person = str(rng.choice(list(_PORTRAITS)))
        placed.append((_place(rng, canvas, person, side, spot), person, 0.0))
    return _case(f"collage_{count}", "collage", canvas, placed)


def group_photo(rng: np.random.Generator) -> HardCase:
    """Six people in two rows on a 1280x886 canvas: faces about 50 px at the detector size."""
    width, height = 1280, 886
    canvas = _background(rng, height, width)
    placed = []
    rows = ((300.0, (190.0, 500.0, 810.0)), (620.0, (345.0, 655.0, 965.0)))
    for row_y, xs in rows:
        for x in xs:
            side = rng.uniform(92, 108)
            spot = (x + rng.uniform(-30, 30), row_y + rng.uniform(-20, 20))
            person = str(rng.choice(list(_PORTRAITS)))
            placed.append((_place(rng, canvas, person, side, spot), person, 0.0))
    return _case("group_1280x886", "group", canvas, placed)


def side_by_side(rng: np.random.Generator) -> HardCase:
    """The astronaut on the left, Grace Hopper on the right, at slightly different sizes."""
    width, height = 1200, 800
    canvas = _background(rng, height, width)
    placed = [
        (_place(rng, canvas, "astronaut", 190.0, (330.0, 380.0)), "astronaut", 0.0),
        (_place(rng, canvas, "grace", 230.0, (860.0, 400.0)), "grace", 0.0),
    ]
    return _case("side_by_side", "side_by_side", canvas, placed)


def _degrade(case: HardCase, kind: str, rng: np.random.Generator) -> HardCase:
    import cv2

    image = case.image.astype(np.float32)
    if kind == "dark":
        image = 255.0 * (image / 255.0) ** rng.uniform(1.8, 2.4) * rng.uniform(0.5, 0.7)
    elif kind == "bright":
        image = 255.0 * (image / 255.0) ** rng.uniform(0.45, 0.6) * 1.1 + 20
    elif kind == "blur":
        side = min(box[2] - box[0] for box in case.faces)
        image = cv2.GaussianBlur(image, (0, 0), side * rng.uniform(0.015, 0.03))
    elif kind == "occluded":
        for left, top, right, bottom in case.faces:
            side = right - left
            colour = rng.uniform(20, 230, size=3)
            if rng.random() < 0.5:  # a scarf or hand over the mouth and chin
                y0 = round(top + side * rng.uniform(0.68, 0.75))
                image[
                    y0 : round(bottom + side * 0.2),
                    round(left - side * 0.1) : round(right + side * 0.1),
                ] = colour
            else:  # something in front of one side of the face
                x0 = round(right - side * rng.uniform(0.2, 0.28)) if rng.random() < 0.5 else None
                if x0 is None:
                    image[
                        round(top) : round(bottom),
                        round(left - side * 0.2) : round(left + side * 0.24),
                    ] = colour
                else:
                    image[round(top) : round(bottom), x0 : round(right + side * 0.2)] = colour
    pixels = np.clip(np.round(image), 0, 255).astype(np.uint8)
    return HardCase(
        name=f"{case.name}_{kind}",
        kind=kind,
        image=pixels,
        faces=case.faces,
        people=case.people,
        tilts=case.tilts,
    )


@cache
def hard_set() -> tuple[HardCase, ...]:
    """The whole set, generated once per process (read-only arrays)."""
    rng = np.random.default_rng(SEED)
    cases: list[HardCase] = []
    for number, size in enumerate(((1600, 1200), (1920, 1080), (1280, 960), (1000, 1500))):
        sides = rng.uniform(20, 34, size=3)
        cases.append(_scatter(rng, f"small_faces_{number}", "small", size, sides))
    cases += [collage(rng, count) for count in range(2, 9)]
    cases.append(group_photo(rng))
    cases.append(side_by_side(rng))
    tilts = ((-10, 20), (15, -25), (30, -30), (-20, 10), (25, 12), (-30, -15))
    for number, angles in enumerate(tilts):
        sides = rng.uniform(60, 110, size=2)
        size = (int(rng.integers(900, 1400)), int(rng.integers(700, 1000)))
        cases.append(_scatter(rng, f"rotated_{number}", "rotated", size, sides, angles=angles))
    for kind in ("dark", "bright", "blur", "occluded"):
        for number in range(4):
            sides = rng.uniform(30, 110, size=2)
            size = (int(rng.integers(900, 1400)), int(rng.integers(700, 1000)))
            base = _scatter(rng, f"pair_{number}", kind, size, sides)
            cases.append(_degrade(base, kind, rng))
    for case in cases:
        case.image.setflags(write=False)
    return tuple(cases)


def matches(found: Sequence[Box], present: Sequence[Box]) -> list[int | None]:
    """For each present face, the index of the found box that matches it, or ``None``.

    A found box matches when its centre lies within half a face side of the placed face's centre
    and its side is 0.5-2x the placed side; each found box matches at most one face, nearest
    first."""
    pairs = []
    for number, truth in enumerate(present):
        side = truth[2] - truth[0]
        centre = np.array([(truth[0] + truth[2]) / 2, (truth[1] + truth[3]) / 2])
        for index, box in enumerate(found):
            found_side = ((box[2] - box[0]) + (box[3] - box[1])) / 2
            distance = float(
                np.linalg.norm(np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]) - centre)
            )
            if distance <= side / 2 and 0.5 <= found_side / side <= 2.0:
                pairs.append((distance / side, number, index))
    assigned: list[int | None] = [None] * len(present)
    used: set[int] = set()
    for _, number, index in sorted(pairs):
        if assigned[number] is None and index not in used:
            assigned[number] = index
            used.add(index)
    return assigned
