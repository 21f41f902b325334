"""Settings of the gradio backend: which server, which endpoint runs each op, credentials.

Read from ``ffpipe.toml`` (or a YAML file, or ``--config FILE``), under a ``server`` table::

    [server]
    url = "http://gpu-box:9002"
    auth_file = "~/.config/ffpipe/auth"   # one "user:password" line
    timeout = 600                         # seconds per request

    [server.endpoints]                    # only for servers that name things differently
    swap = "/face_swap"                   # an api_name ...
    enhance = 3                           # ... or an fn_index

Credentials come from ``FFPIPE_AUTH`` ("user:password") or the auth file, never from a pipeline.

The same file may name a remote cache (:class:`CacheConfig`) and the in-process engine every
command runs or keys steps with (:class:`EngineConfig`)::

    [cache]
    remote = "s3://renders/ffpipe"        # or a shared folder, file://..., gs://...: any fsspec URL

    [engine]
    name = "facefusion"                   # or "builtin" (the default)

and a Dask cluster that runs the steps (:class:`ClusterConfig`)::

    [cluster]
    scheduler = "tcp://scheduler:8786"
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ffpipe.catalog import OP_NAMES
from ffpipe.errors import UserError
from ffpipe.project import SETTINGS_NAMES

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, as a package, before it joined the standard library
    import tomli as tomllib

CONFIG_NAMES = SETTINGS_NAMES
AUTH_ENV = "FFPIPE_AUTH"

EndpointRef = str | int
"""An api_name such as ``/swap`` or an fn_index."""


class ConfigError(UserError):
    """A configuration file or credential that cannot be used."""


class ServerConfig(BaseModel):
    """The ``server`` table of a configuration file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(default=None, description="Server URL, e.g. http://host:9002.")
    auth_file: Path | None = Field(default=None, description="File with a user:password line.")
    timeout: float = Field(default=600.0, gt=0, description="Seconds allowed per request.")
    endpoints: dict[str, EndpointRef] = Field(
        default_factory=dict, description="op -> api_name or fn_index, where they differ."
    )

    @field_validator("endpoints")
    @classmethod
    def _known_ops(cls, value: dict[str, EndpointRef]) -> dict[str, EndpointRef]:
        unknown = sorted(set(value) - set(OP_NAMES) - {"capabilities"})
        if unknown:
            raise ValueError(f"unknown op(s) {', '.join(unknown)}; ops: {', '.join(OP_NAMES)}")
        return {
            op: ref if isinstance(ref, int) or ref.startswith("/") else f"/{ref}"
            for op, ref in value.items()
        }

    def endpoint(self, op: str) -> EndpointRef:
        """Where ``op`` is served: the mapping's entry, else ffpipe serve's own ``/<op>``."""
        return self.endpoints.get(op, f"/{op}")

    def credentials(self) -> tuple[str, str] | None:
        """(user, password) from FFPIPE_AUTH, else from the auth file, else None."""
        raw = os.environ.get(AUTH_ENV)
        origin = f"${AUTH_ENV}"
        if raw is None and self.auth_file is not None:
            path = self.auth_file.expanduser()
            try:
                lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
            except OSError as error:
                raise ConfigError(f"cannot read auth file {path}: {error.strerror}") from None
            raw = next((line for line in lines if line and not line.startswith("#")), "")
            origin = str(path)
        if raw is None:
            return None
        user, colon, password = raw.partition(":")
        if not colon or not user or not password:
            raise ConfigError(f"{origin} must hold 'user:password'")
        return user, password

    @classmethod
    def load(cls, path: Path) -> ServerConfig:
        """The ``server`` table of a TOML or YAML file (an absent table: all defaults)."""
        config = _load_table(path, "server", cls)
        if config.auth_file is not None and not config.auth_file.expanduser().is_absolute():
            config = config.model_copy(update={"auth_file": path.parent / config.auth_file})
        return config

    @classmethod
    def discover(cls, folder: Path) -> ServerConfig:
        """The configuration in ``folder`` (ffpipe.toml, .yaml or .yml), or the defaults."""
        for name in CONFIG_NAMES:
            if (folder / name).is_file():
                return cls.load(folder / name)
        return cls()


REMOTE_ENV = "FFPIPE_REMOTE"


class CacheConfig(BaseModel):
    """The ``cache`` table of a configuration file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    remote: str | None = Field(
        default=None,
        description="Remote cache: a folder path or any fsspec URL (s3://bucket/prefix, ...).",
    )

    @classmethod
    def load(cls, path: Path) -> CacheConfig:
        """The ``cache`` table of a TOML or YAML file; a relative folder is taken from there."""
        config = _load_table(path, "cache", cls)
        remote = config.remote
        if remote and "://" not in remote and not Path(remote).expanduser().is_absolute():
            config = config.model_copy(update={"remote": str((path.parent / remote).resolve())})
        return config

    @classmethod
    def discover(cls, folder: Path, config: Path | None = None) -> CacheConfig:
        """``$FFPIPE_REMOTE``, else ``config``, else the configuration file in ``folder``."""
        if os.environ.get(REMOTE_ENV):
            return cls(remote=os.environ[REMOTE_ENV])
        if config is not None:
            return cls.load(config)
        for name in CONFIG_NAMES:
            if (folder / name).is_file():
                return cls.load(folder / name)
        return cls()


class EngineConfig(BaseModel):
    """The ``engine`` table of a configuration file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["builtin", "facefusion"] | None = Field(
        default=None,
        description="The in-process engine of every command (--engine overrides it).",
    )

    @classmethod
    def load(cls, path: Path) -> EngineConfig:
        """The ``engine`` table of a TOML or YAML file (an absent table: all defaults)."""
        return _load_table(path, "engine", cls)


class ClusterConfig(BaseModel):
    """The ``cluster`` table of a configuration file::

    [cluster]
    scheduler = "tcp://scheduler:8786"   # a Dask distributed scheduler

    ``--cluster`` and ``$FFPIPE_CLUSTER`` override it (see :mod:`ffpipe.cli.context`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    scheduler: str | None = Field(
        default=None, description="Dask scheduler address that runs the steps, tcp://host:8786."
    )

    @classmethod
    def load(cls, path: Path) -> ClusterConfig:
        """The ``cluster`` table of a TOML or YAML file (an absent table: all defaults)."""
        return _load_table(path, "cluster", cls)


def _read_document(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    if path.suffix.lower() == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: {error}") from None
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: {error}") from None


_Table = TypeVar("_Table", bound=BaseModel)


def _load_table(path: Path, name: str, model: type[_Table]) -> _Table:
    """The ``name`` table of a TOML or YAML file as ``model`` (an absent table: all defaults);
    a bad one is one ConfigError naming the file and each offending key."""
    document = _read_document(path)
    table = document.get(name, {}) if isinstance(document, dict) else None
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: '{name}' must be a table of settings")
    try:
        return model.model_validate(table)
    except ValidationError as error:
        details = "; ".join(
            f"{name}.{'.'.join(str(p) for p in item['loc'])}: {item['msg']}"
            for item in error.errors(include_url=False)
        )
        raise ConfigError(f"{path}: {details}") from None
