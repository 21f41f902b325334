"""Running steps on a Dask ``distributed`` cluster: the client side of ``ffpipe run --cluster``.

The planner and the runner are the same as for a local run; only the call that makes a step's
output changes. Each step that must run becomes one Dask task (:func:`~ffpipe.run.cluster_worker.
run_step`) that asks for the op's resources (``GPU=1`` for the face models' ops, from the
catalog's op facts) and runs on a worker's warm engine. Inputs travel through the remote cache
by digest: what only this machine has is uploaded first, once. Workers push their outputs to the
remote cache and hand back digests, so the client downloads only the declared outputs, at the
end (:meth:`Cluster.pull`). Cached steps never reach the cluster.

``distributed`` is imported only here and in the worker module, when a cluster is used.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ffpipe.backends.base import Backend, BackendError, BackendIdentity, ProgressFn
from ffpipe.cache.objects import ObjectStore
from ffpipe.cache.steps import StepEntry
from ffpipe.cache.workspace import Workspace
from ffpipe.catalog import OPS
from ffpipe.errors import UserError
from ffpipe.run.cluster_task import StepDone, StepTask
from ffpipe.run.prepare import PreparedStep

if TYPE_CHECKING:
    from distributed import Client, Future

    from ffpipe.cache.remote import RemoteStore

CONNECT_TIMEOUT = 10.0
"""Seconds to wait for the scheduler before saying it cannot be reached."""


class ClusterUnavailable(UserError):
    """The scheduler cannot be reached, the cluster cannot run the plan, or there is no remote."""


def resources_of(op: str) -> dict[str, float]:
    """What a worker must offer to run ``op`` (empty: any worker)."""
    return OPS[op].resources if op in OPS else {}


def describe_resources(resources: Mapping[str, float]) -> str:
    """``GPU=1`` (or ``any worker``), as people and ``dask worker --resources`` write them."""
    if not resources:
        return "any worker"
    return ",".join(f"{name}={amount:g}" for name, amount in sorted(resources.items()))


@dataclass(frozen=True)
class ClusterStep:
    """One step as the cluster needs it: catalog parameters, inputs by digest, its key."""

    op: str
    params: dict[str, Any]
    """The parameters without the file fields."""
    inputs: dict[str, str]
    """File field -> digest."""
    files: dict[str, Path]
    """File field -> the local file (its name goes to the worker; its bytes, when the remote
    lacks them)."""
    key: str
    document: dict[str, Any]
    identity: dict[str, str]
    """The engine fields the key was made with; the worker's engine must match."""
    pipeline: str
    instance_id: str


@dataclass(frozen=True)
class ClusterResult:
    """What a step made on the cluster: its outputs live on the remote cache, by digest."""

    done: StepDone

    @property
    def worker(self) -> str:
        return self.done.worker


class Cluster:
    """A connection to a Dask scheduler, for the steps of one or more runs.

    ``make_backend`` builds the engine on each worker (it must be importable there: a
    module-level function or a ``functools.partial`` of one); ``engine_name`` tells apart the
    plugins of different engines. ``remote`` is the remote cache URL workers and client share.
    """

    def __init__(
        self,
        address: str,
        remote: str,
        make_backend: Callable[[], Backend],
        engine_name: str,
        *,
        timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self.address = address
        self.remote_url = remote
        self.client = _connect(address, timeout)
        self.plugin_name = f"ffpipe-engine-{engine_name}"
        self._futures: set[Future] = set()
        self._uploaded: set[str] = set()
        self._made: set[str] = set()
        """Digests workers pushed to the remote in this session."""
        self._lock = threading.Lock()
        self._remote: RemoteStore | None = None
        self._progress: dict[str, ProgressFn] = {}
        try:
            self._register(make_backend)
        except BaseException:
            self.client.close()
            raise

    # -- set-up ----------------------------------------------------------------------------

    def _register(self, make_backend: Callable[[], Backend]) -> None:
        from ffpipe.run.cluster_worker import PROGRESS_TOPIC, EnginePlugin

        plugin = EnginePlugin(make_backend, self.plugin_name)
        # Idempotent: workers that have the plugin keep their warm engine.
        self.client.register_plugin(plugin, name=self.plugin_name)
        self.client.subscribe_topic(PROGRESS_TOPIC, self._on_progress)

    def _on_progress(self, event: tuple[float, Any]) -> None:
        """A worker's progress message, handed to the step's own progress callback."""
        message = event[1] if isinstance(event, tuple) and len(event) == 2 else None
        if not isinstance(message, dict):
            return
        with self._lock:
            report = self._progress.get(str(message.get("task")))
        fraction, stage = message.get("fraction"), message.get("stage")
        if report is not None and isinstance(fraction, float) and isinstance(stage, str):
            report(fraction, stage)

    def workers(self) -> dict[str, dict[str, Any]]:
        """The scheduler's workers: address -> info (``resources``, ``nthreads``, ``name``)."""
        return dict(self.client.scheduler_info(n_workers=-1).get("workers", {}))

    def max_concurrency(self) -> int:
        """Steps the cluster can take at once now: its worker threads (at least 1)."""
        return max(1, sum(int(info.get("nthreads", 1)) for info in self.workers().values()))

    def check(self, ops: Iterable[str]) -> list[str]:
        """Refuse, before any work, ops no worker offers the resources for; returns notes.

        With no worker connected yet (an autoscaling cluster, say) the steps wait for one, and
        a note says so.
        """
        workers = self.workers()
        if not workers:
            return [f"cluster {self.address} has no workers yet; steps wait for one to join"]
        offered = [dict(info.get("resources") or {}) for info in workers.values()]
        missing = sorted(
            {
                f"{op} needs {describe_resources(need)}"
                for op in set(ops)
                if (need := resources_of(op)) and not any(_covers(have, need) for have in offered)
            }
        )
        if missing:
            raise ClusterUnavailable(
                f"no worker of cluster {self.address} can run: {'; '.join(missing)} (start "
                f'workers with e.g. dask worker {self.address} --resources "GPU=1")'
            )
        return []

    def remote_store(self) -> RemoteStore:
        """The shared remote cache, opened once."""
        from ffpipe.cache.remote import open_remote

        with self._lock:
            if self._remote is None:
                self._remote = open_remote(self.remote_url)
            return self._remote

    # -- running -----------------------------------------------------------------------------

    def run(
        self,
        prepared: PreparedStep,
        identity: BackendIdentity,
        workspace: Workspace,
        pipeline: str,
        progress: ProgressFn | None = None,
    ) -> ClusterResult:
        """Run one step of a pipeline on the cluster and wait for it (on an executor thread)."""
        op = prepared.instance.op
        inputs = prepared.input_digests
        complete = OPS[op].params.model_validate(prepared.params).model_dump(mode="json")
        step = ClusterStep(
            op=op,
            params={k: v for k, v in prepared.params.items() if k not in inputs},
            inputs=inputs,
            files={name: Path(str(prepared.params[name])) for name in inputs},
            key=prepared.key,
            document=prepared.document,
            identity=identity.key_fields(op, complete),
            pipeline=pipeline,
            instance_id=prepared.instance.id,
        )
        return self.run_step(step, workspace, progress, timeout=prepared.instance.timeout)

    def run_step(
        self,
        step: ClusterStep,
        workspace: Workspace | None = None,
        progress: ProgressFn | None = None,
        *,
        timeout: float | None = None,
    ) -> ClusterResult:
        """Upload what the step reads (from ``workspace`` when it holds it, else from its files),
        run it on a worker and wait; returns the worker's digests.

        Past ``timeout`` seconds the task is cancelled on the cluster (the runner has already
        reported the step as timed out).
        """
        from ffpipe.run.cluster_worker import run_step

        self._upload(step, workspace)
        task_id = f"ffpipe-{step.instance_id}-{uuid.uuid4().hex[:8]}"
        task = StepTask(
            op=step.op,
            params=step.params,
            inputs=step.inputs,
            names={name: path.name for name, path in step.files.items()},
            key=step.key,
            key_document=step.document,
            identity=step.identity,
            pipeline=step.pipeline,
            instance_id=step.instance_id,
            remote=self.remote_url,
            task_id=task_id,
        )
        future = self.client.submit(
            run_step,
            task.model_dump(mode="json"),
            self.plugin_name,
            key=task_id,
            resources=resources_of(step.op) or None,
            pure=False,
        )
        with self._lock:
            self._futures.add(future)
            if progress is not None:
                self._progress[task_id] = progress
        try:
            done = StepDone.model_validate(future.result(timeout=timeout))
        except TimeoutError:
            self.client.cancel([future], force=True)
            raise BackendError(f"timed out after {timeout:g}s; its task was cancelled") from None
        finally:
            with self._lock:
                self._futures.discard(future)
                self._progress.pop(task_id, None)
        with self._lock:
            self._made.update(done.outputs.values())
        return ClusterResult(done)

    def _upload(self, step: ClusterStep, workspace: Workspace | None) -> None:
        """Put the step's inputs on the remote cache, by digest, unless they are there."""
        from ffpipe.cache.remote import push_objects

        for name, digest in step.inputs.items():
            with self._lock:
                if digest in self._uploaded or digest in self._made:
                    continue
            remote = self.remote_store()
            if workspace is not None and workspace.objects.has(digest):
                push_objects(workspace.objects, remote, [digest])  # re-hashed as they leave
            elif not remote.has_object(digest):
                self._upload_file(remote, step.files[name], digest, workspace)
            with self._lock:
                self._uploaded.add(digest)

    @staticmethod
    def _upload_file(
        remote: RemoteStore, path: Path, digest: str, workspace: Workspace | None
    ) -> None:
        """Upload a local input under its digest, never bytes that no longer match it: the
        file is checked just before and after (through the stat table, read again only when
        it changed)."""

        def current() -> str:
            if workspace is not None:
                return workspace.stats.digest(path)
            from ffpipe.cache.fingerprint import digest_file

            return digest_file(path)

        if current() != digest:
            raise UserError(f"input {path} changed since the run read it; run again")
        remote.put_object(digest, path)
        if current() != digest:
            remote.delete_object(digest)
            raise UserError(f"input {path} changed while it was uploaded; run again")

    def fetch(
        self, outputs: Mapping[str, str], names: Mapping[str, str], folder: Path
    ) -> dict[str, Path]:
        """Download outputs (name -> digest) into ``folder`` under their file names, verified."""
        from ffpipe.cache.remote import fetch_objects

        scratch = folder / f".fetch-{uuid.uuid4().hex}"
        store = ObjectStore(scratch)
        try:
            fetch_objects(store, self.remote_store(), outputs.values())
            files = {}
            for name, digest in outputs.items():
                target = folder / (names.get(name) or name)
                stored = store.path(digest)
                if stored.is_dir():
                    shutil.copytree(stored, target)
                else:
                    shutil.copyfile(stored, target)
                files[name] = target
            return files
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def pull(self, workspace: Workspace, entries: Iterable[StepEntry]) -> list[StepEntry]:
        """Bring the entries' objects into the workspace, verified, and record the entries."""
        from ffpipe.cache.remote import pull_entries

        complete, report = pull_entries(workspace.objects, self.remote_store(), entries)
        if report.failed:
            raise UserError(
                "cannot fetch outputs from the remote cache: " + "; ".join(report.failed.values())
            )
        for entry in complete:
            workspace.steps.put(entry.key, entry)
        return complete

    def cancel(self) -> None:
        """Cancel every step still queued or running on the cluster."""
        with self._lock:
            futures = list(self._futures)
            self._futures.clear()
        if futures:
            self.client.cancel(futures, force=True)

    def close(self) -> None:
        self.cancel()
        self.client.close()


def _covers(have: Mapping[str, Any], need: Mapping[str, float]) -> bool:
    return all(float(have.get(name, 0)) >= amount for name, amount in need.items())


def _connect(address: str, timeout: float) -> Client:
    """A client of the scheduler at ``address``; one clear message when it cannot be reached."""
    try:
        from distributed import Client
    except ImportError:
        raise ClusterUnavailable(
            "running on a cluster needs Dask distributed: pip install 'ffpipe[cluster]'"
        ) from None
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ClusterUnavailable(
            f"cannot reach the cluster scheduler at {address}: {reason}"
        ) from None
