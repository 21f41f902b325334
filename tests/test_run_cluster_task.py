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


def test_plan_names_the_cluster_from_the_settings_or_the_environment(
    tmp_path, capsys, monkeypatch
) -> None:
    """``[cluster] scheduler`` in ffpipe.toml, else FFPIPE_CLUSTER; the plan contacts neither
    (a test never sends traffic beyond loopback, so the addresses are 127.0.0.1 ones)."""
    from _pipeline_support import write_pipeline
    from _remote_support import in_folder_main
    from _run_support import copy_photos

    monkeypatch.delenv("FFPIPE_CLUSTER", raising=False)
    copy_photos(tmp_path)
    write_pipeline(
        tmp_path,
        """
        version: 1
        name: one
        steps:
          found: {uses: detect, with: {target_media: astronaut.jpg}}
          aged: {uses: edit, with: {target_media: astronaut.jpg, face_editor_age: 70}}
        """,
        "one.yaml",
    )
    (tmp_path / "ffpipe.toml").write_text('[cluster]\nscheduler = "tcp://127.0.0.1:8786"\n')
    assert in_folder_main(tmp_path, "plan", "one.yaml") == 0
    plan = capsys.readouterr().out
    assert "on cluster tcp://127.0.0.1:8786 (GPU=1)" in plan
    assert "on cluster tcp://127.0.0.1:8786 (any worker)" in plan

    monkeypatch.setenv("FFPIPE_CLUSTER", "tcp://127.0.0.1:8787")
    assert in_folder_main(tmp_path, "plan", "one.yaml") == 0
    assert "on cluster tcp://127.0.0.1:8787 (GPU=1)" in capsys.readouterr().out

    (tmp_path / "ffpipe.toml").write_text("")
    monkeypatch.delenv("FFPIPE_CLUSTER")
    assert in_folder_main(tmp_path, "plan", "one.yaml") == 0
    assert "on cluster" not in capsys.readouterr().out


ONE_STEP = """
version: 1
name: one
steps:
  aged: {uses: edit, with: {target_media: astronaut.jpg, face_editor_age: 70}}
"""


def test_the_cluster_is_the_projects_whatever_the_current_folder(tmp_path, capsys, monkeypatch):
    """The pipeline's project settings name the cluster (beside its remote, engine and server
    tables), not the settings of the folder the command runs in; --cluster and FFPIPE_CLUSTER
    come first."""
    from _pipeline_support import write_pipeline
    from _remote_support import in_folder_main
    from _run_support import copy_photos

    monkeypatch.delenv("FFPIPE_CLUSTER", raising=False)
    project = tmp_path / "proj"
    project.mkdir()
    copy_photos(project)
    write_pipeline(project, ONE_STEP, "one.yaml")
    (project / "ffpipe.toml").write_text(
        f'[cache]\nremote = "{(tmp_path / "remote").as_uri()}"\n\n'
        '[engine]\nname = "builtin"\n\n'
        "[server]\ntimeout = 30\n\n"
        '[cluster]\nscheduler = "tcp://127.0.0.1:8786"\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "ffpipe.toml").write_text('[cluster]\nscheduler = "tcp://127.0.0.1:8799"\n')

    assert in_folder_main(elsewhere, "plan", "../proj/one.yaml") == 0
    plan = capsys.readouterr().out
    assert "on cluster tcp://127.0.0.1:8786 (GPU=1)" in plan
    assert "8799" not in plan

    monkeypatch.setenv("FFPIPE_CLUSTER", "tcp://127.0.0.1:8787")
    assert in_folder_main(elsewhere, "plan", "../proj/one.yaml") == 0
    assert "on cluster tcp://127.0.0.1:8787 (GPU=1)" in capsys.readouterr().out
    args = ("plan", "../proj/one.yaml", "--cluster", "tcp://127.0.0.1:8788")
    assert in_folder_main(elsewhere, *args) == 0
    assert "on cluster tcp://127.0.0.1:8788 (GPU=1)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ("[cluster]\nscheduler = 8786\n", "cluster.scheduler"),
        ('[cluster]\nschedular = "tcp://127.0.0.1:8786"\n', "cluster.schedular"),
        ('cluster = "tcp://127.0.0.1:8786"\n', "'cluster' must be a table"),
    ],
)
def test_a_bad_cluster_table_is_one_message(tmp_path, capsys, monkeypatch, table, named) -> None:
    from _pipeline_support import write_pipeline
    from _remote_support import in_folder_main
    from _run_support import copy_photos

    monkeypatch.delenv("FFPIPE_CLUSTER", raising=False)
    copy_photos(tmp_path)
    write_pipeline(tmp_path, ONE_STEP, "one.yaml")
    (tmp_path / "ffpipe.toml").write_text(table)
    assert in_folder_main(tmp_path, "plan", "one.yaml") == 2
    err = capsys.readouterr().err
    assert "ffpipe.toml" in err
    assert named in err
