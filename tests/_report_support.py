"""A small matrix run on the builtin engine, for the report tests (unit and browser).

Two photos x two smile amounts for an edit step, then an enhance step on each edit: a 2 x 2
contact sheet per step. Run through the CLI in-process, as a user would, with ``--report``.
"""

from __future__ import annotations

from pathlib import Path

from _pipeline_support import write_pipeline
from _run_support import copy_photos

MATRIX = """\
version: 1
name: smiles
matrix:
  photo: [astronaut.jpg, grace.jpg]
  smile: [0.0, 0.6]
steps:
  smile:
    uses: edit
    with:
      target_media: "{{ matrix.photo }}"
      face_editor_mouth_smile: "{{ matrix.smile }}"
      output_image_resolution: 256x256
  restore:
    uses: enhance
    with:
      target_media: "{{ steps.smile.output }}"
      face_enhancer_blend: {blend}
outputs:
  "{{ matrix.photo | stem }}_{{ matrix.smile }}.jpg": "{{ steps.restore.output }}"
"""


def write_matrix_project(folder: Path, blend: float = 0.5) -> Path:
    """The photos and the matrix pipeline in ``folder``; returns the pipeline's path."""
    copy_photos(folder)
    return write_pipeline(folder, MATRIX.replace("{blend}", str(blend)), "smiles.yaml")
