"""The project root: every command finds the workspace, ``out/``, lock paths, remote cache, engine
and readable files from the pipeline's project, whatever the current folder (ffpipe/project.py,
ffpipe/cli/context.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _facefusion_support import FaceFusionInstall, session_facefusion
from _pipeline_support import write_pipeline
from _remote_support import in_folder_main
from _run_support import copy_photos

from ffpipe.project import find_project, project_of

ONE_STEP = """
    version: 1
    name: {name}
    inputs: {{target: {target}}}
    steps:
      enhance:
        uses: enhance
        with: {{target_media: "{{{{ inputs.target }}}}", face_enhancer_blend: 0.5}}
    outputs:
      enhanced.jpg: "{{{{ steps.enhance.output }}}}"
"""


def one_step(name: str, target: str = "astronaut.jpg") -> str:
    return ONE_STEP.format(name=name, target=target)


def make_project(root: Path, settings: str | None = "", name: str = "proj") -> Path:
    """``root/pipelines/<name>.yaml`` with the photos beside it; ``ffpipe.toml`` when given."""
    folder = root / "pipelines"
    folder.mkdir(parents=True)
    copy_photos(folder)
    if settings is not None:
        (root / "ffpipe.toml").write_text(settings)
    return write_pipeline(folder, one_step(name), f"{name}.yaml")


def test_the_project_root_is_the_nearest_folder_with_settings(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "ffpipe.toml").write_text("")  # above the work tree: not this project's
    (tmp_path / "repo" / "sub" / "deep").mkdir(parents=True)
    assert find_project(tmp_path / "repo" / "sub" / "deep").root == tmp_path / "repo"
    (tmp_path / "repo" / "sub" / "ffpipe.toml").write_text("")
    found = project_of(tmp_path / "repo" / "sub" / "deep" / "x.yaml")
    assert (found.root, found.settings) == (
        tmp_path / "repo" / "sub",
        tmp_path / "repo" / "sub" / "ffpipe.toml",
    )
    (tmp_path / "loose").mkdir()
    assert find_project(tmp_path / "loose").root == tmp_path  # its ffpipe.toml


def test_without_settings_or_git_the_pipeline_folder_is_the_root(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert project_of(tmp_path / "a" / "b" / "x.yaml").root == tmp_path / "a" / "b"


def test_run_from_another_folder_uses_the_pipeline_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project, elsewhere = tmp_path / "proj", tmp_path / "cwdtest"
    remote = tmp_path / "remote"
    pipeline = make_project(project, f'[cache]\nremote = "{remote}"\n')
    elsewhere.mkdir()
    assert in_folder_main(elsewhere, "run", "../proj/pipelines/proj.yaml", "--push") == 0
    out = capsys.readouterr().out
    assert "pushed 1 entries" in out
    # Workspace, outputs and the lock's paths hang off the project, not the current folder.
    assert (project / ".ffpipe" / "steps.db").is_file()
    assert (project / "out" / "proj" / "enhanced.jpg").is_file()
    assert list(elsewhere.iterdir()) == []
    lock = pipeline.with_suffix(".lock").read_text()
    assert "path: ../out/proj/enhanced.jpg" in lock
    assert "cwdtest" not in lock
    assert (remote / "steps").is_dir()
    # Run again from the project root: the same workspace, so everything is cached.
    assert in_folder_main(project, "run", "pipelines/proj.yaml", "--json") == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["step"] for e in events if e["event"] == "step_cached"] == ["enhance"]
    assert pipeline.with_suffix(".lock").read_text() == lock


def test_status_show_and_plan_from_another_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project, elsewhere = tmp_path / "proj", tmp_path / "cwdtest"
    make_project(project)
    elsewhere.mkdir()
    assert in_folder_main(project, "run", "pipelines/proj.yaml") == 0
    capsys.readouterr()
    file = "../proj/pipelines/proj.yaml"
    assert in_folder_main(elsewhere, "status", file) == 0
    assert in_folder_main(elsewhere, "show", "enhance", "-f", file) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[-1].startswith(str(project / ".ffpipe"))
    assert in_folder_main(elsewhere, "plan", file) == 0
    assert "[cached]" in capsys.readouterr().out
    assert list(elsewhere.iterdir()) == []


def test_files_beside_the_pipelines_folder_belong_to_the_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No git work tree here: the project's ffpipe.toml alone makes media/ readable.
    project = tmp_path / "proj"
    (project / "media").mkdir(parents=True)
    copy_photos(project / "media")
    (project / "pipelines").mkdir()
    (project / "ffpipe.toml").write_text("")
    write_pipeline(project / "pipelines", one_step("beside", "../media/astronaut.jpg"), "b.yaml")
    assert in_folder_main(tmp_path, "validate", "proj/pipelines/b.yaml") == 0
    # Outside the project it is still refused.
    copy_photos(tmp_path)
    write_pipeline(project / "pipelines", one_step("out", "../../astronaut.jpg"), "o.yaml")
    assert in_folder_main(tmp_path, "validate", "proj/pipelines/o.yaml") == 2
    assert "outside the pipeline's folder and its project" in capsys.readouterr().err


def test_pipelines_of_two_projects_in_one_command_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = make_project(tmp_path / "one", name="one")
    second = make_project(tmp_path / "two", name="two")
    assert in_folder_main(tmp_path, "run", str(first), str(second)) == 2
    error = capsys.readouterr().err
    assert "belong to different projects" in error
    assert str(tmp_path / "one") in error and str(tmp_path / "two") in error
    assert not (tmp_path / "one" / ".ffpipe").exists()
    # Validating touches no workspace: files of several projects may be checked together.
    assert in_folder_main(tmp_path, "validate", str(first), str(second)) == 0


def test_an_engine_named_in_the_settings_is_used_by_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without a FaceFusion checkout, every command that keys steps says it needs one: they all
    # read [engine] name (before, status, show, push and pull keyed with the builtin engine).
    monkeypatch.delenv("FFPIPE_FACEFUSION", raising=False)
    make_project(tmp_path, '[engine]\nname = "facefusion"\n')
    file = "pipelines/proj.yaml"
    # --engine on the command line wins over the settings.
    assert in_folder_main(tmp_path, "run", file, "--engine", "builtin") == 0
    assert in_folder_main(tmp_path, "status", file, "--engine", "builtin", "--json") == 0
    capsys.readouterr()
    for command in (
        ["run", file],
        ["plan", file],
        ["status", file, "--json"],
        ["show", "enhance", "-f", file],
        ["pull", file, "--remote", str(tmp_path / "remote")],
    ):
        assert in_folder_main(tmp_path, *command) == 2, command
        assert "facefusion engine needs --facefusion PATH" in capsys.readouterr().err, command


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ('[engine]\nname = "gpu"\n', "ffpipe.toml: engine.name:"),
        ('[engine\nname = "builtin"\n', "ffpipe.toml:"),  # not TOML: said, not a traceback
    ],
)
def test_a_bad_engine_setting_is_one_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], settings: str, named: str
) -> None:
    make_project(tmp_path, settings)
    assert in_folder_main(tmp_path, "plan", "pipelines/proj.yaml") == 2
    error = capsys.readouterr().err
    assert named in error


@pytest.fixture(scope="session")
def facefusion(tmp_path_factory: pytest.TempPathFactory) -> FaceFusionInstall:
    return session_facefusion(tmp_path_factory)


@pytest.mark.slow  # runs FaceFusion in its own process
def test_status_and_show_key_steps_with_the_facefusion_engine(
    facefusion: FaceFusionInstall,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FFPIPE_FACEFUSION", str(facefusion.root))
    monkeypatch.setenv("FFPIPE_FACEFUSION_PYTHON", str(facefusion.python))
    make_project(tmp_path)
    file = "pipelines/proj.yaml"
    assert in_folder_main(tmp_path, "run", file, "--engine", "facefusion") == 0
    capsys.readouterr()
    # Named on the command line ...
    assert in_folder_main(tmp_path, "show", "enhance", "-f", file, "--engine", "facefusion") == 0
    assert capsys.readouterr().out.startswith(str(tmp_path / ".ffpipe"))
    # ... or in the project's settings, every command keys the steps as the run did.
    (tmp_path / "ffpipe.toml").write_text('[engine]\nname = "facefusion"\n')
    assert in_folder_main(tmp_path, "show", "enhance", "-f", file) == 0
    assert capsys.readouterr().out.startswith(str(tmp_path / ".ffpipe"))
    assert in_folder_main(tmp_path, "status", file, "--json") == 0
    (document,) = json.loads(capsys.readouterr().out)
    assert document["up_to_date"] is True
    enhance = document["steps"]["enhance"]
    assert (enhance["in_sync"], enhance["differences"]) == (True, [])
    assert enhance["provenance"]["engine"] == "facefusion"
    # The builtin engine's keys differ: asked for explicitly, the step is not in sync.
    assert in_folder_main(tmp_path, "status", file, "--json", "--engine", "builtin") == 1
    (document,) = json.loads(capsys.readouterr().out)
    assert document["steps"]["enhance"]["in_sync"] is False


def test_the_engine_may_be_named_in_yaml_settings_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FFPIPE_FACEFUSION", raising=False)
    make_project(tmp_path, None)
    (tmp_path / "ffpipe.yaml").write_text("engine:\n  name: facefusion\n")
    assert in_folder_main(tmp_path, "plan", "pipelines/proj.yaml") == 2
    assert "facefusion engine needs --facefusion PATH" in capsys.readouterr().err
    (tmp_path / "ffpipe.yaml").write_text("engine:\n  name: builtin\n")
    assert in_folder_main(tmp_path, "plan", "pipelines/proj.yaml") == 0
