"""What a pipeline file can reach on the machine that loads it: environment and local files."""

from __future__ import annotations

from pathlib import Path

import pytest
from _pipeline_support import ROOT, write_pipeline

from ffpipe.pipeline import LoadOptions, PipelineErrors, load_pipeline


def _pipeline(folder: Path, photo: str, callback: str = "https://hooks.example/x") -> Path:
    return write_pipeline(
        folder,
        f"""
        version: 1
        inputs:
          photo: "{photo}"
        steps:
          look:
            uses: detect
            job: {{callback_url: "{callback}"}}
            with:
              target_media: "{{{{ inputs.photo }}}}"
        """,
        photos=True,
    )


def _errors(path: Path, options: LoadOptions | None = None) -> list[str]:
    with pytest.raises(PipelineErrors) as caught:
        load_pipeline(path, None, options)
    return [str(error) for error in caught.value.errors]


def test_templates_cannot_read_private_environment_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FFPIPE_AUTH", "alice:secret")
    path = _pipeline(tmp_path, "astronaut.jpg", "https://hooks.example/{{ env.FFPIPE_AUTH }}")
    [error] = _errors(path)
    assert error.startswith(f"{path}:7:") and "FFPIPE_AUTH" in error
    assert "FFPIPE_PUBLIC_" in error and "alice" not in error


def test_public_variables_are_readable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFPIPE_PUBLIC_PHOTO", "astronaut")
    monkeypatch.setenv("HOME", "/home/someone")
    path = _pipeline(tmp_path, "{{ env.FFPIPE_PUBLIC_PHOTO }}.jpg")
    assert load_pipeline(path).inputs["photo"] == str(tmp_path / "astronaut.jpg")
    whole = _pipeline(tmp_path, "{{ env|length }}.jpg")
    assert "'1.jpg' does not exist" in _errors(whole)[0]  # only the public variable is in env


@pytest.mark.parametrize("photo", ["/etc/passwd", "../outside.jpg"])
def test_inputs_outside_the_pipeline_folder_need_the_flag(tmp_path: Path, photo: str) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (tmp_path / "outside.jpg").write_bytes((ROOT / "media" / "astronaut.jpg").read_bytes())
    path = _pipeline(folder, photo)
    [error] = _errors(path)
    assert error.startswith(f"{path}:3:") and "--allow-outside-files" in error
    granted = LoadOptions(allow_outside_files=True)
    if photo == "/etc/passwd":
        # Reachable now, but no image: the step's op could not read it.
        [error] = _errors(path, granted)
        assert "passwd is neither an image nor a video" in error
        return
    allowed = load_pipeline(path, None, granted)
    assert allowed.inputs["photo"] == str((folder / photo).resolve())


def test_step_files_and_outputs_outside_need_the_flag_too(tmp_path: Path) -> None:
    path = write_pipeline(
        tmp_path,
        """
        version: 1
        steps:
          look:
            uses: detect
            with:
              target_media: /etc/passwd
        outputs:
          copied: /etc/passwd
        """,
        photos=True,
    )
    errors = _errors(path)
    assert [error.split(":")[1] for error in errors] == ["6", "8"]
    assert all("outside" in error for error in errors)


def test_a_symbolic_link_does_not_lead_outside(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "innocent.jpg").symlink_to("/etc/passwd")
    [error] = _errors(_pipeline(folder, "innocent.jpg"))
    assert "outside" in error


def test_files_of_the_git_work_tree_around_the_pipeline_are_inside() -> None:
    examples = ROOT / "pipelines" / "examples"
    loaded = load_pipeline(examples / "portrait.yaml")
    assert loaded.inputs["target"] == str(ROOT / "media" / "astronaut.jpg")
