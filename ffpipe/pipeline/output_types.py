"""An output's name must agree with what it will hold: ``result.png`` holds PNG bytes.

The runner copies an artifact under the output's name as it is, so a name whose extension says
another format than the artifact's is refused when the pipeline is validated. What a step writes
is known ahead where the file says it: its ``output_path``, or by default its target's name with
the extension of what the target holds (an input file is looked at; a step's output is followed
back). Where it is not known ahead (a URL, a glob, a template computing the name) the runner
checks the written file instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ffpipe.catalog import OPS
from ffpipe.media import JSON, MediaType, name_for, sniff_file, type_of_name
from ffpipe.pipeline.errors import SpecError
from ffpipe.pipeline.instance import Deferred, OutputSpec, StepInstance
from ffpipe.pipeline.paths import is_url

_STEP_OUTPUT = re.compile(r"^\s*\{\{\s*steps\.[\w-]+\.output\s*\}\}\s*$")


@dataclass(frozen=True)
class Written:
    """What a step writes, as far as validation can tell: a format, or just a kind."""

    how: str
    """Where it comes from, for the message: ``steps.swap writes astronaut.jpg``."""
    media: MediaType | None = None
    kind: str | None = None
    """``"video"`` where the exact container depends on the encoder (decided at run time)."""


def mismatched_outputs(
    instances: Mapping[str, StepInstance], outputs: Sequence[OutputSpec]
) -> list[SpecError]:
    """An error for every output whose name's extension disagrees with what it will hold."""
    errors = []
    for output in outputs:
        named = type_of_name(output.name)
        if named is None:
            continue  # no extension (the runner adds the artifact's) or one of no known format
        value = output.value
        if isinstance(value, str):
            written = _written_by_file(value, Path(value).name)
            step = None
        elif len(value.refs) == 1 and _STEP_OUTPUT.match(value.source):
            step_id = next(iter(value.refs))
            written = _written_by_step(step_id, instances, set())
            step = instances[step_id].step if step_id in instances else None
        else:
            continue
        if written is None or _agrees(named, written):
            continue
        path = value.path if isinstance(value, Deferred) else f"outputs.{output.name}"
        errors.append(SpecError(output.location, path, _message(output.name, named, written, step)))
    return errors


def _agrees(named: MediaType, written: Written) -> bool:
    if written.media is not None:
        return named == written.media
    return named.kind == written.kind


def _message(name: str, named: MediaType, written: Written, step: str | None) -> str:
    if written.media is not None:
        holds, rename = written.media.name, repr(name_for(name, written.media))
    else:
        holds, rename = f"a {written.kind}", f"for a {written.kind} (.mp4, .mov, .mkv, .webm)"
    fix = f"name the output {rename}"
    if step is not None:
        fix += f", or give steps.{step} output_path: {Path(name).name}"
    return f"output {name!r} is named as {named.name} but will hold {holds} ({written.how}); {fix}"


def _written_by_file(path: str, how: str) -> Written | None:
    if is_url(path):
        return None
    media = sniff_file(Path(path))
    return None if media is None else Written(how, media)


def _written_by_step(
    step_id: str, instances: Mapping[str, StepInstance], seen: set[str]
) -> Written | None:
    step = instances.get(step_id)
    spec = OPS.get(step.op) if step is not None else None
    if step is None or spec is None or step_id in seen or spec.writes == "frames":
        return None
    seen.add(step_id)
    output_path = step.params.get("output_path")
    if isinstance(output_path, str):
        media = type_of_name(output_path)
        return None if media is None else Written(f"steps.{step_id} writes {output_path}", media)
    if output_path is not None:
        return None  # a template needing another step's result
    if spec.writes == "json":
        # A document's default name does not depend on the target.
        return Written(f"steps.{step_id} writes {spec.default_output_name('')}", JSON)
    target = _target_written(step.params.get("target_media"), instances, seen)
    if target is None or (target.media is not None and target.media.kind == "data"):
        return None  # unknown, or no media at all: the step itself will say what is wrong
    how = f"steps.{step_id} keeps the format of its target, {target.how}"
    if spec.writes == "video" or "video" in (target.kind, target.media and target.media.kind):
        # The container follows the encoder as well (a .webm target and libx264 give .mp4).
        return Written(how, kind="video")
    return Written(how, target.media, target.kind)


def _target_written(
    target: object, instances: Mapping[str, StepInstance], seen: set[str]
) -> Written | None:
    if isinstance(target, str):
        return _written_by_file(target, Path(target).name)
    if isinstance(target, Deferred) and len(target.refs) == 1 and _STEP_OUTPUT.match(target.source):
        return _written_by_step(next(iter(target.refs)), instances, seen)
    return None
