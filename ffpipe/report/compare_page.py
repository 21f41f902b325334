"""The compare page of two runs: for every output that changed, A and B side by side (a slider
wipes from one to the other, a toggle blinks between them) and a heat map of the difference.

Steps of a matrix are drawn as aligned contact sheets: one row per instance, A, B and the heat
map in columns, so the same cell of both runs sits on one line. One folder, relative links,
nothing fetched from the network (like the report).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape
from PIL import Image

from ffpipe.report.compare import OutputChange, RunComparison, StepChange
from ffpipe.report.difference import first_frame, heat_map, match_size, picture_kind

PICTURE_SIDE = 480
"""Longest side of the pictures on the page; A, B and the heat map share one size."""
PICTURE_FOLDER = "compare"


@dataclass
class PicturePair:
    """The three pictures of one changed output, paths relative to the page."""

    output: str
    a: str
    b: str
    heat: str
    figure: str


@dataclass
class StepBlock:
    """A step's section: its instances (one unless it is a matrix step) and their changes."""

    step: str
    matrix: bool
    rows: list[tuple[StepChange, list[PicturePair]]] = field(default_factory=list)


def write_compare_page(comparison: RunComparison, folder: Path, name: str = "index.html") -> Path:
    """Write the compare page (and its pictures) into ``folder``; returns the page's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PICTURE_FOLDER).mkdir(exist_ok=True)
    blocks = _blocks(comparison, folder)
    environment = Environment(
        loader=PackageLoader("ffpipe.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        keep_trailing_newline=True,
    )
    html = environment.get_template("compare.html.j2").render(
        a=comparison.a,
        b=comparison.b,
        params=comparison.params,
        blocks=blocks,
        unchanged=sum(1 for step in comparison.steps if not step.changed),
    )
    page = folder / name
    temporary = folder / f".{name}.tmp"
    temporary.write_text(html, encoding="utf-8")
    temporary.replace(page)
    return page


def _blocks(comparison: RunComparison, folder: Path) -> list[StepBlock]:
    """The steps with a change, instances of one matrix step together and all of them shown
    (unchanged ones too) so both sheets line up."""
    changed_steps = {step.step for step in comparison.steps if step.changed}
    blocks: dict[str, StepBlock] = {}
    for step in comparison.steps:
        if step.step not in changed_steps:
            continue
        block = blocks.setdefault(step.step, StepBlock(step.step, bool(step.matrix)))
        pairs = [
            pair
            for output in step.outputs
            if (pair := _pair(output, folder, same_ok=block.matrix)) is not None
        ]
        block.rows.append((step, pairs))
    return list(blocks.values())


def _pair(output: OutputChange, folder: Path, same_ok: bool) -> PicturePair | None:
    if output.path_a is None or output.path_b is None or (output.same and not same_ok):
        return None
    kind = picture_kind(output.path_a)
    if kind is None or picture_kind(output.path_b) != kind:
        return None
    try:
        a = _shrunk(first_frame(output.path_a, kind))
        b, _ = match_size(first_frame(output.path_b, kind), a)
    except (OSError, ValueError):
        return None
    tag = hashlib.sha256(f"{output.digest_a} {output.digest_b}".encode()).hexdigest()[:16]
    names = {}
    for role, pixels in (("a", a), ("b", b), ("heat", heat_map(a, b))):
        relative = f"{PICTURE_FOLDER}/{tag}-{role}.jpg"
        Image.fromarray(pixels).save(folder / relative, quality=88)
        names[role] = relative
    figure = "same bytes" if output.same else ""
    if output.difference is not None:
        figure = output.difference.describe()
    return PicturePair(output.name, names["a"], names["b"], names["heat"], figure)


def _shrunk(pixels: np.ndarray) -> np.ndarray:
    image = Image.fromarray(pixels)
    image.thumbnail((PICTURE_SIDE, PICTURE_SIDE))
    return np.asarray(image)
