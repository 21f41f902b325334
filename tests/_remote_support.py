"""Helpers for the remote cache tests and benchmarks: clones of a small project, moto's S3."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

from _run_support import copy_photos, write_pipeline

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

BUCKET = "renders"


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


def s3_environment(endpoint: str) -> dict[str, str]:
    """Dummy credentials and the endpoint, as a CI job would set them."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto's standalone S3 server on a free loopback port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def make_bucket(endpoint: str, name: str = BUCKET) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, **_credentials())
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=name)


def _credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "region_name": "us-east-1",
    }


def python() -> str:
    return sys.executable


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
