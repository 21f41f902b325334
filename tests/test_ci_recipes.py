"""The CI recipes of docs/ci.md, checked offline: the workflow against GitHub's workflow schema
(vendored by check-jsonschema), its annotation script on real validate output, and the
pre-commit hook through ``pre-commit try-repo`` on a temporary repository."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

pytestmark = pytest.mark.slow  # the CI recipes run as processes

BIN = Path(sys.executable).parent


def workflow(repo_root: Path) -> dict:
    text = (repo_root / "docs" / "ci.md").read_text()
    block = re.search(r"<!-- ci-workflow -->\n```yaml\n(.*?)```", text, re.DOTALL)
    assert block is not None, "docs/ci.md lost its workflow block"
    return yaml.load(block.group(1), Loader=yaml.BaseLoader)  # "on" stays a key, as GitHub reads it


def test_workflow_is_valid_for_github(repo_root: Path) -> None:
    schema_file = (
        resources.files("check_jsonschema.builtin_schemas.vendor") / "github-workflows.json"
    )
    schema = json.loads(schema_file.read_text())
    document = workflow(repo_root)
    jsonschema.validate(document, schema)
    assert set(document["jobs"]) == {"validate", "render"}
    # The schema does catch mistakes: a misspelt step key, an unknown event.
    misspelt = dict(document, jobs={"render": {"runs-on": "x", "steps": [{"runn": "true"}]}})
    for broken in (misspelt, dict(document, on={"pull_requests": {}})):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)


def _env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def test_validate_step_turns_errors_into_annotations(
    repo_root: Path, tmp_path: Path, bad_pipelines_dir: Path
) -> None:
    steps = workflow(repo_root)["jobs"]["validate"]["steps"]
    script = next(step["run"] for step in steps if step.get("name") == "Validate every pipeline")
    folder = tmp_path / "pipelines"
    folder.mkdir()
    shutil.copy(repo_root / "pipelines" / "examples" / "batch_matrix.yaml", folder / "ok.yaml")
    # Pipelines read only files beside them (or with --allow-outside-files): the photos come along.
    shutil.copytree(repo_root / "media", folder / "media", ignore=shutil.ignore_patterns("*.mp4"))
    (folder / "ok.yaml").write_text(
        (folder / "ok.yaml").read_text().replace("../../media/", "media/")
    )
    (folder / "bad.yaml").write_text(
        "version: 1\nname: bad\nsteps:\n  a:\n    uses: swap\n    with: {face_mask_blur: 3}\n"
    )
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=_env(), capture_output=True, text=True
    )
    assert done.returncode == 2, done.stderr
    lines = done.stdout.splitlines()
    assert lines and all(line.startswith("::error file=") for line in lines)
    assert any("bad.yaml,line=6," in line and "face_mask_blur" in line for line in lines)
    assert not any("ok.yaml" in line for line in lines)


def test_pre_commit_hook_through_try_repo(repo_root: Path, tmp_path: Path) -> None:
    hooks = yaml.safe_load((repo_root / ".pre-commit-hooks.yaml").read_text())
    assert [hook["id"] for hook in hooks] == ["ffpipe-validate"]
    project = tmp_path / "project"
    (project / "pipelines").mkdir(parents=True)
    (project / "pipelines" / "bad.yaml").write_text(
        "version: 1\nname: bad\nsteps:\n  a:\n    uses: sawp\n"
    )
    (project / "notes.yaml").write_text("not: a pipeline\n")  # outside pipelines/: not checked
    env = {**_env(), "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    for command in (["git", "init", "-q"], ["git", "add", "."]):
        subprocess.run(command, cwd=project, check=True, env=env)
    try_repo = [
        str(BIN / "pre-commit"), "try-repo", str(repo_root), "ffpipe-validate", "--all-files",
    ]  # fmt: skip
    failed = subprocess.run(try_repo, cwd=project, env=env, capture_output=True, text=True)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "pipelines/bad.yaml:5:" in failed.stdout and "sawp" in failed.stdout
    assert "notes.yaml" not in failed.stdout

    shutil.copy(repo_root / "media" / "clip.mp4", project / "pipelines" / "clip.mp4")
    (project / "pipelines" / "bad.yaml").write_text(
        "version: 1\nname: fine\nsteps:\n  a:\n    uses: video\n"
        "    with: {target_media: clip.mp4}\n"
    )
    subprocess.run(["git", "add", "."], cwd=project, check=True, env=env)
    passed = subprocess.run(try_repo, cwd=project, env=env, capture_output=True, text=True)
    assert passed.returncode == 0, passed.stdout + passed.stderr
