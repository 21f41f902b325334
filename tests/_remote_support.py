"""Helpers for the remote cache tests and benchmarks: clones of a small project, moto's S3."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from _pipeline_support import write_pipeline
from _run_support import copy_photos

# Two quick steps of the builtin engine on the sample photos, one fanned out by a matrix.
PROJECT_PIPELINE = """
    version: 1
    name: team
    inputs: {source: grace.jpg, target: astronaut.jpg}
    matrix:
      age: [30, 70]
    steps:
      swap:
        uses: swap
        with: {source_face: "{{ inputs.source }}", target_media: "{{ inputs.target }}"}
      aged:
        uses: edit
        with: {target_media: "{{ steps.swap.output }}", face_editor_age: "{{ matrix.age }}"}
    outputs:
      "aged_{{ matrix.age }}.jpg": "{{ steps.aged.output }}"
"""


def make_clone(folder: Path, remote: str, pipeline: str = PROJECT_PIPELINE) -> Path:
    """A fresh project folder (as a new clone would be): pipeline, photos and ffpipe.toml."""
    folder.mkdir(parents=True, exist_ok=True)
    copy_photos(folder)
    write_pipeline(folder, pipeline, "team.yaml")
    (folder / "ffpipe.toml").write_text(f'[cache]\nremote = "{remote}"\n')
    return folder


def in_folder_main(folder: Path, *args: str) -> int:
    """Run the CLI in-process with ``folder`` as the current folder."""
    from ffpipe.cli import main

    before = Path.cwd()
    os.chdir(folder)
    try:
        return main(list(args))
    finally:
        os.chdir(before)


def events(text: str) -> list[dict]:
    """The JSON events in ``run --json`` output."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def python() -> str:
    return sys.executable


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
