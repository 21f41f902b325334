"""What a cluster worker accepts and what the client takes back: checked at both ends, no code."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ffpipe.catalog import OPS
from ffpipe.run.cluster import describe_resources, resources_of
from ffpipe.run.cluster_task import StepDone, StepTask

DIGEST = "sha256:" + "ab" * 32
MODEL = "face_enhancer_model"


def task(**changes: object) -> dict:
    document = {
        "op": "enhance",
        "params": {"face_enhancer_blend": 0.6},
        "inputs": {"target_media": DIGEST},
        "names": {"target_media": "portrait.jpg"},
        "key": DIGEST,
        "key_document": {},
        "identity": {"engine": "builtin", "engine_version": "1"},
        "pipeline": "p",
        "instance_id": "enhance",
        "remote": "file:///tmp/remote",
    }
    return {**document, **changes}


def test_a_step_of_the_catalog_is_taken() -> None:
    checked = StepTask.model_validate(task())
    assert checked.inputs == {"target_media": DIGEST}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"op": "shell"}, "unknown op"),
        ({"params": {"face_enhancer_blend": 7}}, "face_enhancer_blend"),
        ({"params": {"no_such_parameter": 1}}, "no_such_parameter"),
        ({"inputs": {MODEL: DIGEST}, "names": {MODEL: "a"}}, "not file parameters"),
        ({"names": {"target_media": "../../etc/passwd"}}, "plain file name"),
        ({"inputs": {"target_media": "sha256:not-hex"}}, "target_media"),
        ({"names": {}}, "file name"),
    ],
    ids=["op", "range", "unknown-param", "not-a-file-field", "path", "digest", "no-name"],
)
def test_anything_else_is_refused(changes: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        StepTask.model_validate(task(**changes))


def test_a_result_without_its_primary_output_is_refused() -> None:
    with pytest.raises(ValidationError, match="no primary output"):
        StepDone.model_validate({"outputs": {"frames": DIGEST}, "result": {}, "worker": "w"})
    with pytest.raises(ValidationError):
        StepDone.model_validate({"outputs": {"output": "/etc/passwd"}, "result": {}, "worker": "w"})


def test_face_model_ops_ask_for_a_gpu_and_the_others_for_nothing() -> None:
    needs = {op: describe_resources(resources_of(op)) for op in OPS}
    assert needs == {
        "detect": "any worker",
        "swap": "GPU=1",
        "enhance": "GPU=1",
        "edit": "GPU=1",
        "video": "any worker",
        "extract_frames": "any worker",
        "process": "GPU=1",
    }
