"""One typed :class:`Invocation` per command: the project, workspace, outputs, engine, backend and
remote cache that the command line and the project's settings ask for, decided once.

Every command that loads a pipeline builds one with :meth:`Invocation.of` and asks it for what it
needs instead of reading the argument namespace itself, so ``run``, ``plan``, ``status``,
``push``, ``pull``, ``show`` and ``get`` find the same workspace and key steps with the same
engine.

Where things are (see :mod:`ffpipe.project`): the project root is found from the pipeline file,
not the current folder. The workspace is ``--workspace``, else ``$FFPIPE_WORKSPACE``, else
``.ffpipe/`` in the project root; outputs go under ``--out``, else ``out/`` in the project root;
the settings file is ``--config``, else the project's ``ffpipe.toml``; the Dask cluster that runs
the steps is ``--cluster``, else ``$FFPIPE_CLUSTER``, else ``[cluster] scheduler`` of that settings
file. Paths given on the command line or in the environment are taken as typed (relative to the
current folder). Pipelines of different projects in one command are refused: each project has its
own workspace, settings and remote, and one command keeps to one.

This module imports nothing heavy: ``ffpipe run`` builds an Invocation on the no-op fast path.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ffpipe.cli.engine_options import BUILTIN, ENGINES, EngineChoice, open_engine, start_engine
from ffpipe.cli.options import DEFAULT_WORKSPACE, ENV_CLUSTER, ENV_WORKSPACE
from ffpipe.errors import UserError
from ffpipe.project import Project, find_project, project_of

if TYPE_CHECKING:
    from ffpipe.backends.base import Backend
    from ffpipe.cache.workspace import Workspace
    from ffpipe.engine.api import Engine
    from ffpipe.pipeline import LoadedPipeline, LoadOptions
    from ffpipe.run import events as ev
    from ffpipe.run.remote import RemoteSource

OUT_FOLDER = "out"
DEFAULT_TRANSFERS = 4
"""Parallel remote transfers without ``--jobs``: they wait on the network, not the CPU."""


def default_workspace(project: Project) -> Path:
    """``$FFPIPE_WORKSPACE``, else ``.ffpipe/`` in the project root."""
    return Path(os.environ.get(ENV_WORKSPACE) or project.root / DEFAULT_WORKSPACE)


def project_here() -> Project:
    """The project of the current folder, for commands that name no pipeline."""
    return find_project(Path.cwd())


def common_project(files: Sequence[Path]) -> Project:
    """The one project every file belongs to (the current folder's when there are none).

    Pipelines of two projects are one user error naming both roots.
    """
    if not files:
        return project_here()
    projects = {file: project_of(file) for file in files}
    roots = {project.root for project in projects.values()}
    if len(roots) > 1:
        first, second = sorted(roots)[:2]
        raise UserError(
            f"the pipelines belong to different projects ({first} and {second}), each with its "
            "own workspace, outputs and settings; run each project's pipelines in their own "
            "command"
        )
    return projects[files[0]]


@dataclass(frozen=True)
class Invocation:
    """What one command works with, decided once from its arguments and the project."""

    project: Project
    workspace: Path
    out_root: Path
    """Outputs go to ``out_root/<pipeline name>/``."""
    settings: Path | None
    """The settings file in effect: ``--config``, else the project's, else none."""
    explicit_settings: bool
    """``--config`` was given (it may name a server even when the project's file does not)."""
    server: str | None
    engine: EngineChoice
    params: tuple[str, ...] = ()
    max_instances: int | None = None
    allow_outside_files: bool = False
    remote_option: str | None = None
    """``--remote URL`` as given."""
    require_remote: bool = False
    jobs: int | None = None
    cluster_option: str | None = None
    """``--cluster ADDRESS`` as given."""

    @classmethod
    def of(cls, args: argparse.Namespace, files: Sequence[Path] = ()) -> Invocation:
        """The invocation of a command over pipeline ``files`` (none: the current folder's
        project). Reads every option a command may have; those it lacks take their defaults."""
        project = common_project(files)
        config = _option(args, "config")
        settings = Path(config) if config is not None else project.settings
        workspace = _option(args, "workspace")
        out = _option(args, "out")
        return cls(
            project=project,
            workspace=Path(workspace) if workspace is not None else default_workspace(project),
            out_root=Path(out) if out is not None else project.root / OUT_FOLDER,
            settings=settings,
            explicit_settings=config is not None,
            server=_option(args, "server"),
            engine=_engine_choice(args, settings),
            params=tuple(_option(args, "params") or ()),
            max_instances=_option(args, "max_instances"),
            allow_outside_files=bool(_option(args, "allow_outside_files")),
            remote_option=_option(args, "remote"),
            require_remote=bool(_option(args, "require_remote")),
            jobs=_option(args, "jobs"),
            cluster_option=_option(args, "cluster"),
        )

    # loading

    def granted_loading(self) -> dict[str, object]:
        """The loading limits as given, for the no-op fast path's key: ``run`` and ``plan`` key
        their stamps alike, so a plan finds the stamp of the run made with the same grants."""
        return {
            "max_instances": self.max_instances,
            "allow_outside_files": self.allow_outside_files,
        }

    def load_options(self) -> LoadOptions:
        """The loading limits the command line grants."""
        from ffpipe.pipeline import LoadOptions

        granted = LoadOptions(allow_outside_files=self.allow_outside_files)
        if self.max_instances is not None:
            granted = dataclasses.replace(granted, max_instances=self.max_instances)
        return granted

    def load(self, path: Path) -> LoadedPipeline:
        """Load the pipeline at ``path`` with the ``-p`` values and the granted limits."""
        from ffpipe.pipeline import load_pipeline, parse_overrides

        return load_pipeline(path, parse_overrides(list(self.params)), self.load_options())

    def out_dir(self, pipeline_name: str) -> Path:
        """Where a pipeline's outputs go."""
        return self.out_root / pipeline_name

    # engine and backend

    def uses_server(self) -> bool:
        """Whether steps would run on a server (named on the command line or in settings)."""
        from ffpipe.run.noop import uses_server

        return uses_server(self.server, self.settings, explicit=self.explicit_settings)

    def make_engine(self, *, strict_models: bool = False) -> Engine | None:
        """The in-process engine chosen (None: the builtin one, made lazily by the backend)."""
        return open_engine(self.engine, strict_models=strict_models)

    def make_backend(self, *, strict_models: bool = False, start: bool = True) -> Backend:
        """The backend every step of this command runs on (or is keyed for).

        ``start`` starts a FaceFusion worker at once, so a bad install is one message before
        anything runs; commands that only compute keys leave it unstarted.
        """
        from ffpipe.backends import make_backend

        engine = self.make_engine(strict_models=strict_models)
        if engine is None:
            options = {"strict_models": True} if strict_models else {}
            return make_backend(
                self.server, config=self.settings, folder=self.project.root, **options
            )
        if self.server:
            engine.close()
            raise UserError(
                f"--engine {self.engine.name} runs in-process; it cannot be used with --server"
            )
        if start:
            start_engine(engine)
        return make_backend(engine=engine)

    # cluster

    @cached_property
    def cluster_address(self) -> str | None:
        """The Dask scheduler that runs the steps: ``--cluster``, else ``$FFPIPE_CLUSTER``, else
        ``[cluster] scheduler`` of the settings; None runs them here (or on the server)."""
        if self.cluster_option:
            return str(self.cluster_option)
        return os.environ.get(ENV_CLUSTER) or configured_cluster(self.settings)

    # remote cache

    @cached_property
    def remote_url(self) -> str | None:
        """``--remote``, else ``$FFPIPE_REMOTE``, else ``[cache] remote`` of the settings."""
        if self.remote_option:
            return str(self.remote_option)
        from ffpipe.backends.config import CacheConfig

        return CacheConfig.discover(self.project.root, self.settings).remote

    def needed_remote_url(self) -> str:
        """The remote URL, or a user error saying how to configure one."""
        if not self.remote_url:
            raise UserError(
                "no remote cache configured: set remote under [cache] in ffpipe.toml, "
                "FFPIPE_REMOTE, or pass --remote URL"
            )
        return self.remote_url

    def transfers(self) -> int:
        """Parallel transfers: ``--jobs``, else a few."""
        return self.jobs or DEFAULT_TRANSFERS

    def remote_source(
        self,
        workspace: Workspace,
        *,
        fetching: bool,
        emit: Callable[[ev.Event], None] | None = None,
    ) -> RemoteSource | None:
        """The planner's remote for this command, or None when no remote is configured."""
        if not self.remote_url:
            return None
        from ffpipe.run.remote import RemoteSource

        found = RemoteSource(
            self.remote_url,
            workspace,
            fetching=fetching,
            jobs=self.transfers(),
            require=self.require_remote,
            emit=emit,
        )
        if self.require_remote:
            found.check()
        return found


def _option(args: argparse.Namespace, name: str) -> Any:
    return getattr(args, name, None)


def _engine_choice(args: argparse.Namespace, settings: Path | None) -> EngineChoice:
    """``--engine``, else ``[engine] name`` of the settings, else the builtin engine."""
    name = _option(args, "engine") or configured_engine(settings) or BUILTIN
    return EngineChoice(
        name=name,
        facefusion=_option(args, "facefusion"),
        facefusion_python=_option(args, "facefusion_python"),
        allow_downloads=bool(_option(args, "facefusion_downloads")),
        ffmpeg=_option(args, "facefusion_ffmpeg"),
        devices=_option(args, "devices"),
    )


def configured_engine(settings: Path | None) -> str | None:
    """The engine a settings file names under ``[engine]``, if any.

    Read lightly (the no-op fast path reads this on every run): a TOML file without an
    ``[engine]`` line is not parsed, and a well-formed table is read without the pydantic model,
    which is loaded only to say what is wrong with a bad one (or to read YAML).
    """
    if settings is None:
        return None
    if settings.suffix == ".toml":
        text = _settings_text(settings, "engine")
        if not _mentions_table(text, "engine"):
            return None
        table = _toml_table(text, "engine")
        if table is not None and (table == {} or _only(table, "name") in ENGINES):
            return table.get("name")
    from ffpipe.backends.config import EngineConfig

    return EngineConfig.load(settings).name


def configured_cluster(settings: Path | None) -> str | None:
    """The scheduler a settings file names under ``[cluster]``, if any (read as lightly as
    :func:`configured_engine` reads ``[engine]``: ``ffpipe plan`` keys its kept plans with it)."""
    if settings is None:
        return None
    if settings.suffix == ".toml":
        text = _settings_text(settings, "cluster")
        if not _mentions_table(text, "cluster"):
            return None
        table = _toml_table(text, "cluster")
        if table is not None and (table == {} or isinstance(_only(table, "scheduler"), str)):
            return table.get("scheduler") or None
    from ffpipe.backends.config import ClusterConfig

    return ClusterConfig.load(settings).scheduler or None


def _only(table: dict[str, Any], key: str) -> Any:
    """The value of ``key`` when it is the table's only key, else None."""
    return table[key] if set(table) == {key} else None


def _settings_text(settings: Path, table: str) -> str:
    """The text of a TOML settings file; one that cannot be read reads as naming ``table``, so
    the full reading says what is wrong."""
    try:
        return settings.read_text(encoding="utf-8")
    except OSError:
        return f"[{table}]"


def _mentions_table(text: str, name: str) -> bool:
    """Whether a TOML text may hold the table ``name`` (a header or a dotted key)."""
    lines = (line.split("#", 1)[0].replace(" ", "") for line in text.splitlines())
    return any(line.startswith((f"[{name}", name)) for line in lines)


def _toml_table(text: str, name: str) -> dict[str, Any] | None:
    """The table ``name`` of a TOML text (``{}`` when absent); None when unreadable here."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # the same parser, as a package, before it joined the standard library
        import tomli as tomllib
    try:
        table = tomllib.loads(text).get(name, {})
    except tomllib.TOMLDecodeError:
        return None
    return table if isinstance(table, dict) else None
