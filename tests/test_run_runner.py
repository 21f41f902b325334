"""The scheduler and cache decisions of ``ffpipe run``, on test doubles and on the real engine.

Most cases use the test-double backends of ``_run_support`` (trivial ops, counted calls, forced
failures); the cases that matter most also run once through the real LocalBackend on the photos.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from _pipeline_support import write_pipeline
from _run_support import BarrierBackend, CountingBackend, FlakyBackend, copy_photos

from ffpipe.backends.base import StepRequest, StepResult
from ffpipe.backends.local import LocalBackend
from ffpipe.cache.workspace import Workspace
from ffpipe.errors import UserError
from ffpipe.pipeline import load_pipeline
from ffpipe.run import events as ev
from ffpipe.run.outputs import OutputPathError
from ffpipe.run.runner import RunOptions, RunSummary, run_pipeline

CHAIN = """
    version: 1
    name: chain
    params:
      blend: {type: number, default: 0.8}
    inputs:
      a: astronaut.jpg
      b: grace.jpg
    steps:
      enhance_a:
        uses: enhance
        with:
          target_media: "{{ inputs.a }}"
          face_enhancer_blend: "{{ params.blend }}"
      edit_a:
        uses: edit
        with:
          target_media: "{{ steps.enhance_a.output }}"
          face_editor_age: 30
      enhance_b:
        uses: enhance
        with:
          target_media: "{{ inputs.b }}"
    outputs:
      a: "{{ steps.edit_a.output }}"
      b: "{{ steps.enhance_b.output }}"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy_photos(tmp_path)
    write_pipeline(tmp_path, CHAIN)
    return tmp_path


def run(
    folder: Path,
    backend: object,
    overrides: dict[str, str] | None = None,
    events: list[ev.Event] | None = None,
    **options: object,
) -> RunSummary:
    pipeline = load_pipeline(folder / "pipe.yaml", overrides)
    reporter = events.append if events is not None else None
    return run_pipeline(
        pipeline,
        Workspace(folder / ".ffpipe"),
        backend,  # type: ignore[arg-type]
        RunOptions(out_dir=folder / "out", **options),  # type: ignore[arg-type]
        reporter,
    )


def statuses(summary: RunSummary) -> dict[str, str]:
    return {node: outcome.status for node, outcome in summary.steps.items()}


def test_second_run_makes_no_backend_calls(project: Path) -> None:
    backend = CountingBackend()
    first = run(project, backend)
    assert first.status == "ok"
    assert backend.total == 3
    assert set(statuses(first).values()) == {"ran"}
    output_a = (project / "out" / "a.jpg").read_bytes()
    second = run(project, backend)
    assert backend.total == 3
    assert set(statuses(second).values()) == {"cached"}
    assert (project / "out" / "a.jpg").read_bytes() == output_a
    assert (project / "out" / "b.jpg").exists()


def test_param_change_reruns_only_that_step_and_downstream(project: Path) -> None:
    backend = CountingBackend()
    run(project, backend)
    events: list[ev.Event] = []
    summary = run(project, backend, {"blend": "0.6"}, events)
    assert statuses(summary) == {"enhance_a": "ran", "edit_a": "ran", "enhance_b": "cached"}
    started = {event.step: event.reasons for event in events if isinstance(event, ev.StepStart)}
    assert started["enhance_a"] == ("face_enhancer_blend changed 0.8 -> 0.6",)
    # The real cause upstream, not the symptom "input target_media (astronaut.jpg) changed".
    assert started["edit_a"] == (
        "upstream enhance_a will run: face_enhancer_blend changed 0.8 -> 0.6",
    )


def test_touching_an_input_reruns_nothing_but_new_bytes_rerun_dependents(project: Path) -> None:
    backend = CountingBackend()
    run(project, backend)
    grace = project / "grace.jpg"
    stat = grace.stat()
    os.utime(grace, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert set(statuses(run(project, backend)).values()) == {"cached"}
    assert backend.total == 3
    grace.write_bytes(grace.read_bytes() + b"\0")
    summary = run(project, backend)
    assert statuses(summary) == {"enhance_a": "cached", "edit_a": "cached", "enhance_b": "ran"}


def test_transient_failures_are_retried(project: Path) -> None:
    write_pipeline(
        project,
        """
        version: 1
        name: flaky
        inputs: {a: astronaut.jpg}
        steps:
          enhance:
            uses: enhance
            retry: {attempts: 3, backoff: 0.01}
            with: {target_media: "{{ inputs.a }}"}
        outputs: {a: "{{ steps.enhance.output }}"}
        """,
    )
    backend = FlakyBackend(failures=2)
    events: list[ev.Event] = []
    summary = run(project, backend, events=events)
    assert summary.status == "ok"
    assert backend.calls["transient"] == 2
    assert [e.attempt for e in events if isinstance(e, ev.StepRetry)] == [1, 2]


def test_transient_failures_beyond_the_policy_fail_the_step(project: Path) -> None:
    write_pipeline(
        project,
        """
        version: 1
        name: flaky
        inputs: {a: astronaut.jpg}
        steps:
          enhance:
            uses: enhance
            retry: {attempts: 2, backoff: 0.01}
            with: {target_media: "{{ inputs.a }}"}
        """,
    )
    summary = run(project, FlakyBackend(failures=5))
    assert summary.status == "failed"
    assert summary.steps["enhance"].error == "connection reset by peer"


def test_keep_going_skips_exactly_the_failed_steps_dependents(project: Path) -> None:
    backend = FlakyBackend(broken=("enhance:astronaut",))
    summary = run(project, backend, keep_going=True, jobs=1)
    assert statuses(summary) == {"enhance_a": "failed", "edit_a": "skipped", "enhance_b": "ran"}
    assert summary.steps["enhance_a"].error == "no face found in astronaut.jpg"
    assert summary.steps["edit_a"].reasons == ("upstream enhance_a failed",)
    assert summary.status == "failed"
    assert sorted(path.name for path in (project / "out").iterdir()) == ["b.jpg"]
    assert not (project / "pipe.lock").exists()


def test_without_keep_going_no_new_work_starts_after_a_failure(project: Path) -> None:
    backend = FlakyBackend(broken=("enhance:astronaut",))
    summary = run(project, backend, jobs=1)
    assert summary.steps["enhance_a"].status == "failed"
    assert summary.steps["enhance_b"].status == "not run"
    assert backend.total == 0


def test_outputs_cannot_escape_the_output_folder(project: Path) -> None:
    write_pipeline(
        project,
        """
        version: 1
        name: escape
        inputs: {a: astronaut.jpg}
        steps:
          enhance:
            uses: enhance
            with: {target_media: "{{ inputs.a }}"}
        outputs:
          ../../stolen: "{{ steps.enhance.output }}"
        """,
    )
    backend = CountingBackend()
    with pytest.raises(UserError, match="output folder"):
        run(project, backend)
    assert backend.total == 0
    assert not list(project.parent.glob("stolen*"))


def test_outputs_cannot_escape_through_a_symlinked_folder(project: Path) -> None:
    write_pipeline(
        project,
        """
        version: 1
        name: escape
        inputs: {a: astronaut.jpg}
        steps:
          enhance:
            uses: enhance
            with: {target_media: "{{ inputs.a }}"}
        outputs:
          link/stolen: "{{ steps.enhance.output }}"
        """,
    )
    outside = project / "outside"
    outside.mkdir()
    (project / "out").mkdir()
    (project / "out" / "link").symlink_to(outside)
    backend = CountingBackend()
    with pytest.raises(OutputPathError, match="outside"):
        run(project, backend)
    assert backend.total == 0
    assert list(outside.iterdir()) == []


def test_a_file_in_place_of_the_output_folder_is_a_user_error(project: Path) -> None:
    (project / "out").write_text("not a folder")
    with pytest.raises(OutputPathError, match=r"cannot write output 'a' to .*out/a\.jpg"):
        run(project, CountingBackend())
    assert (project / "out").read_text() == "not a folder"


class EditingBackend(CountingBackend):
    """Stands in for a person saving over an input while its step runs (no real race needed)."""

    def run(self, request: StepRequest) -> StepResult:
        result = super().run(request)
        target = Path(request.params["target_media"])
        if target.name == "astronaut.jpg":
            with target.open("ab") as file:
                file.write(b"edited")
        return result


def test_an_input_edited_while_its_step_runs_is_not_cached_under_the_old_key(
    project: Path,
) -> None:
    summary = run(project, EditingBackend(), keep_going=True)
    assert summary.steps["enhance_a"].status == "failed"
    assert "astronaut.jpg changed while the step ran" in str(summary.steps["enhance_a"].error)
    assert statuses(summary)["enhance_b"] == "ran"
    again = run(project, CountingBackend())
    assert statuses(again)["enhance_a"] == "ran"


def test_the_same_bytes_under_another_file_type_run_again(project: Path) -> None:
    # The builtin engine encodes its output in the format its target's name says.
    (project / "astronaut.png").write_bytes((project / "astronaut.jpg").read_bytes())
    backend = CountingBackend()
    assert statuses(run(project, backend))["enhance_a"] == "ran"
    pipe = project / "pipe.yaml"
    pipe.write_text(pipe.read_text().replace("a: astronaut.jpg", "a: astronaut.png"))
    renamed = run(project, backend)
    assert statuses(renamed)["enhance_a"] == "ran"
    assert renamed.steps["enhance_a"].reasons == (
        "input target_media (astronaut.png) file type changed .jpg -> .png",
    )


def test_parallelism_settings_do_not_redo_steps(project: Path) -> None:
    # The engine's own tests show the bytes do not depend on them.
    backend = CountingBackend()
    run(project, backend)
    pipe = project / "pipe.yaml"
    pipe.write_text(
        pipe.read_text().replace(
            "face_editor_age: 30", "face_editor_age: 30\n      execution_thread_count: 8"
        )
    )
    assert statuses(run(project, backend))["edit_a"] == "cached"


def test_a_deferred_value_that_fails_is_a_located_user_error(project: Path) -> None:
    pipe = project / "pipe.yaml"
    pipe.write_text(
        pipe.read_text().replace(
            "face_editor_age: 30", 'face_editor_age: "{{ steps.enhance_a.result.op / 0 }}"'
        )
    )
    summary = run(project, CountingBackend(), keep_going=True)
    assert statuses(summary) == {"enhance_a": "ran", "edit_a": "failed", "enhance_b": "ran"}
    assert "pipe.yaml:18:7: steps.edit_a.with.face_editor_age" in str(summary.steps["edit_a"].error)
    assert summary.user_error
    assert not run(project, FlakyBackend(broken=("enhance",)), force_all=True).user_error


def test_target_runs_the_step_and_its_ancestors_only(project: Path) -> None:
    backend = CountingBackend()
    summary = run(project, backend, targets=("edit_a",))
    assert statuses(summary) == {"enhance_a": "ran", "edit_a": "ran"}
    assert not (project / "pipe.lock").exists()


def test_force_and_force_all_bypass_the_cache(project: Path) -> None:
    backend = CountingBackend()
    run(project, backend)
    forced = run(project, backend, force=("enhance_b",))
    assert statuses(forced)["enhance_b"] == "ran"
    assert statuses(forced)["enhance_a"] == "cached"
    everything = run(project, backend, force_all=True)
    assert set(statuses(everything).values()) == {"ran"}
    assert backend.total == 3 + 1 + 3


def test_force_of_an_unknown_step_is_a_user_error_before_anything_runs(project: Path) -> None:
    backend = CountingBackend()
    with pytest.raises(UserError, match="--force enhance_c: no such step"):
        run(project, backend, force=("enhance_c",))
    assert backend.total == 0


def test_cache_false_always_runs(project: Path) -> None:
    write_pipeline(
        project,
        """
        version: 1
        name: uncached
        inputs: {a: astronaut.jpg}
        steps:
          enhance:
            uses: enhance
            cache: false
            with: {target_media: "{{ inputs.a }}"}
        """,
    )
    backend = CountingBackend()
    run(project, backend)
    events: list[ev.Event] = []
    run(project, backend, events=events)
    assert backend.total == 2
    assert [e.reasons for e in events if isinstance(e, ev.StepStart)] == [("cache: false",)]


def test_engine_version_change_reruns_with_a_reason(project: Path) -> None:
    run(project, CountingBackend(version="0.3"))
    events: list[ev.Event] = []
    run(project, CountingBackend(version="0.4"), events=events)
    reasons = {e.step: e.reasons for e in events if isinstance(e, ev.StepStart)}
    assert reasons["enhance_b"] == ("engine counting 0.3 -> 0.4",)


def test_independent_steps_run_concurrently_up_to_jobs(project: Path) -> None:
    write_pipeline(
        project,
        """
        version: 1
        name: pair
        inputs: {a: astronaut.jpg, b: grace.jpg}
        steps:
          left: {uses: enhance, with: {target_media: "{{ inputs.a }}"}}
          right: {uses: enhance, with: {target_media: "{{ inputs.b }}"}}
        """,
    )
    # Each call waits for the other inside the backend: only a concurrent run can succeed.
    summary = run(project, BarrierBackend(parties=2), jobs=2)
    assert set(statuses(summary).values()) == {"ran"}


def test_timeout_fails_a_slow_step(project: Path) -> None:
    write_pipeline(
        project,
        """
        version: 1
        name: slow
        inputs: {a: astronaut.jpg, b: grace.jpg}
        steps:
          left: {uses: enhance, timeout: 0.2, with: {target_media: "{{ inputs.a }}"}}
          right: {uses: enhance, with: {target_media: "{{ inputs.b }}"}}
        """,
    )
    # ``right`` never starts alongside ``left`` (jobs=1), so left's barrier wait outlasts its
    # time limit.
    summary = run(project, BarrierBackend(parties=2), jobs=1, keep_going=True)
    assert summary.steps["left"].status == "failed"
    assert summary.steps["left"].error == "timed out after 0.2s"


def test_run_record_and_events_file(project: Path) -> None:
    summary = run(project, CountingBackend())
    record = json.loads(summary.record.read_text())
    assert record["status"] == "ok"
    assert record["pipeline"] == "chain"
    assert record["pipeline_digest"] == load_pipeline(project / "pipe.yaml").digest
    step = record["steps"]["enhance_a"]
    assert step["cached"] is False and step["why"] == ["no cache entry"]
    assert step["key"].startswith("sha256:") and step["outputs"]["output"].startswith("sha256:")
    assert step["backend"]["engine"] == "counting"
    kinds = [json.loads(line)["event"] for line in (summary.record.parent / "events.jsonl").open()]
    assert kinds[0] == "run_start" and kinds[-1] == "run_done"
    assert kinds.count("step_done") == 3


def test_lock_file_is_written_beside_the_pipeline(project: Path) -> None:
    run(project, CountingBackend())
    lock = (project / "pipe.lock").read_text()
    assert "enhance_a:" in lock and "sha256:" in lock
    assert str(project) not in lock  # relative paths only: it is meant for git


@pytest.mark.slow
@pytest.mark.parametrize("change", ["none", "param", "input"])
def test_real_engine_cache_behaviour(tmp_path: Path, change: str) -> None:
    astronaut, _ = copy_photos(tmp_path)
    write_pipeline(
        tmp_path,
        """
        version: 1
        name: real
        params:
          score: {type: number, default: 0.5}
        inputs: {a: astronaut.jpg, b: grace.jpg}
        steps:
          find_a:
            uses: detect
            with: {target_media: "{{ inputs.a }}", face_detector_score: "{{ params.score }}"}
          find_b:
            uses: detect
            with: {target_media: "{{ inputs.b }}"}
        outputs:
          faces_a: "{{ steps.find_a.output }}"
        """,
    )
    backend = LocalBackend()
    first = run(tmp_path, backend)
    assert set(statuses(first).values()) == {"ran"}, first.steps
    faces = json.loads((tmp_path / "out" / "faces_a.json").read_text())
    assert faces
    overrides = None
    if change == "param":
        overrides = {"score": "0.6"}
    elif change == "input":
        astronaut.write_bytes(astronaut.read_bytes() + b"\0")  # after the end marker
        stat = astronaut.stat()
        os.utime(astronaut, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    second = run(tmp_path, backend, overrides)
    expected = {"find_a": "cached" if change == "none" else "ran", "find_b": "cached"}
    assert statuses(second) == expected


def test_conditions_on_results_skip_a_step_and_its_dependents(project: Path) -> None:
    write_pipeline(
        project,
        """
        version: 1
        name: conditional
        inputs: {a: astronaut.jpg}
        steps:
          first: {uses: enhance, with: {target_media: "{{ inputs.a }}"}}
          only_if_edit:
            uses: edit
            if: "{{ steps.first.result.op == 'edit' }}"
            with: {target_media: "{{ steps.first.output }}"}
          after: {uses: enhance, with: {target_media: "{{ steps.only_if_edit.output }}"}}
          always:
            uses: edit
            if: "{{ steps.first.result.op == 'enhance' }}"
            with: {target_media: "{{ steps.first.output }}"}
        """,
    )
    summary = run(project, CountingBackend())
    assert statuses(summary) == {
        "first": "ran",
        "only_if_edit": "skipped",
        "after": "skipped",
        "always": "ran",
    }
    assert summary.status == "ok"
    assert summary.steps["after"].reasons == ("upstream only_if_edit skipped",)
