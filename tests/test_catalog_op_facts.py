"""The catalog owns the facts of each op: what it writes, whether it needs a video, its fn_index,
and how its output is named and checked; the engine contract applies them for both engines."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffpipe.catalog import ENDPOINT_ORDER, OPS, op_spec
from ffpipe.engine.api import EngineError, MediaError, UnsupportedError, check_target, output_file
from ffpipe.media import JPEG, PNG


def test_fn_indexes_number_the_ops_in_the_catalogs_order() -> None:
    assert sorted(spec.fn_index for spec in OPS.values()) == list(range(len(OPS)))
    # The catalog's own client.predict example calls swap with fn_index=0 and enhance with 1.
    assert ENDPOINT_ORDER[:3] == ("swap", "enhance", "edit")
    assert [OPS[name].fn_index for name in ENDPOINT_ORDER] == list(range(len(OPS)))


def test_which_ops_need_or_refuse_a_video() -> None:
    assert {name for name, spec in OPS.items() if spec.needs_video} == {"video", "extract_frames"}
    assert {name for name, spec in OPS.items() if not spec.takes_video} == {"detect"}


def test_default_output_names() -> None:
    assert op_spec("detect").default_output_name("astronaut.jpg") == "faces.json"
    assert op_spec("extract_frames").default_output_name("clip.mp4") == "clip_frames"
    # Named after the target, with the extension of what it holds when the engine looked.
    assert op_spec("swap").default_output_name("photo.jpg", PNG) == "photo.png"
    assert op_spec("enhance").default_output_name("blob", JPEG) == "blob.jpg"
    assert op_spec("edit").default_output_name("photo.jpg") == "photo.jpg"


def test_a_document_must_be_named_as_json() -> None:
    assert op_spec("detect").check_output_name("found.JSON") is None
    problem = op_spec("detect").check_output_name("found.png")
    assert problem is not None and "must end in .json" in problem
    assert op_spec("swap").check_output_name("found.png") is None


def test_the_contract_refuses_bad_names_and_overwriting_the_target(tmp_path: Path) -> None:
    target = tmp_path / "photo.jpg"
    assert output_file("swap", "out.png", target, tmp_path / "out") == tmp_path / "out" / "out.png"
    with pytest.raises(UnsupportedError, match=r"must end in \.json"):
        output_file("detect", "faces.png", target, tmp_path)
    with pytest.raises(EngineError, match="would overwrite the target"):
        output_file("enhance", "photo.jpg", target, tmp_path)


def test_the_contract_refuses_a_target_of_the_wrong_kind() -> None:
    check_target("swap", "clip.mp4", is_video=True)
    check_target("video", "clip.mp4", is_video=True)
    with pytest.raises(UnsupportedError, match="detect works on images"):
        check_target("detect", "clip.mp4", is_video=True)
    with pytest.raises(MediaError, match="is not a video"):
        check_target("extract_frames", "photo.jpg", is_video=False)
