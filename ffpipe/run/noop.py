"""The no-op fast path: a run (or plan) that nothing could change answers from a stamp.

After a completed run, a stamp in ``<workspace>/noop/`` remembers what its decisions depended on:
the pipeline file and every input file it read (size, mtime, inode), the environment when the
pipeline reads it, ffpipe's own code (the builtin engine's identity and version live there), the
step entries and objects reused, and the outputs and lock file written. When all of that is as
it was, ``ffpipe run`` replays the run's events as cached and writes a run record, and ``ffpipe
plan`` prints the plan it printed last, without rendering a template or building the graph.
Anything else (a changed or missing file, other ``-p`` values, ``--force``, ``--target``, a
server, URL inputs, globs, ``cache: false``) takes the full pass.

This module imports only the standard library and light parts of ffpipe: no networkx, jinja2,
pydantic models, numpy, OpenCV, dlib, PyAV or gradio.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ffpipe import __version__
from ffpipe.run import events as ev
from ffpipe.run.provenance import git_state
from ffpipe.run.records import RunRecorder, new_run_id, write_json_atomically
from ffpipe.run.statuses import RunStatus

STAMP_VERSION = 2

Reporter = Callable[[ev.Event], None]


def signature(path: str | Path) -> list[int] | None:
    """What says a file changed: size, mtime, ctime, inode (the stat table's order); None when it
    is gone. The ctime catches an in-place edit whose mtime was put back (``touch -r``)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino]


@functools.cache
def _code_fingerprint() -> str:
    """ffpipe's own files by size and mtime: an edited engine (its version) changes it."""
    root = Path(__file__).resolve().parent.parent
    found: list[tuple[str, int, int]] = []
    pending = [str(root)]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False) and entry.name != "__pycache__":
                    pending.append(entry.path)
                elif entry.name.endswith(".py"):
                    info = entry.stat()
                    found.append((entry.path, info.st_size, info.st_mtime_ns))
    return _digest([__version__, sorted(found)])


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def environment_digest() -> str:
    """The environment a pipeline's ``env`` templates would see."""
    return _digest(sorted(os.environ.items()))


def uses_server(server: str | None, settings: Path | None, *, explicit: bool = False) -> bool:
    """Whether a run would go to a server (whose engine may change without our knowing).

    ``settings`` is the settings file in effect (the project's ``ffpipe.toml``, or ``--config``
    when ``explicit``: that counts as naming a server whatever it holds). A settings file that
    only names a remote cache leaves the fast path open: with everything in the workspace, the
    remote has nothing to add.
    """
    if server or (settings is not None and explicit):
        return True
    return settings is not None and _names_server(settings)


def _names_server(path: Path) -> bool:
    """Whether a settings file names a server URL (YAML files are not parsed here: assume so)."""
    if path.suffix != ".toml":
        return True
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return True
    # Most files that reach here only name a remote: a look at the lines spares parsing them.
    bare = text.replace(" ", "").replace("\t", "").replace('"', "").replace("'", "")
    lines = (line.split("#", 1)[0] for line in bare.splitlines())
    if not any(line.startswith(("[server", "server")) for line in lines):
        return False
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # the same parser, as a package, before it joined the standard library
        import tomli as tomllib
    try:
        document = tomllib.loads(text)
    except ValueError:
        return True
    server = document.get("server", {})
    return not isinstance(server, dict) or bool(server.get("url"))


@dataclass(frozen=True)
class State:
    """What a pipeline's decisions depend on, apart from the files the stamp lists."""

    pipeline: Path
    params: tuple[str, ...]
    """The ``-p`` values as given."""
    workspace: Path
    fuse: bool
    options: tuple[tuple[str, str], ...] = ()
    """Any other option of the command (an engine choice, say), as given."""

    @classmethod
    def of(
        cls,
        pipeline: Path,
        params: Iterable[str],
        workspace: Path,
        fuse: bool,
        options: Mapping[str, Any] | None = None,
    ) -> State:
        return cls(
            Path(os.path.abspath(pipeline)),
            tuple(params),
            Path(os.path.abspath(workspace)),
            fuse,
            tuple(sorted((name, repr(value)) for name, value in (options or {}).items())),
        )

    def key(self) -> str:
        document = [
            STAMP_VERSION,
            str(self.pipeline),
            self.params,
            str(self.workspace),
            self.fuse,
            self.options,
        ]
        return _digest([document, _code_fingerprint()])

    def stamp_path(self) -> Path:
        return self.workspace / "noop" / f"{self.key()}.json"

    def plan_path(self, options: Mapping[str, Any]) -> Path:
        return self.workspace / "noop" / f"{self.key()}.plan-{_digest(options)[:16]}.json"


@dataclass(frozen=True)
class RunShape:
    """The run options that shape what a run writes and prints."""

    out_dir: Path
    jobs: int | None
    write_lock: bool
    strict_models: bool

    def document(self) -> dict[str, Any]:
        return {
            "out_dir": os.path.abspath(self.out_dir),
            "jobs": self.jobs,
            "write_lock": self.write_lock,
            "strict_models": self.strict_models,
        }


# -- checking ----------------------------------------------------------------------------------


def _load(path: Path) -> dict[str, Any] | None:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def _files_unchanged(files: Mapping[str, Any]) -> bool:
    return all(signature(path) == recorded for path, recorded in files.items())


def _state_holds(state: State, stamp: Mapping[str, Any]) -> bool:
    """The pipeline, its inputs, the environment, the entries and objects are as stamped."""
    if stamp.get("version") != STAMP_VERSION or not _files_unchanged(stamp["files"]):
        return False
    if stamp["env"] is not None and stamp["env"] != environment_digest():
        return False
    if not all(
        (info := signature(path)) is not None and info[0] == size
        for path, size in stamp["objects"].items()
    ):
        return False
    from ffpipe.cache.steps import StepStore

    keys = stamp["keys"]
    store = StepStore(state.workspace / "steps.db")
    try:
        return store.present(keys) == set(keys)
    finally:
        store.close()


def valid_stamp(state: State) -> dict[str, Any] | None:
    """The state's stamp when everything it depends on is unchanged, else None."""
    if not state.stamp_path().is_file():
        return None
    stamp = _load(state.stamp_path())
    if stamp is None or not _state_holds(state, stamp):
        return None
    return stamp


# -- run -----------------------------------------------------------------------------------------


def replay_run(state: State, shape: RunShape, reporter: Reporter | None) -> str | None:
    """Answer a run from its stamp when nothing changed: the new run's id; None when the full
    pass must run."""
    stamp = valid_stamp(state)
    if stamp is None or stamp["shape"] != shape.document():
        return None
    if not _files_unchanged(stamp["written"]):
        return None
    started = time.time()
    run_id = new_run_id()
    from ffpipe.cache.steps import StepStore

    runs = state.workspace / "runs"
    recorder = RunRecorder(runs / run_id)

    def emit(event: ev.Event) -> None:
        recorder(event)
        if reporter is not None:
            reporter(event)

    emit(ev.RunStart(run_id=run_id, **stamp["start"]))
    for kind, fields in stamp["events"]:
        emit(_EVENTS[kind](**fields))
    store = StepStore(state.workspace / "steps.db")
    try:
        store.mark_used(stamp["keys"])
    finally:
        store.close()
    duration = time.time() - started
    emit(ev.RunDone(run_id=run_id, status=RunStatus.OK, duration=duration, **stamp["done"]))
    record = {
        **stamp["record"],
        "run_id": run_id,
        "started": started,
        "duration": round(duration, 6),
        "replayed_from": stamp["run_id"],
        # A commit since the stamp changes no file the stamp checks, so ask git again.
        "git": git_state(Path(stamp["record"]["file"]).parent),
    }
    recorder.finish(record)
    return run_id


_EVENTS: dict[str, Callable[..., ev.Event]] = {
    "step_cached": ev.StepCached,
    "step_skipped": ev.StepSkipped,
    "step_warning": ev.StepWarning,
}


def forget(state: State) -> None:
    """Drop the state's stamp: a full pass is under way and may change what it says."""
    state.stamp_path().unlink(missing_ok=True)


def record_run(
    state: State,
    shape: RunShape,
    *,
    pipeline_signature: list[int] | None,
    environment: str,
    stamp: Mapping[str, Any],
) -> None:
    """Keep a completed run's stamp (built by :func:`ffpipe.run.stamps.run_stamp`)."""
    if pipeline_signature is None:
        return
    files = {str(state.pipeline): pipeline_signature, **stamp["files"]}
    uses_env = b"env" in state.pipeline.read_bytes()
    document = {
        **stamp,
        "version": STAMP_VERSION,
        "files": files,
        "env": environment if uses_env else None,
        "shape": shape.document(),
    }
    path = state.stamp_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomically(path, document)


# -- plan ----------------------------------------------------------------------------------------


def kept_plan(state: State, options: Mapping[str, Any], run_id: str) -> str | None:
    """The plan printed last for these options, if it was printed while run ``run_id``'s stamp
    held (the caller checked that it still does)."""
    kept = _load(state.plan_path(options))
    if kept is None or kept.get("run_id") != run_id:
        return None
    output = kept.get("output")
    return output if isinstance(output, str) else None


def record_plan(state: State, options: Mapping[str, Any], run_id: str, output: str) -> None:
    """Keep a plan's output, valid while the stamp of run ``run_id`` holds."""
    path = state.plan_path(options)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomically(path, {"run_id": run_id, "output": output})
