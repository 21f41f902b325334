"""The scheduler: ready steps run concurrently on the backend; everything else is decided here.

All workspace and template work happens on the calling thread, in dependency order; only the
backend calls (with their retries) run on worker threads. Cached steps therefore cost a key
computation and a lookup, and results do not depend on the order in which steps finish.

A chain of per-frame steps on one video (:mod:`ffpipe.run.fusion`) is scheduled as one node run
as one ``process`` call; its members are settled together. Steps that must run as
server jobs, or ask to (:mod:`ffpipe.run.jobs`), go through ``Backend.run_job`` when the backend
has a queue.
"""

from __future__ import annotations

import heapq
import os
import queue
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ffpipe.backends.base import Backend, BackendError, StepRequest, StepResult
from ffpipe.cache.steps import StepEntry
from ffpipe.cache.workspace import Workspace
from ffpipe.errors import UserError
from ffpipe.graph import build_graph, generations, named_nodes, select
from ffpipe.run import events as ev
from ffpipe.run.explain import CACHED, SKIPPED, decide_cached, is_forced
from ffpipe.run.fusion import FusedGroup, Fusion, find_fusion, is_video_target
from ffpipe.run.jobs import job_id_for, job_options, requires_job
from ffpipe.run.lockfile import build_lock, lock_path, write_lock
from ffpipe.run.outputs import OutputPathError, destination, place
from ffpipe.run.prepare import FILE_NAMES, PreparedStep, StepPreparer
from ffpipe.run.records import RunRecorder, new_run_id
from ffpipe.run.retry import call_with_retry
from ffpipe.spec import resolve_condition, resolve_output
from ffpipe.spec.instance import Deferred, LoadedPipeline, StepView

Reporter = Callable[[ev.Event], None]

RAN = "ran"
FAILED = "failed"
NOT_RUN = "not run"
_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class RunOptions:
    """What ``ffpipe run`` lets people choose."""

    jobs: int | None = None
    """Steps at once; None asks the backend."""
    targets: tuple[str, ...] = ()
    force: tuple[str, ...] = ()
    force_all: bool = False
    keep_going: bool = False
    out_dir: Path | None = None
    """Default: ``out/<pipeline name>``."""
    write_lock: bool = True
    fuse: bool = True
    """Run chains of per-frame steps on one video as one pass (``--no-fuse`` turns it off)."""


@dataclass
class StepOutcome:
    """What happened to one instance in a run."""

    status: str
    reasons: tuple[str, ...] = ()
    key: str | None = None
    duration: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    fused_into: str | None = None
    """The fused group that produced this step's result, for members without an artifact."""
    group: tuple[str, ...] = ()
    """All members of the fused group this step belongs to."""
    job_id: str | None = None
    """The server job the step ran as, when it ran as one."""
    user_error: bool = False
    """Failed on a mistake of the user's (a deferred value of the pipeline, a bad input URL)."""


@dataclass
class RunSummary:
    """The outcome of a run: overall status, per-instance outcomes and the files written."""

    run_id: str
    status: str
    """``ok``, ``failed`` or ``interrupted``."""
    steps: dict[str, StepOutcome]
    outputs: dict[str, Path]
    record: Path

    def count(self, status: str) -> int:
        return sum(outcome.status == status for outcome in self.steps.values())

    @property
    def user_error(self) -> bool:
        """Whether a step failed on a mistake in the pipeline or its inputs (exit code 2)."""
        return any(o.status == FAILED and o.user_error for o in self.steps.values())


@dataclass
class _Running:
    prepared: PreparedStep
    workdir: Path
    started: float
    deadline: float | None
    reasons: tuple[str, ...]


def run_pipeline(
    pipeline: LoadedPipeline,
    workspace: Workspace,
    backend: Backend,
    options: RunOptions | None = None,
    reporter: Reporter | None = None,
) -> RunSummary:
    """Run ``pipeline`` on ``backend``, reusing cached steps, and write its outputs and records.

    Raises KeyboardInterrupt (after recording the run as interrupted) when interrupted.
    """
    return _Run(pipeline, workspace, backend, options or RunOptions(), reporter).execute()


class _Run:
    def __init__(
        self,
        pipeline: LoadedPipeline,
        workspace: Workspace,
        backend: Backend,
        options: RunOptions,
        reporter: Reporter | None,
    ) -> None:
        self.pipeline = pipeline
        self.workspace = workspace
        self.backend = backend
        self.options = options
        self.identity = backend.identity()
        self.preparer = StepPreparer(pipeline, workspace, self.identity)
        self.run_id = new_run_id()
        self.recorder = RunRecorder(workspace.runs_dir / self.run_id)
        self.reporter = reporter
        self.graph = build_graph(pipeline)
        self.order = [node for generation in generations(self.graph) for node in generation]
        named_nodes(self.graph, options.force, "--force")
        chosen = select(self.graph, options.targets) if options.targets else set(self.order)
        self.selected = [node for node in self.order if node in chosen]
        self.fusion = (
            find_fusion(pipeline, self.graph.subgraph(self.selected)) if options.fuse else Fusion()
        )
        self.groups: dict[str, FusedGroup] = {}
        """Fused groups being run or reused, by group id."""
        self.job_ids: dict[str, str] = {}
        self.jobs = max(1, options.jobs or backend.max_concurrency())
        self.views: dict[str, StepView] = {}
        self.outcomes: dict[str, StepOutcome] = {}
        self.counts: Counter[str] = Counter()
        self.pending: dict[str, int] = {}
        self.dependents: dict[str, list[str]] = {}
        self.ready: list[tuple[int, str]] = []
        self.position: dict[str, int] = {}
        self.running: dict[str, _Running] = {}
        self.done_queue: queue.Queue[tuple[str, StepResult | BaseException]] = queue.Queue()
        self.work_queue: queue.SimpleQueue[tuple[PreparedStep, Path] | None] = queue.SimpleQueue()
        self.workers = 0
        self.free_workdirs: list[Path] = []
        self.workdir_count = 0
        self.cancel = threading.Event()
        self.scratch = workspace.tmp_dir / f"run-{self.run_id}-{os.getpid()}"
        self.started = time.time()

    def emit(self, event: ev.Event) -> None:
        self.recorder(event)
        if self.reporter is not None:
            self.reporter(event)

    def execute(self) -> RunSummary:
        self._check_output_names()
        self._check_backend()
        sweep_stale_scratch(self.workspace.tmp_dir)
        self.emit(
            ev.RunStart(
                run_id=self.run_id,
                pipeline=self.pipeline.name,
                steps=len(self.selected),
                jobs=self.jobs,
                backend=f"{self.identity.kind} ({self.identity.engine} "
                f"{self.identity.engine_version})",
            )
        )
        outputs: dict[str, Path] = {}
        try:
            # Shared: other runs may work alongside; gc and verify wait for us to finish.
            with self.workspace.lock(shared=True):
                self._schedule()
                reused = [o.key for o in self.outcomes.values() if o.status == CACHED and o.key]
                self.workspace.steps.mark_used(reused)
                status = "ok" if not self._count(FAILED) else "failed"
                outputs = self._publish(lock=status == "ok")
        except KeyboardInterrupt:
            self.cancel.set()
            self._finish("interrupted", outputs)
            raise
        finally:
            self._stop_workers()
            shutil.rmtree(self.scratch, ignore_errors=True)
        return self._finish(status, outputs)

    def _publish(self, *, lock: bool) -> dict[str, Path]:
        """Place the outputs whose steps all succeeded; after a full run, write the lock file."""
        written = self._write_outputs()
        if lock and self.options.write_lock and not self.options.targets:
            document = build_lock(
                self.pipeline, self.identity, self.outcomes, written, self.preparer.digest
            )
            write_lock(lock_path(self.pipeline.path), document)
        return {name: path for name, (path, _) in written.items()}

    # -- scheduling -------------------------------------------------------------------------

    def _schedule(self) -> None:
        """Start ready steps (in file order) up to ``jobs`` at once; collect them as they end."""
        chosen = set(self.selected)
        self.position = {node: index for index, node in enumerate(self.selected)}
        for node in self.selected:
            needs = [need for need in self.pipeline.instances[node].needs if need in chosen]
            self.pending[node] = len(needs)
            for need in needs:
                self.dependents.setdefault(need, []).append(node)
        self.ready = [(self.position[n], n) for n in self.selected if not self.pending[n]]
        heapq.heapify(self.ready)
        while True:
            while self.ready and len(self.running) < self.jobs and not self._stopping():
                _, node = heapq.heappop(self.ready)
                if node in self.outcomes:
                    continue  # a fused member, settled with its group
                blocked = self._blocked_reason(node)
                if blocked is None:
                    self._begin(node)
                else:
                    self._settle(node, StepOutcome(SKIPPED, (blocked,)))
                    self.emit(ev.StepSkipped(step=node, reason=blocked))
            if not self.running:
                break
            self._collect_one()
        for node in self.selected:
            if node not in self.outcomes:
                reason = self._blocked_reason(node) or "run stopped after a failure"
                status = SKIPPED if reason.startswith("upstream") else NOT_RUN
                self._settle(node, StepOutcome(status, (reason,)))
                self.emit(ev.StepSkipped(step=node, reason=reason))

    def _stopping(self) -> bool:
        return self._count(FAILED) > 0 and not self.options.keep_going

    def _blocked_reason(self, node: str) -> str | None:
        for need in sorted(self.pipeline.instances[node].needs):
            outcome = self.outcomes.get(need)
            if outcome is not None and outcome.status in (FAILED, SKIPPED, NOT_RUN):
                return f"upstream {need} {'failed' if outcome.status == FAILED else 'skipped'}"
        return None

    def _begin(self, node: str) -> None:
        instance = self.pipeline.instances[node]
        group = self.fusion.group_headed_by(node)
        try:
            if not resolve_condition(self.pipeline, instance, self.views):
                self._settle(node, StepOutcome(SKIPPED, ("condition is false",)))
                self.emit(ev.StepSkipped(step=node, reason="condition is false"))
                return
            prepared = None
            if group is not None:
                prepared = self.preparer.prepare_group(group, self.views)
                if is_video_target(prepared.params["target_media"]):
                    self.groups[group.id] = group
                else:
                    prepared = None
            if prepared is None:
                prepared = self.preparer.prepare(instance, self.views)
        except Exception as error:  # a user mistake in a deferred value, or a bad input
            self._fail(node, str(error), user_error=isinstance(error, UserError))
            return
        members = self._members(prepared.instance.id)
        forced = any(
            is_forced(self.pipeline.instances[m], self.options.force, self.options.force_all)
            for m in members
        )
        decision = decide_cached(self.preparer, prepared, forced)
        if decision.entry is not None and decision.view is not None:
            for member in members:
                self.views[member] = decision.view
            entry = decision.entry
            outcome = self._outcome(CACHED, prepared, entry.outputs, entry.result)
            self._settle_members(prepared.instance.id, outcome)
            self.emit(ev.StepCached(step=prepared.instance.id, key=prepared.key))
            return
        self._launch(prepared, decision.reasons)

    def _members(self, node: str) -> tuple[str, ...]:
        """The instances behind a scheduled node: a fused group's members, or the node itself."""
        group = self.groups.get(node)
        return group.members if group is not None else (node,)

    def _launch(self, prepared: PreparedStep, reasons: tuple[str, ...]) -> None:
        node = prepared.instance.id
        workdir = self._workdir()
        timeout = prepared.instance.timeout
        now = time.monotonic()
        self.running[node] = _Running(
            prepared, workdir, now, now + timeout if timeout else None, reasons
        )
        self.emit(ev.StepStart(step=node, op=prepared.instance.op, reasons=reasons))
        while self.workers < self.jobs:
            self._add_worker()
        self.work_queue.put((prepared, workdir))

    def _add_worker(self) -> None:
        """Start one more worker thread; daemons, so a hung backend call cannot block exit."""
        self.workers += 1
        threading.Thread(target=self._worker_loop, name="ffpipe-worker", daemon=True).start()

    def _stop_workers(self) -> None:
        for _ in range(self.workers):
            self.work_queue.put(None)
        self.workers = 0

    def _worker_loop(self) -> None:
        while (item := self.work_queue.get()) is not None:
            self._work(*item)

    def _workdir(self) -> Path:
        """An empty folder for one step: a recycled one when a finished step left it empty."""
        if self.free_workdirs:
            return self.free_workdirs.pop()
        self.workdir_count += 1
        workdir = self.scratch / f"{self.workdir_count:05d}"
        workdir.mkdir(parents=True)
        return workdir

    def _recycle(self, workdir: Path) -> None:
        if any(os.scandir(workdir)):
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            self.free_workdirs.append(workdir)

    def _work(self, prepared: PreparedStep, workdir: Path) -> None:
        node = prepared.instance.id

        def progress(fraction: float, stage: str) -> None:
            self.emit(ev.StepProgress(step=node, fraction=fraction, stage=stage))

        def retried(attempt: int, delay: float, error: Exception) -> None:
            self.emit(ev.StepRetry(step=node, attempt=attempt, delay=delay, error=str(error)))

        request = StepRequest(prepared.instance.op, prepared.params, workdir, progress)
        try:
            job_id = None
            if self._runs_as_job(prepared):
                job_id = self.job_ids[node] = job_id_for(prepared.key)

            def call() -> StepResult:
                if job_id is None:
                    return self.backend.run(request)
                return self.backend.run_job(request, job_id, job_options(prepared.instance.job))

            result: StepResult | BaseException = call_with_retry(
                call,
                prepared.instance.retry,
                on_retry=retried,
                cancel=self.cancel,
            )
        except BaseException as error:  # reported to the scheduler, which fails the step
            result = error
        self.done_queue.put((node, result))

    def _runs_as_job(self, prepared: PreparedStep) -> bool:
        """Asked for (``async: true``) or required by the catalog, on a backend with a queue."""
        if not self.backend.supports_jobs():
            return False
        return prepared.instance.asynchronous or requires_job(prepared.params)

    def _collect_one(self) -> None:
        deadlines = [r.deadline for r in self.running.values() if r.deadline is not None]
        wait = _POLL_SECONDS
        if deadlines:
            wait = max(0.0, min(wait, min(deadlines) - time.monotonic()))
        try:
            node, result = self.done_queue.get(timeout=wait)
        except queue.Empty:
            self._expire_timeouts()
            return
        running = self.running.pop(node, None)
        if running is None:
            return  # it timed out earlier and was already failed
        if isinstance(result, BaseException):
            self._recycle(running.workdir)
            self._fail(node, _message(result), time.monotonic() - running.started)
        else:
            self._store(running, result)

    def _expire_timeouts(self) -> None:
        now = time.monotonic()
        for node, running in list(self.running.items()):
            if running.deadline is not None and now >= running.deadline:
                del self.running[node]
                self._add_worker()  # the timed-out call still holds its worker
                timeout = running.prepared.instance.timeout
                self._fail(node, f"timed out after {timeout:g}s", now - running.started)

    def _store(self, running: _Running, result: StepResult) -> None:
        prepared = running.prepared
        node = prepared.instance.id
        duration = time.monotonic() - running.started
        if "output" not in result.files:
            self._fail(node, "the backend returned no primary output", duration)
            return
        changed = self.preparer.changed_inputs(prepared)
        if changed:
            self._recycle(running.workdir)
            self._fail(
                node,
                f"input {', '.join(changed)} changed while the step ran; its output was not "
                "cached (run again)",
                duration,
            )
            return
        objects = self.workspace.objects
        try:
            with self.workspace.lock("write"):
                digests = {
                    name: objects.put_tree(path, move=True)
                    if path.is_dir()
                    else objects.put_file(path, move=True)
                    for name, path in sorted(result.files.items())
                }
                now = time.time()
                entry = StepEntry(
                    key=prepared.key,
                    pipeline=self.pipeline.name,
                    instance_id=node,
                    outputs=digests,
                    result={
                        **result.result,
                        FILE_NAMES: {name: path.name for name, path in result.files.items()},
                    },
                    key_document=prepared.document,
                    created=now,
                    last_used=now,
                )
                self.workspace.steps.put(prepared.key, entry)
        except OSError as error:
            self._fail(node, f"cannot store outputs: {error}", duration)
            return
        finally:
            self._recycle(running.workdir)
        view = self.preparer.view_of(entry)
        if view is None:
            self._fail(node, "stored outputs vanished from the workspace", duration)
            return
        for member in self._members(node):
            self.views[member] = view
        outcome = self._outcome(RAN, prepared, digests, entry.result, running.reasons, duration)
        self._settle_members(node, replace(outcome, job_id=self.job_ids.get(node)))
        self.emit(ev.StepDone(step=node, duration=duration, substitutions=_substitutions(outcome)))

    def _outcome(
        self,
        status: str,
        prepared: PreparedStep,
        outputs: dict[str, str],
        result: dict[str, Any],
        reasons: tuple[str, ...] = (),
        duration: float = 0.0,
    ) -> StepOutcome:
        return StepOutcome(
            status=status,
            reasons=reasons,
            key=prepared.key,
            duration=duration,
            outputs=dict(outputs),
            result={key: value for key, value in result.items() if key != FILE_NAMES},
            params={k: v for k, v in prepared.params.items() if k not in prepared.input_digests},
            inputs=prepared.input_digests,
        )

    def _fail(
        self, node: str, message: str, duration: float = 0.0, *, user_error: bool = False
    ) -> None:
        outcome = StepOutcome(FAILED, duration=duration, error=message, user_error=user_error)
        self._settle_members(node, replace(outcome, job_id=self.job_ids.get(node)))
        self.emit(ev.StepFailed(step=node, error=message))

    def _settle_members(self, node: str, outcome: StepOutcome) -> None:
        """Settle ``node``, or each member of the fused group ``node``: the last member holds the
        group's artifact; the others point at it and say they were fused into it."""
        members = self._members(node)
        if len(members) == 1:
            self._settle(node, outcome)
            return
        for member in members[:-1]:
            fused = (f"fused into {node}", *outcome.reasons)
            self._settle(
                member,
                replace(outcome, reasons=fused, outputs={}, fused_into=node, group=members),
            )
        self._settle(members[-1], replace(outcome, group=members))

    def _settle(self, node: str, outcome: StepOutcome) -> None:
        self.outcomes[node] = outcome
        self.counts[outcome.status] += 1
        for dependent in self.dependents.get(node, ()):
            self.pending[dependent] -= 1
            if not self.pending[dependent]:
                heapq.heappush(self.ready, (self.position[dependent], dependent))

    def _count(self, status: str) -> int:
        return self.counts[status]

    # -- results ----------------------------------------------------------------------------

    def _out_dir(self) -> Path:
        return self.options.out_dir or Path("out") / self.pipeline.name

    def _check_backend(self) -> None:
        """Let the backend refuse the whole plan (missing endpoint, model) before any work."""
        steps = [
            (
                self.pipeline.instances[node].op,
                {
                    name: value
                    for name, value in self.pipeline.instances[node].params.items()
                    if not isinstance(value, Deferred)
                },
            )
            for node in self.selected
        ]
        try:
            self.backend.check(steps)
        except BackendError as error:
            raise UserError(str(error)) from None

    def _check_output_names(self) -> None:
        for spec in self.pipeline.outputs:
            destination(self._out_dir(), spec.name, Path(spec.name))

    def _write_outputs(self) -> dict[str, tuple[Path, str]]:
        out_dir = self._out_dir()
        written: dict[str, tuple[Path, str]] = {}
        for spec in self.pipeline.outputs:
            refs = spec.value.refs if isinstance(spec.value, Deferred) else frozenset()
            if not refs <= set(self.views):
                continue
            artifact = Path(resolve_output(self.pipeline, spec, self.views))
            target = destination(out_dir, spec.name, artifact)
            try:
                place(artifact, target)
            except OSError as error:  # e.g. a file where the output folder should be
                raise OutputPathError(
                    f"cannot write output {spec.name!r} to {target}: {error.strerror or error}"
                ) from None
            written[spec.name] = (target, self.preparer.artifact_digest(str(artifact)) or "")
        return written

    def _finish(self, status: str, outputs: dict[str, Path]) -> RunSummary:
        duration = time.time() - self.started
        self.emit(
            ev.RunDone(
                run_id=self.run_id,
                status=status,
                duration=duration,
                ran=self._count(RAN),
                cached=self._count(CACHED),
                failed=self._count(FAILED),
                skipped=self._count(SKIPPED) + self._count(NOT_RUN),
                outputs={name: str(path) for name, path in outputs.items()},
            )
        )
        record = self.recorder.finish(self._record(status, duration, outputs))
        return RunSummary(self.run_id, status, dict(self.outcomes), outputs, record)

    def _record(self, status: str, duration: float, outputs: dict[str, Path]) -> dict[str, Any]:
        identity = {
            "kind": self.identity.kind,
            "engine": self.identity.engine,
            "engine_version": self.identity.engine_version,
            "server": self.identity.server,
        }
        steps = {
            node: {
                "status": outcome.status,
                "cached": outcome.status == CACHED,
                "why": list(outcome.reasons),
                "key": outcome.key,
                "duration": round(outcome.duration, 6),
                "backend": identity,
                "substitutions": outcome.result.get("substitutions", []),
                "outputs": outcome.outputs,
                "error": outcome.error,
                "fused_into": outcome.fused_into,
                "fused": list(outcome.group),
                "job_id": outcome.job_id,
            }
            for node, outcome in self.outcomes.items()
        }
        return {
            "run_id": self.run_id,
            "pipeline": self.pipeline.name,
            "file": str(self.pipeline.path),
            "pipeline_digest": self.pipeline.digest,
            "params": dict(self.pipeline.params),
            "status": status,
            "started": self.started,
            "duration": round(duration, 6),
            "backend": identity,
            "jobs": self.jobs,
            "steps": steps,
            "outputs": {name: str(path) for name, path in outputs.items()},
        }


def sweep_stale_scratch(tmp_dir: Path) -> None:
    """Remove the scratch folders of runs whose process is gone (killed, say, with kill -9)."""
    for folder in tmp_dir.glob("run-*-*"):
        pid = folder.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _message(error: BaseException) -> str:
    if isinstance(error, BackendError):
        return str(error) or type(error).__name__
    return f"{type(error).__name__}: {error}"


def _substitutions(outcome: StepOutcome) -> tuple[str, ...]:
    return tuple(
        f"{item.get('requested')} -> {item.get('used')}"
        for item in outcome.result.get("substitutions", [])
        if isinstance(item, dict)
    )
