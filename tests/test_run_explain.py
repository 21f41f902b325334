"""``explain``: what a run would do with each step, and why, without running anything."""

from __future__ import annotations

from pathlib import Path

from _pipeline_support import write_pipeline
from _run_support import CountingBackend, copy_photos

from ffpipe.backends.base import BackendIdentity
from ffpipe.cache.workspace import Workspace
from ffpipe.pipeline import load_pipeline
from ffpipe.run.planner import explain
from ffpipe.run.runner import RunOptions, run_pipeline

PORTRAIT = """
    version: 1
    name: portrait
    params:
      blend: {type: number, default: 0.8}
    inputs: {target: target.jpg}
    steps:
      enhance:
        uses: enhance
        with: {target_media: "{{ inputs.target }}", face_enhancer_blend: "{{ params.blend }}"}
      aged:
        uses: edit
        with: {target_media: "{{ steps.enhance.output }}", face_editor_age: 70}
      nocache:
        uses: edit
        cache: false
        with: {target_media: "{{ inputs.target }}"}
"""


def plan(
    folder: Path, version: str = "1.0", engine: str = "counting", **kwargs: object
) -> dict[str, str]:
    pipeline = load_pipeline(folder / "pipe.yaml", kwargs.pop("overrides", None))  # type: ignore[arg-type]
    identity = BackendIdentity(kind="test", engine=engine, engine_version=version)
    decisions = explain(pipeline, Workspace(folder / ".ffpipe"), identity, **kwargs)  # type: ignore[arg-type]
    return {node: str(decision) for node, decision in decisions.items()}


def setup(folder: Path) -> None:
    astronaut, _ = copy_photos(folder)
    astronaut.rename(folder / "target.jpg")
    write_pipeline(folder, PORTRAIT)
    pipeline = load_pipeline(folder / "pipe.yaml")
    run_pipeline(
        pipeline, Workspace(folder / ".ffpipe"), CountingBackend(), RunOptions(out_dir=folder / "o")
    )


def test_nothing_run_yet_says_no_cache_entry(tmp_path: Path) -> None:
    copy_photos(tmp_path)[0].rename(tmp_path / "target.jpg")
    write_pipeline(tmp_path, PORTRAIT)
    decisions = plan(tmp_path)
    assert decisions["enhance"] == "will run (no cache entry)"
    assert decisions["aged"] == "will run (upstream enhance will run: no cache entry)"
    assert decisions["nocache"] == "will run (cache: false)"


def test_after_a_run_everything_cacheable_is_cached(tmp_path: Path) -> None:
    setup(tmp_path)
    assert plan(tmp_path) == {
        "enhance": "cached",
        "aged": "cached",
        "nocache": "will run (cache: false)",
    }


def test_param_change_is_named_with_old_and_new_values(tmp_path: Path) -> None:
    setup(tmp_path)
    decisions = plan(tmp_path, overrides={"blend": "0.6"})
    assert decisions["enhance"] == "will run (face_enhancer_blend changed 0.8 -> 0.6)"
    # The real cause, not "input target_media changed": the step upstream and its parameter.
    assert decisions["aged"] == (
        "will run (upstream enhance will run: face_enhancer_blend changed 0.8 -> 0.6)"
    )


def test_input_change_names_the_file(tmp_path: Path) -> None:
    setup(tmp_path)
    target = tmp_path / "target.jpg"
    target.write_bytes(target.read_bytes() + b"\0")
    decisions = plan(tmp_path)
    assert decisions["enhance"] == "will run (input target_media (target.jpg) changed)"


def test_engine_version_change(tmp_path: Path) -> None:
    setup(tmp_path)
    decisions = plan(tmp_path, version="1.1")
    assert decisions["enhance"] == "will run (engine counting 1.0 -> 1.1)"


def test_engine_name_change_names_both_engines_with_their_versions(tmp_path: Path) -> None:
    setup(tmp_path)
    decisions = plan(tmp_path, version="3.8.1", engine="other")
    assert decisions["enhance"] == "will run (engine counting 1.0 -> other 3.8.1)"


def test_a_model_file_that_is_not_there_is_missing_not_added(tmp_path: Path) -> None:
    setup(tmp_path)
    pipeline = load_pipeline(tmp_path / "pipe.yaml")
    workspace = Workspace(tmp_path / ".ffpipe")

    def decide(digest: str) -> str:
        identity = BackendIdentity(
            kind="test",
            engine="counting",
            engine_version="1.0",
            step_models=lambda op, params: {"gfpgan_1.4": digest},
        )
        return str(explain(pipeline, workspace, identity)["enhance"])

    assert decide("absent") == "will run (model gfpgan_1.4 missing (its file is not there))"
    assert decide("1a2b3c4d") == "will run (model gfpgan_1.4 added)"


def test_an_upstream_step_is_named_once_before_all_its_reasons(tmp_path: Path) -> None:
    setup(tmp_path)
    pipeline = (tmp_path / "pipe.yaml").read_text()
    (tmp_path / "pipe.yaml").write_text(
        pipeline.replace(
            '"{{ params.blend }}"}',
            '"{{ params.blend }}", keep_temp: true, '
            "temp_frame_quality: 90, execution_queue_count: 2}",
        )
    )
    decisions = plan(tmp_path, overrides={"blend": "0.6"})
    aged = decisions["aged"]
    assert aged.count("upstream enhance") == 1
    assert aged.startswith("will run (upstream enhance will run: ")
    assert aged == (
        "will run (upstream enhance will run: face_enhancer_blend changed 0.8 -> 0.6, "
        "keep_temp changed false -> true, temp_frame_quality changed 100 -> 90)"
    )


def test_forced_steps(tmp_path: Path) -> None:
    setup(tmp_path)
    assert plan(tmp_path, force=("aged",))["aged"] == "will run (forced)"
    assert plan(tmp_path, force=("aged",))["enhance"] == "cached"
    assert set(plan(tmp_path, force_all=True).values()) == {"will run (forced)"}


def test_a_cached_upstream_with_other_output_is_named_as_the_cause(tmp_path: Path) -> None:
    # enhance at blend 0.6 is cached from a targeted run; aged last ran on the 0.8 output. Now
    # at 0.6 aged must run, and why is enhance's blend, not "input target_media changed".
    copy_photos(tmp_path)[0].rename(tmp_path / "target.jpg")
    write_pipeline(tmp_path, PORTRAIT)
    workspace = Workspace(tmp_path / ".ffpipe")
    backend = CountingBackend()
    at_06 = load_pipeline(tmp_path / "pipe.yaml", {"blend": "0.6"})
    targeted = RunOptions(out_dir=tmp_path / "o", targets=("enhance",))
    run_pipeline(at_06, workspace, backend, targeted)
    everything = RunOptions(out_dir=tmp_path / "o")
    run_pipeline(load_pipeline(tmp_path / "pipe.yaml"), workspace, backend, everything)
    decisions = plan(tmp_path, overrides={"blend": "0.6"})
    assert decisions["enhance"] == "cached"
    assert decisions["aged"] == (
        "will run (upstream enhance: face_enhancer_blend changed 0.8 -> 0.6)"
    )
    summary = run_pipeline(at_06, workspace, backend, everything)
    assert summary.steps["aged"].reasons == (
        "upstream enhance: face_enhancer_blend changed 0.8 -> 0.6",
    )


def test_model_reasons_say_present_and_replaced() -> None:
    from ffpipe.run.planner import _readable

    field_name = "model inswapper_128"
    absent, there, other = {field_name: "absent"}, {field_name: "aa11"}, {field_name: "bb22"}
    change = f"{field_name} changed"
    wrapped = [{"identity": ids} for ids in (absent, there, other)]
    assert _readable(change, wrapped[0], wrapped[1]) == f"{field_name} now present"
    assert _readable(change, wrapped[1], wrapped[2]) == f"{field_name} replaced"
    assert (
        _readable(change, wrapped[1], wrapped[0]) == f"{field_name} missing (its file is not there)"
    )
