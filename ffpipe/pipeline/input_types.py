"""A step's input file must be what the op reads: an image or a video, by its bytes.

Checked when the pipeline is loaded, so ``validate`` says at the file's ``with:`` line what
``run`` would only find when the step starts: a text file named ``photo.jpg``, a video given to
``detect``, an image given to an op that needs a video. Only files that are there are looked at
(a missing file has its own error; a URL or a step's output is checked when it exists).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ffpipe.catalog import OPS
from ffpipe.catalog.ops import OpSpec
from ffpipe.media import MediaType, sniff_file
from ffpipe.pipeline.errors import SpecError
from ffpipe.pipeline.instance import StepInstance
from ffpipe.pipeline.paths import is_url


def unreadable_inputs(instances: Mapping[str, StepInstance]) -> list[SpecError]:
    """An error for each input file (once per place and file) that its op cannot read."""
    errors: list[SpecError] = []
    seen: set[tuple[str, str]] = set()
    for instance in instances.values():
        spec = OPS.get(instance.op)
        if spec is None:
            continue
        for name in spec.file_fields:
            value = instance.params.get(name)
            if not isinstance(value, str) or is_url(value) or not Path(value).is_file():
                continue
            problem = _problem(spec, name, sniff_file(Path(value)))
            location = instance.param_locations.get(name, instance.location)
            if problem is None or (str(location), value) in seen:
                continue
            seen.add((str(location), value))
            message = f"{Path(value).name} {problem}"
            errors.append(SpecError(location, f"steps.{instance.step}.with.{name}", message))
    return errors


def _problem(spec: OpSpec, name: str, media: MediaType | None) -> str | None:
    if media is None or media.kind not in ("image", "video"):
        return (
            "is neither an image nor a video: its first bytes match no format ffpipe reads "
            "(JPEG, PNG, WebP, BMP, TIFF, GIF; MP4, MOV, MKV, WebM, AVI, ...)"
        )
    if name != "target_media":
        return None
    if spec.needs_video and media.kind == "image":
        return f"is an image ({media.name}); {spec.name} needs a video"
    if not spec.takes_video and media.kind == "video":
        return f"is a video ({media.name}); {spec.name} works on images only"
    return None
