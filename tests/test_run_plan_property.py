"""``plan`` says exactly what ``run`` does: a property test over random pipelines and histories.

Random small pipelines (chains, diamonds, fused video chains, ``if:`` steps, matrix fan-out),
a random prior cache state (earlier runs under other params, deleted entries, deleted objects)
and a random edit (a param, an input file's bytes, the engine version, a forced step): for every
instance, the planner's prediction (``explain``, nothing runs) equals what ``run_pipeline`` then
does, status and reasons alike.

Steps run on ``ContentBackend``, a test double whose output is its target's bytes plus a digest
of its params and of every file it reads, so a new key makes new bytes, as a real engine does;
the test stays fast.

Out of the generator, because no plan can know them before running: an ``if:`` that reads the
result of a step that will run, and an upstream entry deleted while a downstream entry made from
the same bytes survives (the plan says "will run", the run then finds the downstream cached).
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from _run_support import CountingBackend, copy_photos
from _video_support import make_video
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ffpipe.backends.base import StepRequest, StepResult
from ffpipe.cache.workspace import Workspace
from ffpipe.graph import build_graph
from ffpipe.pipeline import load_pipeline
from ffpipe.run.fusion import find_fusion
from ffpipe.run.planner import explain
from ffpipe.run.runner import RunOptions, run_pipeline

IMAGES = ("astronaut", "grace")
FIELDS = {"enhance": "face_enhancer_blend", "edit": "face_editor_age", "swap": "face_mask_blur"}
"""The parameter each op's generated value sets."""


class ContentBackend(CountingBackend):
    """Test double: like CountingBackend, but the output also depends on the bytes of every
    file parameter (a swap's source face), as a real engine's does."""

    def run(self, request: StepRequest) -> StepResult:
        files = {
            name: hashlib.sha256(Path(value).read_bytes()).hexdigest()
            for name, value in sorted(request.params.items())
            if name != "target_media" and isinstance(value, str) and Path(value).is_file()
        }
        done = super().run(request)
        output = done.files["output"]
        output.write_bytes(output.read_bytes() + json.dumps(files).encode())
        return done


@dataclass(frozen=True)
class Step:
    """One generated step: its op, what it reads and how it is shaped."""

    name: str
    op: str
    target: str
    """``inputs.X`` or ``steps.sN``."""
    source: str | None = None
    """For swap: the face to use, ``inputs.X`` or ``steps.sN`` (an image)."""
    condition: bool = False
    """Gated by ``if: {{ params.on_N }}``."""
    matrix: bool = False
    """Fanned out over ``matrix.age``."""


@dataclass(frozen=True)
class Scenario:
    steps: tuple[Step, ...]
    params: dict[str, object]
    prior: tuple[dict[str, object], ...]
    """Params of the runs made before the one under test."""
    drop_entries: tuple[str, ...]
    """Steps whose entries (with every step after them) are deleted after the prior runs."""
    drop_objects: tuple[str, ...]
    """Steps whose output objects are deleted (the entry stays: "cached outputs are missing")."""
    touch_input: str | None
    engine: str
    force: tuple[str, ...]


def _value_param(step: Step) -> str:
    return f"v_{step.name}"


def _domain(op: str) -> list[object]:
    return [0.2, 0.5, 0.8] if op == "enhance" else [20, 50, 80]


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short, small clip, so fused chains have a real video to probe."""
    folder = tmp_path_factory.mktemp("video")
    return make_video(folder / "clip.mp4", width=64, height=48, seconds=0.25, tone_hz=None)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    count = draw(st.integers(2, 5))
    steps: list[Step] = []
    on_video: set[str] = set()
    leaves_only: set[str] = set()  # matrix steps: nothing reads them
    for index in range(count):
        name = f"s{index}"
        readable = [s.name for s in steps if s.name not in leaves_only]
        kind = draw(
            st.sampled_from(
                ["input", "video", "chain", "chain"] if readable else ["input", "video"]
            )
        )
        if kind == "input":
            target = f"inputs.{draw(st.sampled_from(IMAGES))}"
        elif kind == "video":
            target = "inputs.clip"
        else:
            target = f"steps.{draw(st.sampled_from(readable))}"
        video = target == "inputs.clip" or target.removeprefix("steps.") in on_video
        op = draw(st.sampled_from(["enhance", "edit", "swap"]))
        source = None
        if op == "swap":
            images = [s for s in readable if s not in on_video and f"steps.{s}" != target]
            options = [f"inputs.{image}" for image in IMAGES] + [f"steps.{s}" for s in images]
            source = draw(st.sampled_from(options))  # a step here makes a diamond
        matrix = op == "edit" and not video and draw(st.booleans())
        condition = draw(st.booleans()) if not matrix else False
        step = Step(name, op, target, source, condition, matrix)
        steps.append(step)
        if video:
            on_video.add(name)
        if matrix:
            leaves_only.add(name)

    def assignment() -> dict[str, object]:
        values: dict[str, object] = {}
        for step in steps:
            if not step.matrix:
                values[_value_param(step)] = draw(st.sampled_from(_domain(step.op)))
            if step.condition:
                values[f"on_{step.name}"] = draw(st.booleans())
        return values

    prior = tuple(assignment() for _ in range(draw(st.integers(0, 2))))
    params = assignment() if draw(st.booleans()) or not prior else dict(prior[-1])
    names = [step.name for step in steps]
    return Scenario(
        steps=tuple(steps),
        params=params,
        prior=prior,
        drop_entries=tuple(draw(st.lists(st.sampled_from(names), max_size=1))),
        drop_objects=tuple(draw(st.lists(st.sampled_from(names), max_size=2, unique=True))),
        touch_input=draw(st.sampled_from([None, None, *IMAGES])),
        engine=draw(st.sampled_from(["1.0", "1.0", "1.1"])),
        force=tuple(draw(st.lists(st.sampled_from(names), max_size=1))),
    )


def pipeline_text(scenario: Scenario) -> str:
    lines = [
        "version: 1",
        "name: random",
        "params:",
    ]
    for step in scenario.steps:
        if not step.matrix:
            kind = "number" if step.op == "enhance" else "integer"
            default = _domain(step.op)[0]
            lines.append(f"  {_value_param(step)}: {{type: {kind}, default: {default}}}")
        if step.condition:
            lines.append(f"  on_{step.name}: {{type: boolean, default: true}}")
    if lines[-1] == "params:":
        lines[-1] = "params: {}"
    lines.append("inputs: {astronaut: astronaut.jpg, grace: grace.jpg, clip: clip.mp4}")
    if any(step.matrix for step in scenario.steps):
        lines.append("matrix: {age: [30, 70]}")
    lines.append("steps:")
    for step in scenario.steps:
        lines.append(f"  {step.name}:")
        lines.append(f"    uses: {step.op}")
        if step.condition:
            lines.append(f'    if: "{{{{ params.on_{step.name} }}}}"')
        lines.append("    with:")
        lines.append(f'      target_media: "{{{{ {_ref(step.target)} }}}}"')
        if step.source is not None:
            lines.append(f'      source_face: "{{{{ {_ref(step.source)} }}}}"')
        value = "matrix.age" if step.matrix else f"params.{_value_param(step)}"
        if step.op == "swap":  # swap's own setting: a blur from 0.2 to 0.8
            value = f"params.{_value_param(step)} / 100"
        lines.append(f'      {FIELDS[step.op]}: "{{{{ {value} }}}}"')
    return "\n".join(lines) + "\n"


def _ref(value: str) -> str:
    return f"{value}.output" if value.startswith("steps.") else value


def _overrides(values: dict[str, object]) -> dict[str, str]:
    return {
        name: str(value).lower() if isinstance(value, bool) else str(value)
        for name, value in values.items()
    }


def _run(path: Path, root: Path, backend: ContentBackend, values: dict[str, object]) -> None:
    with Workspace(root / ".ffpipe") as workspace:
        run_pipeline(
            load_pipeline(path, _overrides(values)),
            workspace,
            backend,
            RunOptions(out_dir=root / "out", write_lock=False, keep_going=True),
        )


def _drop(root: Path, scenario: Scenario) -> None:
    """Delete entries (with everything after them) and objects, as gc or a user might."""
    doomed = set(scenario.drop_entries)
    for step in scenario.steps:  # in file order, so a step's readers come after it
        reads = {step.target.removeprefix("steps."), (step.source or "").removeprefix("steps.")}
        if reads & doomed:
            doomed.add(step.name)
    with Workspace(root / ".ffpipe") as workspace:
        entries = list(workspace.steps.entries())
        for entry in entries:
            step = entry.instance_id.split("[", 1)[0]
            members = set(step.split("+"))
            if members & doomed:
                workspace.steps.delete(entry.key)
            elif members & set(scenario.drop_objects):
                for digest in entry.outputs.values():
                    path = workspace.objects.path(digest)
                    if path.is_file():
                        path.unlink()
                    elif path.is_dir():
                        shutil.rmtree(path)


@pytest.mark.slow
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios())
def test_plan_predicts_the_run(
    scenario: Scenario, tmp_path_factory: pytest.TempPathFactory, video: Path
) -> None:
    root = tmp_path_factory.mktemp("random")
    copy_photos(root)
    shutil.copyfile(video, root / "clip.mp4")
    path = root / "pipe.yaml"
    path.write_text(pipeline_text(scenario))
    backend = ContentBackend(version="1.0")
    for values in scenario.prior:
        _run(path, root, backend, values)
    _drop(root, scenario)
    if scenario.touch_input is not None:
        photo = root / f"{scenario.touch_input}.jpg"
        photo.write_bytes(photo.read_bytes() + random.randbytes(8))
    backend = ContentBackend(version=scenario.engine)
    pipeline = load_pipeline(path, _overrides(scenario.params))
    graph = build_graph(pipeline)
    with Workspace(root / ".ffpipe") as workspace:
        decisions = explain(
            pipeline,
            workspace,
            backend.identity(),
            fusion=find_fusion(pipeline, graph),
            force=scenario.force,
        )
    with Workspace(root / ".ffpipe") as workspace:
        summary = run_pipeline(
            pipeline,
            workspace,
            backend,
            RunOptions(
                out_dir=root / "out", force=scenario.force, write_lock=False, keep_going=True
            ),
        )
    said = {node: (d.status.replace("will run", "ran"), d.reasons) for node, d in decisions.items()}
    did = {node: (o.status, o.reasons) for node, o in summary.steps.items()}
    assert summary.status == "ok", {n: o.error for n, o in summary.steps.items() if o.error}
    assert did == said, textwrap.indent(path.read_text(), "  ")
