"""The worker side of a cluster run: an engine kept warm in a Dask worker plugin, and the task.

A run registers :class:`EnginePlugin` on the cluster once (idempotently: a worker that has it
keeps its engine, so a FaceFusion worker stays loaded between runs). Each step is a call of
:func:`run_step` on a worker: it validates the step against the catalog, fetches the inputs by
digest from the remote cache into the worker's own object store, runs the op on the warm
engine, stores the outputs, pushes them (objects first, then the step entry) to the remote cache
and returns their digests. The remote never shows a partial object or entry (see
:mod:`ffpipe.cache.remote`), so a worker killed midway leaves nothing a reader can see, and Dask
runs the task again elsewhere.

Imported on workers (and by the client to register the plugin); needs ``distributed``.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distributed import get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from ffpipe.backends.base import Backend, BackendError, StepRequest
from ffpipe.cache.objects import ObjectStore, is_tree
from ffpipe.cache.steps import StepEntry
from ffpipe.catalog import OPS
from ffpipe.run.cluster_task import StepDone, StepTask
from ffpipe.run.prepare import FILE_NAMES

if TYPE_CHECKING:
    from ffpipe.cache.remote import RemoteStore

PROGRESS_TOPIC = "ffpipe-progress"
"""The Dask event topic a worker reports step progress on (``{"task", "fraction", "stage"}``)."""
PROGRESS_INTERVAL = 0.25
"""Seconds between progress messages of one step (a video reports every frame)."""


class EnginePlugin(WorkerPlugin):
    """Holds one backend (the engine, warm) per worker, its object store and remote stores.

    ``make_backend`` is called once on each worker when the plugin is set up there.
    """

    idempotent = True
    """Registering it again keeps the workers' plugin (and their warm engine)."""

    def __init__(self, make_backend: Callable[[], Backend], name: str) -> None:
        self.make_backend = make_backend
        self.name = name
        self.backend: Backend | None = None
        self.root: Path | None = None
        self._remotes: dict[str, RemoteStore] = {}
        self._lock = threading.Lock()

    def setup(self, worker: Any) -> None:
        self.root = Path(worker.local_directory) / "ffpipe"
        self.backend = self.make_backend()

    def teardown(self, worker: Any) -> None:
        if self.backend is not None:
            self.backend.close()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)

    @property
    def store(self) -> ObjectStore:
        assert self.root is not None, "the plugin is not set up"
        return ObjectStore(self.root / "objects")

    def remote(self, url: str) -> RemoteStore:
        """The remote cache at ``url``, opened once per worker."""
        from ffpipe.cache.remote import open_remote

        with self._lock:
            if url not in self._remotes:
                self._remotes[url] = open_remote(url)
            return self._remotes[url]

    def __getstate__(self) -> dict[str, Any]:
        # Only what the client chose travels: the worker builds its own state in setup.
        return {"make_backend": self.make_backend, "name": self.name}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["make_backend"], state["name"])  # type: ignore[misc]


def run_step(task: dict[str, Any], plugin_name: str) -> dict[str, Any]:
    """Run one step on this worker (the Dask task); returns a :class:`StepDone` document."""
    checked = StepTask.model_validate(task)
    worker = get_worker()
    plugin = worker.plugins.get(plugin_name)
    if not isinstance(plugin, EnginePlugin) or plugin.backend is None or plugin.root is None:
        raise BackendError(f"worker {worker.address} has no ffpipe engine ({plugin_name})")
    workdir = plugin.root / "tasks" / uuid.uuid4().hex
    try:
        return _run(checked, plugin, workdir, worker)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run(task: StepTask, plugin: EnginePlugin, workdir: Path, worker: Any) -> dict[str, Any]:
    from ffpipe.cache.remote import fetch_objects, push_entries

    assert plugin.backend is not None
    _check_identity(plugin.backend, task, {**task.params, **task.placeholders()})
    store = plugin.store
    remote = plugin.remote(task.remote)
    fetch_objects(store, remote, task.inputs.values())
    params = dict(task.params)
    for field, digest in task.inputs.items():
        params[field] = str(_named(store, digest, task.names[field], workdir / "in" / field))
    (workdir / "out").mkdir(parents=True)
    started = time.monotonic()
    progress = _progress_reporter(worker, task.task_id)
    result = plugin.backend.run(StepRequest(task.op, params, workdir / "out", progress))
    duration = time.monotonic() - started
    if "output" not in result.files:
        raise BackendError("the engine returned no primary output")
    outputs = {
        name: store.put_tree(path, move=True) if path.is_dir() else store.put_file(path, move=True)
        for name, path in sorted(result.files.items())
    }
    document = {
        **result.result,
        FILE_NAMES: {name: path.name for name, path in result.files.items()},
    }
    entry = StepEntry(
        key=task.key,
        pipeline=task.pipeline,
        instance_id=task.instance_id,
        outputs=outputs,
        result=document,
        key_document=task.key_document,
    )
    push_entries(store, remote, [entry], jobs=2)
    done = StepDone(outputs=outputs, result=document, worker=worker.address, duration=duration)
    return done.model_dump(mode="json")


def _progress_reporter(worker: Any, task_id: str) -> Callable[[float, str], None]:
    """Progress as Dask events the client subscribes to, a few a second at most."""
    last = [0.0]

    def report(fraction: float, stage: str) -> None:
        now = time.monotonic()
        if now - last[0] < PROGRESS_INTERVAL and fraction < 1.0:
            return
        last[0] = now
        message = {"task": task_id, "fraction": float(fraction), "stage": str(stage)[:200]}
        worker.log_event(PROGRESS_TOPIC, message)

    return report


def _named(store: ObjectStore, digest: str, name: str, folder: Path) -> Path:
    """The input as the engine should see it: a folder for a tree, else a link with its name."""
    stored = Path(os.path.abspath(store.path(digest)))
    if is_tree(digest):
        return stored
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / name
    link.symlink_to(stored)
    return link


def _check_identity(backend: Backend, task: StepTask, params: dict[str, Any]) -> None:
    """Refuse to run under a key made for another engine: same key must mean same bytes."""
    complete = OPS[task.op].params.model_validate(params).model_dump(mode="json")
    mine = backend.identity().key_fields(task.op, complete)
    if mine == task.identity:
        return
    names = sorted(set(mine) | set(task.identity))
    described = ", ".join(
        f"{name} {task.identity.get(name)!r} (client) vs {mine.get(name)!r} (worker)"
        for name in names
        if mine.get(name) != task.identity.get(name)
    )
    raise BackendError(
        f"the worker's engine differs from the one the step was keyed for: {described}"
    )
