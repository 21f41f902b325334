"""Fusing chains of per-frame steps on one video into one ``process`` pass.

Call counting uses the CountingBackend test double of ``_run_support`` (a real Backend with a
trivial op, so the test can see how many calls were made); the pixels of a fused run are checked
once against an unfused run on the real LocalBackend, on a small video made from a sample photo.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from _pipeline_support import write_pipeline
from _run_support import CountingBackend, FlakyBackend, copy_photos
from _video_support import decoded_frames, make_video

from ffpipe.backends.base import Backend
from ffpipe.cache.workspace import Workspace
from ffpipe.catalog.ops import MAX_PROCESSORS
from ffpipe.cli import main
from ffpipe.graph import build_graph
from ffpipe.media import is_video
from ffpipe.pipeline import load_pipeline
from ffpipe.run.fusion import find_fusion, merge_params
from ffpipe.run.planner import explain
from ffpipe.run.runner import RunOptions, RunSummary, run_pipeline

CHAIN = """
    version: 1
    name: chain
    params:
      blend: {{type: number, default: 0.8}}
      blur: {{type: number, default: 0.3}}
    inputs:
      source: grace.jpg
      target: {target}
    defaults:
      face_mask_blur: 0.3
    steps:
      swap:
        uses: swap
        with:
          source_face: "{{{{ inputs.source }}}}"
          target_media: "{{{{ inputs.target }}}}"
      enhance:
        uses: enhance
        with:
          target_media: "{{{{ steps.swap.output }}}}"
          face_enhancer_blend: "{{{{ params.blend }}}}"
          face_mask_blur: "{{{{ params.blur }}}}"
      look:
        uses: detect
        with:
          target_media: grace.jpg
    outputs:
      result.mp4: "{{{{ steps.enhance.output }}}}"
"""

PHOTO_CHAIN = CHAIN.replace("result.mp4:", "result.jpg:")
"""The chain on a photo: its output named for what it holds (result.mp4 would be refused)."""


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A half-second 320x240 pan over the astronaut photo (12 frames)."""
    return make_video(tmp_path_factory.mktemp("video") / "clip.mp4", seconds=0.5, tone_hz=None)


@pytest.fixture
def folder(tmp_path: Path, clip: Path) -> Path:
    copy_photos(tmp_path)
    shutil.copyfile(clip, tmp_path / "clip.mp4")
    return tmp_path


def chain_file(folder: Path, target: str = "clip.mp4", text: str = CHAIN) -> Path:
    return write_pipeline(folder, text.format(target=target))


def run(path: Path, folder: Path, backend: Backend, **options: Any) -> RunSummary:
    """Run the pipeline at ``path`` with its workspace and outputs under ``folder``."""
    pipeline = load_pipeline(path, options.pop("params", {}))
    with Workspace(folder / "ws") as workspace:
        return run_pipeline(
            pipeline, workspace, backend, RunOptions(out_dir=folder / "out", **options)
        )


def test_a_swap_enhance_chain_on_a_video_is_one_group(folder: Path) -> None:
    pipeline = load_pipeline(chain_file(folder))
    fusion = find_fusion(pipeline, build_graph(pipeline))
    assert [group.members for group in fusion.groups] == [("swap", "enhance")]
    assert fusion.groups[0].ops == ("swap", "enhance")
    assert fusion.refused == {}
    assert is_video(str(folder / "clip.mp4"))
    assert not is_video(str(folder / "astronaut.jpg"))


MATRIX_CHAIN = """
    version: 1
    name: three
    matrix:
      clip: [clip.mp4, copy.mp4]
    inputs:
      source: grace.jpg
    steps:
      swap:
        uses: swap
        with:
          source_face: "{{ inputs.source }}"
          target_media: "{{ matrix.clip }}"
      enhance:
        uses: enhance
        with:
          target_media: "{{ steps.swap.output }}"
      older:
        uses: edit
        with:
          target_media: "{{ steps.enhance.output }}"
          face_editor_age: 70
    outputs:
      "{{ matrix.clip }}": "{{ steps.older.output }}"
"""


def test_each_matrix_instance_fuses_its_own_three_step_chain(folder: Path) -> None:
    shutil.copyfile(folder / "clip.mp4", folder / "copy.mp4")
    path = write_pipeline(folder, MATRIX_CHAIN)
    pipeline = load_pipeline(path)
    fusion = find_fusion(pipeline, build_graph(pipeline))
    assert [group.ops for group in fusion.groups] == [("swap", "enhance", "edit")] * 2
    backend = CountingBackend()
    summary = run(path, folder, backend)
    assert dict(backend.calls) == {"process:clip.mp4": 1, "process:copy.mp4": 1}
    first = summary.steps["older[clip=clip.mp4]"]
    assert first.params["processors"] == ["swap", "enhance", "edit"]
    assert first.params["face_editor_age"] == 70
    assert summary.steps["enhance[clip=copy.mp4]"].fused_into == (
        "swap[clip=copy.mp4]+enhance[clip=copy.mp4]+older[clip=copy.mp4]"
    )
    assert sorted(summary.outputs) == ["clip.mp4", "copy.mp4"]


def test_the_group_runs_as_one_process_call_and_every_member_is_recorded(folder: Path) -> None:
    backend = CountingBackend()
    summary = run(chain_file(folder), folder, backend)
    assert summary.status == "ok"
    assert dict(backend.calls) == {"process:clip.mp4": 1, "detect:grace.jpg": 1}
    swap, enhance = summary.steps["swap"], summary.steps["enhance"]
    assert swap.fused_into == "swap+enhance" and swap.outputs == {}
    assert enhance.fused_into is None and set(enhance.outputs) == {"output"}
    assert swap.key == enhance.key
    assert enhance.params["processors"] == ["swap", "enhance"]
    record = json.loads(summary.record.read_text())
    assert record["steps"]["swap"]["fused_into"] == "swap+enhance"
    assert record["steps"]["enhance"]["fused"] == ["swap", "enhance"]
    assert "fused into swap+enhance" in record["steps"]["swap"]["why"]
    assert (folder / "out" / "result.mp4").exists()
    lock = yaml.safe_load((folder / "pipe.lock").read_text())
    assert lock["steps"]["enhance"]["fused"] == ["swap", "enhance"]
    assert "swap" not in lock["steps"]


def test_explain_gives_every_member_the_groups_decision(folder: Path) -> None:
    backend = CountingBackend()
    path = chain_file(folder)
    run(path, folder, backend)
    pipeline = load_pipeline(path, {"blend": 0.5})
    graph = build_graph(pipeline)
    with Workspace(folder / "ws") as workspace:
        decisions = explain(
            pipeline, workspace, backend.identity(), fusion=find_fusion(pipeline, graph)
        )
    assert decisions["look"].status == "cached"
    swap, enhance = decisions["swap"], decisions["enhance"]
    assert swap.group == enhance.group == "swap+enhance"
    assert swap.key == enhance.key
    assert enhance.reasons == ("face_enhancer_blend changed 0.8 -> 0.5",)
    assert swap.reasons == ("fused into swap+enhance", "face_enhancer_blend changed 0.8 -> 0.5")


def test_changing_one_member_reruns_the_group_and_nothing_else(folder: Path) -> None:
    backend = CountingBackend()
    path = chain_file(folder)
    run(path, folder, backend)
    assert run(path, folder, backend).count("cached") == 3
    assert backend.total == 2
    summary = run(path, folder, backend, params={"blend": 0.5})
    assert backend.calls["process:clip.mp4"] == 2
    assert backend.calls["detect:grace.jpg"] == 1
    assert summary.steps["look"].status == "cached"
    assert "face_enhancer_blend changed 0.8 -> 0.5" in summary.steps["enhance"].reasons


def test_a_failed_group_fails_every_member(folder: Path) -> None:
    summary = run(chain_file(folder), folder, FlakyBackend(broken=("process",)), keep_going=True)
    assert summary.status == "failed"
    assert summary.steps["swap"].status == summary.steps["enhance"].status == "failed"
    assert summary.steps["swap"].error == "no face found in clip.mp4"
    assert summary.steps["look"].status == "ran"
    assert summary.outputs == {}


def test_no_fuse_runs_each_step(folder: Path) -> None:
    backend = CountingBackend()
    summary = run(chain_file(folder), folder, backend, fuse=False)
    assert backend.calls["swap:clip.mp4"] == 1 and backend.calls["enhance:clip.mp4"] == 1
    assert summary.steps["swap"].fused_into is None


def test_image_targets_never_fuse(folder: Path) -> None:
    backend = CountingBackend()
    summary = run(chain_file(folder, "astronaut.jpg", PHOTO_CHAIN), folder, backend)
    assert backend.calls["swap:astronaut.jpg"] == 1
    assert backend.calls["enhance:astronaut.jpg"] == 1
    assert backend.calls["process:astronaut.jpg"] == 0
    assert summary.steps["enhance"].group == ()


def test_a_video_disguised_by_its_name_is_recognised_by_content(folder: Path) -> None:
    shutil.copyfile(folder / "clip.mp4", folder / "clip.bin")
    assert is_video(str(folder / "clip.bin"))
    (folder / "notes.mp4").write_text("not a video")
    assert not is_video(str(folder / "notes.mp4"))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"blur": 0.5}, "face_mask_blur differs"),
        (
            {"extra": "          trim_frame_end: 10\n"},
            "trim_frame_end is set on enhance; only the first step may trim or resample",
        ),
        ({"extra": "          face_detector_score: 0.7\n"}, "face_detector_score differs"),
    ],
)
def test_mismatched_shared_params_do_not_fuse(
    folder: Path, change: dict[str, Any], reason: str
) -> None:
    text = CHAIN
    if "extra" in change:
        anchor = '          face_mask_blur: "{{{{ params.blur }}}}"\n'
        text = text.replace(anchor, anchor + str(change["extra"]))
    params = {k: v for k, v in change.items() if k != "extra"}
    pipeline = load_pipeline(chain_file(folder, text=text), params)
    fusion = find_fusion(pipeline, build_graph(pipeline))
    assert fusion.groups == ()
    assert fusion.refused == {"enhance": reason}


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (("      enhance:\n", "      enhance:\n        if: false\n"), "enhance has if:"),
        (
            ("      enhance:\n", "      enhance:\n        cache: false\n"),
            "enhance has cache: false",
        ),
        (("      swap:\n", "      swap:\n        async: true\n"), "swap is async"),
        (
            (
                '  result.mp4: "{{{{ steps.enhance.output }}}}"\n',
                '  result.mp4: "{{{{ steps.enhance.output }}}}"\n'
                '      swapped.mp4: "{{{{ steps.swap.output }}}}"\n',
            ),
            "swap is a pipeline output (swapped.mp4)",
        ),
    ],
)
def test_members_that_cannot_fuse_say_why(folder: Path, edit: tuple[str, str], reason: str) -> None:
    pipeline = load_pipeline(chain_file(folder, text=CHAIN.replace(*edit)))
    fusion = find_fusion(pipeline, build_graph(pipeline))
    assert fusion.groups == ()
    assert fusion.refused == {"enhance": reason}


def test_a_step_reading_the_intermediate_output_prevents_fusion(folder: Path) -> None:
    text = CHAIN.replace(
        "      look:\n        uses: detect\n        with:\n          target_media: grace.jpg\n",
        "      look:\n        uses: detect\n        with:\n"
        '          target_media: "{{{{ steps.swap.output }}}}"\n',
    )
    pipeline = load_pipeline(chain_file(folder, text=text))
    assert find_fusion(pipeline, build_graph(pipeline)).refused == {
        "enhance": "swap is also used by look"
    }


def test_merged_params_take_each_ops_own_groups_and_the_last_output_path() -> None:
    shared = {"target_media": "in.mp4", "face_mask_blur": 0.2, "trim_frame_end": 9}
    merged = merge_params(
        ["swap", "enhance", "edit"],
        [
            {**shared, "source_face": "me.jpg", "face_swapper_model": "simswap_256"},
            {**shared, "trim_frame_end": None, "face_enhancer_blend": 0.4, "output_path": "a"},
            {**shared, "trim_frame_end": None, "face_editor_age": 30, "output_path": "b.mp4"},
        ],
    )
    assert merged["processors"] == ["swap", "enhance", "edit"]
    assert merged["target_media"] == "in.mp4" and merged["trim_frame_end"] == 9
    assert merged["source_face"] == "me.jpg" and merged["face_swapper_model"] == "simswap_256"
    assert merged["face_enhancer_blend"] == 0.4 and merged["face_editor_age"] == 30
    assert merged["output_path"] == "b.mp4"


def test_plan_shows_the_group_or_why_not(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FFPIPE_WORKSPACE", str(folder / "ws"))
    path = chain_file(folder)
    assert main(["plan", str(path)]) == 0
    text = capsys.readouterr().out
    assert "fused: swap + enhance (one decode, one encode)" in text
    assert "fused into swap+enhance" in text
    assert main(["plan", str(path), "--no-fuse"]) == 0
    assert "fused" not in capsys.readouterr().out
    assert main(["plan", str(path), "-p", "blur=0.6"]) == 0
    assert "not fused: face_mask_blur differs" in capsys.readouterr().out
    assert main(["plan", str(chain_file(folder, "astronaut.jpg", PHOTO_CHAIN))]) == 0
    assert "not fused: the target is not a video" in capsys.readouterr().out


def test_plan_with_a_workspace_predicts_the_fused_run(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = chain_file(folder)
    monkeypatch.setenv("FFPIPE_WORKSPACE", str(folder / "ws"))
    (folder / "ws").mkdir()
    assert main(["plan", str(path), "--json"]) == 0
    stages = json.loads(capsys.readouterr().out)
    swap, enhance = stages[0][0], stages[1][0]
    assert swap["status"] == "will run (fused into swap+enhance; no cache entry)"
    assert "fused: swap + enhance (one decode, one encode)" in swap["notes"]
    own_notes = [note for note in enhance["notes"] if not note.startswith("stand-ins: ")]
    assert own_notes == ["fused into swap+enhance"]


@pytest.mark.slow
def test_fused_and_unfused_runs_on_the_local_engine_agree(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FFPIPE_SERVER", raising=False)  # the local backend, in-process
    path, workspace = str(chain_file(folder)), str(folder / "ws")

    def started(*extra: str) -> list[tuple[str, str]]:
        capsys.readouterr()
        assert main(["run", path, "--workspace", workspace, "--json", *extra]) == 0
        events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        return sorted((e["step"], e["op"]) for e in events if e["event"] == "step_start")

    fused_run = started("--out", str(folder / "fused"))
    assert fused_run == [("look", "detect"), ("swap+enhance", "process")]
    unfused_run = started("--out", str(folder / "unfused"), "--no-fuse")
    assert unfused_run == [("enhance", "enhance"), ("swap", "swap")]
    one = decoded_frames(folder / "fused" / "chain" / "result.mp4")
    two = decoded_frames(folder / "unfused" / "chain" / "result.mp4")
    source = decoded_frames(folder / "clip.mp4")
    assert len(one) == len(two) == len(source)
    assert one[0].shape == two[0].shape == source[0].shape
    difference = np.abs(np.stack(one).astype(float) - np.stack(two).astype(float)).mean()
    changed = np.abs(np.stack(one).astype(float) - np.stack(source).astype(float)).mean()
    assert difference < 2.0
    assert changed > difference  # the steps changed the faces more than encoding twice did


def test_a_chain_longer_than_a_process_pass_allows_is_split(folder: Path) -> None:
    steps = ["    e0:\n      uses: enhance\n      with: {target_media: clip.mp4}\n"]
    steps += [
        f"    e{index}:\n      uses: enhance\n"
        f'      with: {{target_media: "{{{{ steps.e{index - 1}.output }}}}"}}\n'
        for index in range(1, 11)
    ]
    path = folder / "long.yaml"
    path.write_text("version: 1\nname: long\nsteps:\n" + "".join(steps))
    pipeline = load_pipeline(path)
    fusion = find_fusion(pipeline, build_graph(pipeline))
    assert [len(group.members) for group in fusion.groups] == [MAX_PROCESSORS, 3]
    assert "at most" in fusion.refused[f"e{MAX_PROCESSORS}"]
