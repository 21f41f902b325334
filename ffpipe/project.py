"""The project a pipeline belongs to: the folder its workspace, outputs, settings and files
hang off.

The project root is the nearest folder at or above the pipeline's folder that holds a settings
file (``ffpipe.toml``, ``ffpipe.yaml`` or ``ffpipe.yml``), looking no further up than the git work
tree the pipeline is in; else the root of that git work tree; else the pipeline's own folder.
Every command finds it from the pipeline file, never from the current folder, so running
``ffpipe run ../proj/pipelines/x.yaml`` from anywhere uses ``../proj``'s workspace, ``out/``,
remote cache and lock paths.

Only the standard library: the no-op fast path of ``ffpipe run`` finds the project too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SETTINGS_NAMES = ("ffpipe.toml", "ffpipe.yaml", "ffpipe.yml")
"""Settings files, in the order they are looked for in a folder."""


@dataclass(frozen=True)
class Project:
    """A project's root folder and its settings file, if it has one."""

    root: Path
    settings: Path | None = None


def settings_in(folder: Path) -> Path | None:
    """The settings file in ``folder``, if there is one."""
    return next((folder / name for name in SETTINGS_NAMES if (folder / name).is_file()), None)


def find_project(folder: Path | str) -> Project:
    """The project of something in ``folder`` (see the module's docstring for the rule)."""
    start = Path(os.path.abspath(folder))
    for candidate in (start, *start.parents):
        settings = settings_in(candidate)
        if settings is not None:
            return Project(candidate, settings)
        if (candidate / ".git").exists():
            # A work tree bounds the project: settings above it belong to something else.
            return Project(candidate)
    return Project(start)


def project_of(pipeline_file: Path | str) -> Project:
    """The project of the pipeline file at ``pipeline_file``."""
    return find_project(Path(os.path.abspath(pipeline_file)).parent)
