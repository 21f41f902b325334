"""``ffpipe init [DIR]``: a starter pipeline, ``ffpipe.toml`` and ``.gitignore`` lines.

Files that exist are left alone (and said so); ``.gitignore`` only gains the lines it lacks.
``--source``/``--target`` copy two photos in as the starter's inputs; without them the starter
names ``media/source.jpg`` and ``media/target.jpg`` for you to put there.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
from pathlib import Path

from ffpipe.errors import UserError

PIPELINE_NAME = "portrait.yaml"

STARTER_PIPELINE = """\
# A starter pipeline: swap the source face onto the target, then restore it.
# Reference: `ffpipe ops swap` lists every parameter; `ffpipe plan portrait.yaml` shows what runs.
version: 1
name: portrait
inputs:
  source: {source}
  target: {target}
steps:
  swap:
    uses: swap
    with:
      source_face: "{{{{ inputs.source }}}}"
      target_media: "{{{{ inputs.target }}}}"
      face_swapper_model: inswapper_128
      face_mask_types: [box]
  enhance:
    uses: enhance
    with:
      target_media: "{{{{ steps.swap.output }}}}"
      face_enhancer_model: gfpgan_1.4
      face_enhancer_blend: 0.8
outputs:
  portrait.jpg: "{{{{ steps.enhance.output }}}}"
"""

STARTER_CONFIG = """\
# ffpipe settings for this folder; commit it. Credentials never go here.

[cache]
# A cache shared by teammates and CI: a shared folder or any fsspec URL. S3 needs
# `pip install 'ffpipe-pipelines[s3]'` and takes credentials from the AWS environment or profiles.
# remote = "s3://my-bucket/ffpipe"
# remote = "/mnt/shared/ffpipe-cache"

[server]
# Render on a catalog-speaking server instead of in-process (`ffpipe serve`, or FaceFusion's).
# url = "http://127.0.0.1:9002"

[engine]
# The in-process engine of every command (--engine overrides it): "builtin" or "facefusion",
# whose checkout comes from --facefusion or FFPIPE_FACEFUSION.
# name = "facefusion"

[cluster]
# Run the steps that must run on a Dask cluster's workers (needs the extra
# `pip install 'ffpipe-pipelines[cluster]'` and the remote cache above).
# --cluster and FFPIPE_CLUSTER override it.
# scheduler = "tcp://scheduler:8786"
"""

IGNORED = (".ffpipe/", "out/", ".ffpipe-server/")


def register(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``ffpipe init``."""
    parser.add_argument("folder", nargs="?", type=Path, default=Path("."), metavar="DIR")
    parser.add_argument("--source", type=Path, metavar="PHOTO", help="copy in as the source face")
    parser.add_argument("--target", type=Path, metavar="PHOTO", help="copy in as the target")


def run(args: argparse.Namespace) -> int:
    """Write what is missing and say what was written."""
    folder: Path = args.folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
        inputs = {
            "source": _input(folder, args.source, "source"),
            "target": _input(folder, args.target, "target"),
        }
        _write_new(folder / PIPELINE_NAME, STARTER_PIPELINE.format(**inputs))
        _write_new(folder / "ffpipe.toml", STARTER_CONFIG)
        _ignore(folder / ".gitignore")
    except OSError as error:
        raise UserError(f"cannot set up {folder}: {error.strerror or error}") from None
    missing = [name for name in inputs.values() if not (folder / name).is_file()]
    if missing:
        print(f"next: put photos at {' and '.join(missing)} (in {folder})")
    print(f"then: {_cd(folder)}ffpipe run {PIPELINE_NAME}")
    return 0


def _cd(folder: Path) -> str:
    """``cd DIR && `` unless DIR is the current folder, quoted for a POSIX shell."""
    if folder.resolve() == Path.cwd().resolve():
        return ""
    return f"cd {shlex.quote(str(folder))} && "


def _input(folder: Path, photo: Path | None, role: str) -> str:
    if photo is None:
        return f"media/{role}.jpg"
    if not photo.is_file():
        raise UserError(f"--{role} {photo}: no such file")
    name = f"media/{role}{photo.suffix.lower() or '.jpg'}"
    (folder / "media").mkdir(exist_ok=True)
    shutil.copyfile(photo, folder / name)
    print(f"copied {photo} to {folder / name}")
    return name


def _write_new(path: Path, text: str) -> None:
    if path.exists():
        print(f"kept {path} (it exists)")
        return
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")


def _ignore(path: Path) -> None:
    present = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    missing = [line for line in IGNORED if line not in present]
    if not missing:
        return
    prefix = "" if not present or path.read_text(encoding="utf-8").endswith("\n") else "\n"
    with path.open("a", encoding="utf-8") as handle:
        handle.write(prefix + "# ffpipe: workspace cache, rendered outputs, ffpipe serve files\n")
        handle.write("".join(f"{line}\n" for line in missing))
    print(f"added {', '.join(missing)} to {path}")
