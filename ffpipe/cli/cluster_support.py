"""The Dask cluster of a command (its Invocation's ``cluster_address``: ``--cluster``,
``$FFPIPE_CLUSTER`` or ``[cluster] scheduler``), and a connection to it that shares the remote
cache.

A cluster needs a remote cache both sides reach: workers read inputs from it and write results
to it. Without one, or with one that cannot be reached, the run stops before anything is sent.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ffpipe.errors import UserError

if TYPE_CHECKING:
    from ffpipe.backends.base import Backend
    from ffpipe.cli.context import Invocation
    from ffpipe.engine.api import Engine
    from ffpipe.run.cluster import Cluster


def remote_for_cluster(invocation: Invocation, address: str) -> str:
    """The remote cache URL a cluster run shares with its workers, checked reachable."""
    from ffpipe.cli import remote_support

    url = invocation.remote_url
    if not url:
        raise UserError(
            f"the cluster {address} needs a remote cache that this machine and its workers "
            "both reach: set remote under [cache] in ffpipe.toml, FFPIPE_REMOTE, or pass "
            "--remote URL"
        )
    remote_support.open_store(url, require=True)
    return url


def open_cluster(invocation: Invocation, *, strict_models: bool = False) -> Cluster | None:
    """Connect to the invocation's scheduler, with the invocation's engine asked for on the
    workers; None when no cluster is configured."""
    address = invocation.cluster_address
    if address is None:
        return None
    from ffpipe.run.cluster import Cluster

    if invocation.server:
        raise UserError("--cluster runs the steps on Dask workers; it cannot be used with --server")
    remote = remote_for_cluster(invocation, address)
    engine = invocation.engine.name
    make_backend = functools.partial(worker_backend, engine, strict_models)
    return Cluster(address, remote, make_backend, f"{engine}{'-strict' if strict_models else ''}")


def cluster_engine(invocation: Invocation, engine: Engine, *, strict_models: bool) -> Engine:
    """``ffpipe serve --cluster``: an engine that hands each request to the invocation's
    cluster, whose workers run ``engine``'s kind (this process keeps ``engine`` only to
    describe it)."""
    from ffpipe.backends.local import LocalBackend
    from ffpipe.cli.cluster_engine import ClusterEngine

    cluster = open_cluster(invocation, strict_models=strict_models)
    assert cluster is not None, "serve asks for a cluster engine only with a cluster"
    identity = LocalBackend(engine=engine).identity()
    return ClusterEngine(engine, cluster, identity)


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
