"""``--cluster``: which Dask scheduler, and a connection to it that shares the remote cache.

A cluster needs a remote cache both sides reach: workers read inputs from it and write results
to it. Without one, or with one that cannot be reached, the run stops before anything is sent.
"""

from __future__ import annotations

import argparse
import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ffpipe.errors import UserError

if TYPE_CHECKING:
    from ffpipe.backends.base import Backend
    from ffpipe.engine.api import Engine
    from ffpipe.run.cluster import Cluster


def cluster_address(args: argparse.Namespace) -> str | None:
    """``--cluster``, else ``$FFPIPE_CLUSTER``, else ``[cluster] scheduler`` of the settings."""
    if getattr(args, "cluster", None):
        return str(args.cluster)
    from ffpipe.backends.config import ClusterConfig

    return ClusterConfig.discover(Path.cwd(), getattr(args, "config", None)).scheduler


def remote_for_cluster(args: argparse.Namespace, address: str) -> str:
    """The remote cache URL a cluster run shares with its workers, checked reachable."""
    from ffpipe.cli import remote_support

    url = remote_support.remote_url(args)
    if not url:
        raise UserError(
            f"the cluster {address} needs a remote cache that this machine and its workers "
            "both reach: set remote under [cache] in ffpipe.toml, FFPIPE_REMOTE, or pass "
            "--remote URL"
        )
    remote_support.open_store(url, require=True)
    return url


def open_cluster(args: argparse.Namespace, address: str) -> Cluster:
    """Connect to the scheduler at ``address`` with the engine ``args`` ask for on workers."""
    from ffpipe.run.cluster import Cluster

    if getattr(args, "server", None):
        raise UserError("--cluster runs the steps on Dask workers; it cannot be used with --server")
    remote = remote_for_cluster(args, address)
    engine = getattr(args, "engine", "builtin")
    strict = bool(getattr(args, "strict_models", False))
    make_backend = functools.partial(worker_backend, engine, strict)
    return Cluster(address, remote, make_backend, f"{engine}{'-strict' if strict else ''}")


def cluster_engine(args: argparse.Namespace, address: str, engine: Engine) -> Engine:
    """``ffpipe serve --cluster``: an engine that hands each request to the cluster, whose
    workers run ``engine``'s kind (this process keeps ``engine`` only to describe it)."""
    from ffpipe.backends.local import LocalBackend
    from ffpipe.cli.cluster_engine import ClusterEngine

    identity = LocalBackend(engine=engine).identity()
    return ClusterEngine(engine, open_cluster(args, address), identity)


def worker_backend(engine: str = "builtin", strict_models: bool = False) -> Backend:
    """The backend a cluster worker runs steps on (built there, once, by its engine plugin).

    ``facefusion`` takes the worker machine's own install from ``FFPIPE_FACEFUSION`` and
    ``FFPIPE_FACEFUSION_PYTHON`` and starts its warm worker process at once.
    """
    from ffpipe.backends.base import BackendError
    from ffpipe.backends.local import LocalBackend

    if engine == "builtin":
        return LocalBackend(strict_models=strict_models)
    if engine != "facefusion":
        raise BackendError(f"unknown engine {engine!r}")

    from ffpipe.engine.facefusion import FaceFusionEngine

    checkout = os.environ.get("FFPIPE_FACEFUSION")
    if not checkout:
        raise BackendError("this worker has no FaceFusion install: set FFPIPE_FACEFUSION")
    python = os.environ.get("FFPIPE_FACEFUSION_PYTHON") or None
    found = FaceFusionEngine(
        Path(checkout), Path(python) if python else None, strict_models=strict_models
    )
    found.start()
    return LocalBackend(engine=found)
