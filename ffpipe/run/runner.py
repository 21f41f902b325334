"""``run_pipeline``: a thin loop around the planner.

Take what the planner says is ready; settle what is cached or skipped; hand what must run to the
executor (threads, time limits, retries); keep each result (:mod:`ffpipe.run.results`) and tell
the planner. All decisions are the planner's (:mod:`ffpipe.run.planner`), so ``ffpipe plan``
predicts this loop. Workspace and template work happens on the calling thread; only backend calls
run on worker threads, so results do not depend on the order in which steps finish.

A fused chain of per-frame steps (:mod:`ffpipe.run.fusion`) is one node run as one ``process``
call. Steps that must run as server jobs, or ask to (:mod:`ffpipe.run.jobs`), go through
``Backend.run_job`` when the backend has a queue. With a cluster (:mod:`ffpipe.run.cluster`)
the call goes to a Dask worker instead and comes back as digests on the remote cache; the
outputs are fetched once the loop is done.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ffpipe.backends.base import Backend, BackendError, StepRequest, StepResult
from ffpipe.cache.leftovers import process_alive
from ffpipe.cache.steps import StepEntry
from ffpipe.cache.workspace import Workspace
from ffpipe.errors import UserError
from ffpipe.graph import build_graph, generations, named_nodes, select
from ffpipe.pipeline import resolve_output
from ffpipe.pipeline.instance import Deferred, LoadedPipeline, StepView
from ffpipe.run import events as ev
from ffpipe.run.cluster import Cluster, ClusterResult
from ffpipe.run.executor import Executor, Finished
from ffpipe.run.fusion import Fusion, find_fusion
from ffpipe.run.jobs import job_id_for, job_options, requires_job
from ffpipe.run.lockfile import build_lock, lock_path, write_lock
from ffpipe.run.outcome import StepOutcome
from ffpipe.run.planner import (
    CACHED,
    FAILED,
    NOT_RUN,
    RAN,
    SKIPPED,
    STOPPED,
    Decision,
    Planner,
)
from ffpipe.run.prepare import FILE_NAMES, PreparedStep, StepPreparer
from ffpipe.run.records import RunRecorder, new_run_id, run_record
from ffpipe.run.remote import FROM_REMOTE, RemoteSource
from ffpipe.run.results import StoreError, check_output_names, store_result, write_outputs
from ffpipe.run.retry import call_with_retry
from ffpipe.run.stamps import replayable, run_stamp
from ffpipe.run.statuses import RunStatus

Reporter = Callable[[ev.Event], None]


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
class RunSummary:
    """The outcome of a run: overall status, per-instance outcomes and the files written."""

    run_id: str
    status: str
    """``ok``, ``failed`` or ``interrupted``."""
    steps: dict[str, StepOutcome]
    outputs: dict[str, Path]
    record: Path
    stamp: dict[str, Any] | None = None
    """What the no-op fast path needs to answer the same run again (:mod:`ffpipe.run.stamps`);
    None unless the run completed in full and could be answered so."""

    def count(self, status: str) -> int:
        return sum(outcome.status == status for outcome in self.steps.values())

    @property
    def user_error(self) -> bool:
        """Whether a step failed on a mistake in the pipeline or its inputs (exit code 2)."""
        return any(o.status == FAILED and o.user_error for o in self.steps.values())


def run_pipeline(
    pipeline: LoadedPipeline,
    workspace: Workspace,
    backend: Backend,
    options: RunOptions | None = None,
    reporter: Reporter | None = None,
    remote: RemoteSource | None = None,
    cluster: Cluster | None = None,
) -> RunSummary:
    """Run ``pipeline`` on ``backend``, reusing cached steps, and write its outputs and records.

    With ``remote``, steps the workspace lacks are fetched from the remote cache when it has
    them (``cached (remote)``). With ``cluster``, the steps that must run go to its workers
    instead of ``backend`` (which still names the engine the keys are made for), and only the
    declared outputs are downloaded, at the end. Raises KeyboardInterrupt (after recording the
    run as interrupted, and cancelling its cluster tasks) when interrupted.
    """
    run = _Run(pipeline, workspace, backend, options or RunOptions(), reporter, remote, cluster)
    return run.execute()


def selected_instances(pipeline: LoadedPipeline, options: RunOptions) -> tuple[list[str], Fusion]:
    """The instances a run with ``options`` covers, in run order, and the chains it fuses."""
    graph = build_graph(pipeline)
    order = [node for generation in generations(graph) for node in generation]
    named_nodes(graph, options.force, "--force")
    chosen = select(graph, options.targets) if options.targets else set(order)
    selected = [node for node in order if node in chosen]
    fusion = find_fusion(pipeline, graph.subgraph(selected)) if options.fuse else Fusion()
    return selected, fusion


@dataclass
class _Running:
    decision: Decision
    workdir: Path
    stop: threading.Event = field(default_factory=threading.Event)
    """Set when the step timed out: the backend stops its work (the FaceFusion call)."""


class _Run:
    """One run's state: the planner, the executor, outcomes and the record."""

    def __init__(
        self,
        pipeline: LoadedPipeline,
        workspace: Workspace,
        backend: Backend,
        options: RunOptions,
        reporter: Reporter | None,
        remote: RemoteSource | None = None,
        cluster: Cluster | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.cluster = cluster
        self.workspace = workspace
        self.backend = backend
        self.options = options
        self.reporter = reporter
        self.remote = remote
        if remote is not None:
            remote.emit = self.emit
        self.identity = backend.identity()
        self.preparer = StepPreparer(pipeline, workspace, self.identity)
        self.selected, self.fusion = selected_instances(pipeline, options)
        self.planner = self._planner(remote)
        parallel = cluster.max_concurrency() if cluster else backend.max_concurrency()
        self.executor = Executor(options.jobs or parallel)
        self.remote_entries: dict[str, StepEntry] = {}
        """Instance (each member of a fused group) -> entry of the steps that ran on the
        cluster (their objects on the remote)."""
        self.run_id = new_run_id()
        self.recorder = RunRecorder(workspace.runs_dir / self.run_id)
        self.outcomes: dict[str, StepOutcome] = {}
        self.counts: Counter[str] = Counter()
        self.running: dict[str, _Running] = {}
        self.job_ids: dict[str, str] = {}
        self.cancel = threading.Event()
        self.scratch = workspace.tmp_dir / f"run-{self.run_id}-{os.getpid()}"
        self.workdirs = 0
        self.out_dir = options.out_dir or Path("out") / pipeline.name
        self.lock_written: Path | None = None
        self.started = time.time()

    def _planner(self, remote: RemoteSource | None) -> Planner:
        return Planner(
            self.pipeline,
            self.preparer,
            self.selected,
            self.fusion,
            force=self.options.force,
            force_all=self.options.force_all,
            remote=remote,
        )

    def emit(self, event: ev.Event) -> None:
        self.recorder(event)
        if self.reporter is not None:
            self.reporter(event)

    def execute(self) -> RunSummary:
        check_output_names(self.pipeline, self.out_dir)
        self._check_backend()
        sweep_stale_scratch(self.workspace.tmp_dir)
        self.emit(
            ev.RunStart(
                run_id=self.run_id,
                pipeline=self.pipeline.name,
                steps=len({self.pipeline.instances[node].step for node in self.selected}),
                instances=len(self.selected),
                jobs=self.executor.jobs,
                backend=self._backend_name(),
            )
        )
        outputs: dict[str, Path] = {}
        try:
            # Shared: other runs may work alongside; gc and verify wait for us to finish.
            with self.workspace.lock(shared=True):
                self._loop()
                reused = [o.key for o in self.outcomes.values() if o.status == CACHED and o.key]
                self.workspace.steps.mark_used(reused)
                status = RunStatus.OK if not self.counts[FAILED] else RunStatus.FAILED
                outputs = self._publish(lock=status == RunStatus.OK)
        except KeyboardInterrupt:
            self.cancel.set()
            if self.cluster is not None:
                self.cluster.cancel()
            self._finish(RunStatus.INTERRUPTED, outputs)
            raise
        finally:
            self.executor.close()
            shutil.rmtree(self.scratch, ignore_errors=True)
        return self._finish(status, outputs)

    # -- the loop ------------------------------------------------------------------------------

    def _loop(self) -> None:
        """Decide what is ready, run what must run, until nothing is ready or running."""
        while True:
            while not self._stopping() and (ready := self.planner.ready()):
                self.planner.look_ahead(ready)
                for node in ready:
                    if node not in self.planner.decisions:  # else a member, settled with its group
                        self._decide(node)
            if not self.executor.busy:
                break
            if self._stopping():
                for node in self.executor.drop_waiting():
                    self._release_unstarted(node)
            for finished in self.executor.collect():
                self._finished(finished)
        for node in self.planner.undecided():
            reason = self.planner.blocked_reason(node) or STOPPED
            status = SKIPPED if reason != STOPPED else NOT_RUN
            self.planner.give_up(node, status, reason)
            self._settle((node,), StepOutcome(status, (reason,)))
            self.emit(ev.StepSkipped(step=node, reason=reason))

    def _stopping(self) -> bool:
        return self.counts[FAILED] > 0 and not self.options.keep_going

    def _decide(self, node: str) -> None:
        try:
            decision = self.planner.decide(node)
        except Exception as error:  # a user mistake in a deferred value, or a bad input
            decision = self.planner.give_up(node, FAILED, str(error))
            self._fail(decision, str(error), user_error=isinstance(error, UserError))
            return
        if decision.status == SKIPPED:
            self._settle(decision.members, StepOutcome(SKIPPED, decision.reasons))
            self.emit(ev.StepSkipped(step=node, reason=decision.reasons[0]))
        elif decision.status == CACHED:
            entry = decision.entry
            assert entry is not None and decision.prepared is not None
            remote = FROM_REMOTE in decision.reasons
            outcome = _outcome(
                CACHED, decision.prepared, entry.outputs, entry.result, (FROM_REMOTE,) * remote
            )
            self._settle_decision(decision, outcome)
            node = decision.prepared.instance.id
            self.emit(ev.StepCached(step=node, key=entry.key, remote=remote))
            self._warn(decision.prepared.instance.id, outcome)
        else:
            self._launch(decision)

    def _launch(self, decision: Decision) -> None:
        prepared = decision.prepared
        assert prepared is not None
        node = prepared.instance.id
        self.workdirs += 1
        workdir = self.scratch / f"{self.workdirs:05d}"
        workdir.mkdir(parents=True)
        running = self.running[node] = _Running(decision, workdir)
        self.emit(ev.StepStart(step=node, op=prepared.instance.op, reasons=decision.reasons))
        self.executor.submit(
            node, self._call(prepared, workdir, running.stop), prepared.instance.timeout
        )

    def _call(
        self, prepared: PreparedStep, workdir: Path, stop: threading.Event
    ) -> Callable[[], StepResult | ClusterResult]:
        """The backend call of one step (with its retries), to run on a worker thread."""
        node = prepared.instance.id
        job_id = None
        if self._runs_as_job(prepared):
            job_id = self.job_ids[node] = job_id_for(prepared.key)

        def progress(fraction: float, stage: str) -> None:
            self.emit(ev.StepProgress(step=node, fraction=fraction, stage=stage))

        def retried(attempt: int, delay: float, error: Exception) -> None:
            self.emit(ev.StepRetry(step=node, attempt=attempt, delay=delay, error=str(error)))

        request = StepRequest(prepared.instance.op, prepared.params, workdir, progress, stop)

        def once() -> StepResult | ClusterResult:
            if self.cluster is not None:
                return self.cluster.run(
                    prepared, self.identity, self.workspace, self.pipeline.name, progress
                )
            if job_id is None:
                return self.backend.run(request)
            return self.backend.run_job(request, job_id, job_options(prepared.instance.job))

        def call() -> StepResult | ClusterResult:
            return call_with_retry(
                once, prepared.instance.retry, on_retry=retried, cancel=self.cancel
            )

        return call

    def _runs_as_job(self, prepared: PreparedStep) -> bool:
        """Asked for (``async: true``) or required by the catalog, on a backend with a queue."""
        if self.cluster is not None or not self.backend.supports_jobs():
            return False
        return prepared.instance.asynchronous or requires_job(prepared.params)

    def _release_unstarted(self, node: str) -> None:
        """A step queued but not started when the run stopped: not run, and nothing blocked."""
        running = self.running.pop(node)
        shutil.rmtree(running.workdir, ignore_errors=True)
        for member in running.decision.members:
            self.planner.give_up(member, NOT_RUN, STOPPED)
            self._settle((member,), StepOutcome(NOT_RUN, (STOPPED,)))
            self.emit(ev.StepSkipped(step=member, reason=STOPPED))

    def _finished(self, finished: Finished) -> None:
        running = self.running.pop(finished.name)
        decision, duration = running.decision, finished.duration
        try:
            if finished.timed_out:
                running.stop.set()
                timeout = decision.prepared.instance.timeout if decision.prepared else None
                self._fail(decision, f"timed out after {timeout:g}s", duration)
            elif finished.error is not None:
                self._fail(decision, _message(finished.error), duration)
            else:
                self._keep(decision, finished.value, duration)
        finally:
            if not finished.timed_out:  # a timed-out call may still write there: left to the sweep
                shutil.rmtree(running.workdir, ignore_errors=True)

    def _keep(
        self, decision: Decision, result: StepResult | ClusterResult, duration: float
    ) -> None:
        prepared = decision.prepared
        assert prepared is not None
        node = prepared.instance.id
        worker = None
        if isinstance(result, ClusterResult):
            entry, view = self._keep_remote(prepared, result)
            worker = result.worker
            for member in decision.members:
                self.remote_entries[member] = entry
        else:
            try:
                entry, view = store_result(self.workspace, self.preparer, prepared, result)
            except StoreError as error:
                self._fail(decision, str(error), duration)
                return
        self.planner.ran(decision, view)
        outcome = _outcome(RAN, prepared, entry.outputs, entry.result, decision.reasons, duration)
        outcome.job_id = self.job_ids.get(node)
        outcome.worker = worker
        self._settle_decision(decision, outcome)
        self.emit(
            ev.StepDone(
                step=node,
                duration=duration,
                substitutions=_substitutions(outcome),
                worker=worker,
            )
        )
        self._warn(node, outcome)

    def _keep_remote(
        self, prepared: PreparedStep, result: ClusterResult
    ) -> tuple[StepEntry, StepView]:
        """A step made on the cluster: its objects stay on the remote cache until an output
        needs them; later steps read them there by digest."""
        now = time.time()
        entry = StepEntry(
            key=prepared.key,
            pipeline=self.pipeline.name,
            instance_id=prepared.instance.id,
            outputs=dict(result.done.outputs),
            result=dict(result.done.result),
            key_document=prepared.document,
            created=now,
            last_used=now,
        )
        view = self.preparer.view_of(entry, require_objects=False)
        assert view is not None  # the task checked there is a primary output
        return entry, view

    def _warn(self, node: str, outcome: StepOutcome) -> None:
        for message in outcome.warnings:
            self.emit(ev.StepWarning(step=node, message=message))

    def _fail(
        self, decision: Decision, message: str, duration: float = 0.0, *, user_error: bool = False
    ) -> None:
        if decision.status != FAILED:
            self.planner.failed(decision)
        node = decision.prepared.instance.id if decision.prepared else decision.members[0]
        outcome = StepOutcome(FAILED, duration=duration, error=message, user_error=user_error)
        outcome.job_id = self.job_ids.get(node)
        self._settle_decision(decision, outcome)
        self.emit(ev.StepFailed(step=node, error=message))

    def _settle_decision(self, decision: Decision, outcome: StepOutcome) -> None:
        """Settle every member the decision covers: in a fused group the last member holds the
        artifact; the others point at it and carry the planner's reasons for them."""
        members = decision.members
        if len(members) == 1:
            self._settle(members, outcome)
            return
        for member in members:
            last = member == members[-1]
            self.outcomes[member] = replace(
                outcome,
                reasons=self.planner.decisions[member].reasons,
                outputs=outcome.outputs if last else {},
                fused_into=None if last else decision.group,
                group=members,
            )
            self.counts[outcome.status] += 1

    def _settle(self, members: tuple[str, ...], outcome: StepOutcome) -> None:
        for member in members:
            self.outcomes[member] = outcome
            self.counts[outcome.status] += 1

    # -- results -------------------------------------------------------------------------------

    def _backend_name(self) -> str:
        engine = f"{self.identity.engine} {self.identity.engine_version}"
        if self.cluster is not None:
            return f"cluster {self.cluster.address} ({engine})"
        return f"{self.identity.kind} ({engine})"

    def _check_backend(self) -> None:
        """Let the backend (and the cluster) refuse the whole plan before any work."""
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
        if self.cluster is not None:
            for note in self.cluster.check(op for op, _ in steps):
                self.emit(ev.RemoteNote(message=note))

    def _publish(self, *, lock: bool) -> dict[str, Path]:
        """Place the outputs whose steps all succeeded; after a full run, write the lock file."""
        self._pull_outputs()
        written = write_outputs(self.pipeline, self.preparer, self.planner.views, self.out_dir)
        if lock and self.options.write_lock and not self.options.targets:
            document = build_lock(
                self.pipeline, self.identity, self.outcomes, written, self.preparer.digest
            )
            self.lock_written = lock_path(self.pipeline.path)
            write_lock(self.lock_written, document)
        return {name: path for name, (path, _) in written.items()}

    def _pull_outputs(self) -> None:
        """Download what the declared outputs need of the steps that ran on the cluster."""
        if self.cluster is None or not self.remote_entries:
            return
        views = self.planner.views
        wanted: dict[str, StepEntry] = {}
        for spec in self.pipeline.outputs:
            refs = spec.value.refs if isinstance(spec.value, Deferred) else frozenset()
            if not refs <= set(views):
                continue
            digest = self.preparer.artifact_digest(resolve_output(self.pipeline, spec, views))
            for entry in self.remote_entries.values():
                if digest in entry.outputs.values():
                    wanted[entry.key] = entry
        if not wanted:
            return
        self.emit(ev.RemoteNote(message=f"fetching {len(wanted)} step outputs from the remote"))
        pulled = {entry.key for entry in self.cluster.pull(self.workspace, wanted.values())}
        for node, entry in self.remote_entries.items():
            if entry.key in pulled:
                # The view of the objects now here (a folder is materialised elsewhere than
                # the path predicted for it while it was only on the remote).
                view = self.preparer.view_of(entry)
                if view is not None:
                    self.planner.views[node] = view

    def _finish(self, status: str, outputs: dict[str, Path]) -> RunSummary:
        duration = time.time() - self.started
        self.emit(
            ev.RunDone(
                run_id=self.run_id,
                status=status,
                duration=duration,
                ran=self.counts[RAN],
                cached=self.counts[CACHED],
                failed=self.counts[FAILED],
                skipped=self.counts[SKIPPED] + self.counts[NOT_RUN],
                outputs={name: str(path) for name, path in outputs.items()},
            )
        )
        record = run_record(
            run_id=self.run_id,
            pipeline=self.pipeline,
            identity=self.identity,
            status=status,
            started=self.started,
            duration=duration,
            jobs=self.executor.jobs,
            outcomes=self.outcomes,
            outputs=outputs,
        )
        path = self.recorder.finish(record)
        stamp = self._stamp(outputs) if status == RunStatus.OK else None
        return RunSummary(self.run_id, status, dict(self.outcomes), outputs, path, stamp)

    def _stamp(self, outputs: dict[str, Path]) -> dict[str, Any] | None:
        options = self.options
        if options.targets or options.force or options.force_all or self.cluster is not None:
            return None
        if not replayable(self.pipeline, self.selected, self.preparer.downloads):
            return None
        return run_stamp(
            pipeline=self.pipeline,
            identity=self.identity,
            workspace=self.workspace,
            selected=self.selected,
            outcomes=self.outcomes,
            files_read=self.preparer.files_read(),
            outputs=outputs,
            lock=self.lock_written,
            jobs=self.executor.jobs,
            run_id=self.run_id,
        )


def _outcome(
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
        input_paths={name: str(prepared.params[name]) for name in prepared.input_digests},
        file_names=dict(result.get(FILE_NAMES, {})),
    )


def sweep_stale_scratch(tmp_dir: Path) -> None:
    """Remove the scratch folders of runs whose process is gone (killed, say, with kill -9)."""
    for folder in tmp_dir.glob("run-*-*"):
        pid = folder.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


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
