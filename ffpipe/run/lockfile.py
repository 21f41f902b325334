"""The lock file beside a pipeline (``<name>.lock``, YAML, meant for git) and ``ffpipe status``.

It holds what a successful run used and made: the pipeline's digest and resolved params, the
digests of its inputs, each step's key, params, input and output digests, the engine identity,
and the declared outputs with their digests. Paths are relative to the lock file's folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import yaml

from ffpipe.backends.base import BackendIdentity
from ffpipe.errors import UserError
from ffpipe.pipeline.instance import LoadedPipeline
from ffpipe.run.download import is_url
from ffpipe.run.statuses import StepStatus

LOCK_VERSION = 1
DigestFn = Callable[[str], str]


class _Outcome(Protocol):
    status: str
    key: str | None
    params: dict[str, Any]
    inputs: dict[str, str]
    outputs: dict[str, str]


def lock_path(pipeline_file: Path) -> Path:
    """``pipelines/portrait.yaml`` -> ``pipelines/portrait.lock``."""
    return pipeline_file.with_suffix(".lock")


def _relative(path: str | Path, folder: Path) -> str:
    if isinstance(path, str) and is_url(path):
        return path
    return Path(os.path.relpath(Path(path).resolve(), folder.resolve())).as_posix()


def _input_entries(value: Any, folder: Path, digest: DigestFn) -> Any:
    if isinstance(value, list):
        return [_input_entries(item, folder, digest) for item in value]
    if isinstance(value, str):
        return {"path": _relative(value, folder), "digest": digest(value)}
    return {"value": value}


def build_lock(
    pipeline: LoadedPipeline,
    identity: BackendIdentity,
    outcomes: Mapping[str, _Outcome],
    outputs: Mapping[str, tuple[Path, str]],
    digest: DigestFn,
) -> dict[str, Any]:
    """The lock document of a successful run (plain data, stable order)."""
    folder = pipeline.path.parent
    steps = {
        node: {
            "op": pipeline.instances[node].op,
            "key": outcome.key,
            "params": dict(sorted(outcome.params.items())),
            "inputs": dict(sorted(outcome.inputs.items())),
            "outputs": dict(sorted(outcome.outputs.items())),
            # A fused group's last member holds the one ``process`` call that made its output.
            **({"fused": list(group)} if (group := getattr(outcome, "group", ())) else {}),
            # What made it, when the engine says (FaceFusion: versions, model hashes, device).
            **({"provenance": made} if (made := _provenance(outcome)) else {}),
        }
        for node, outcome in outcomes.items()
        if outcome.key is not None and outcome.outputs
    }
    return {
        "version": LOCK_VERSION,
        "pipeline": pipeline.name,
        "file": pipeline.path.name,
        "digest": pipeline.digest,
        "params": dict(sorted(pipeline.params.items())),
        "engine": identity.key_fields(),
        **({"platform": dict(sorted(identity.platform.items()))} if identity.platform else {}),
        "inputs": {
            name: _input_entries(value, folder, digest)
            for name, value in sorted(pipeline.inputs.items())
        },
        "steps": dict(sorted(steps.items())),
        "outputs": {
            name: {"path": _relative(path, folder), "digest": output_digest}
            for name, (path, output_digest) in sorted(outputs.items())
        },
    }


def _provenance(outcome: Any) -> dict[str, Any] | None:
    result = getattr(outcome, "result", None) or {}
    made = result.get("provenance") if isinstance(result, Mapping) else None
    return dict(made) if isinstance(made, Mapping) else None


def write_lock(path: Path, document: Mapping[str, Any]) -> None:
    """Write the lock file atomically, keys in the order given.

    A lock that differs only in its platform fingerprint is left as it is: the same bytes made on
    another machine do not make the committed lock file "modified" (a lock written before
    fingerprints were recorded gets one).
    """
    header = "# Written by `ffpipe run`; commit it. `ffpipe status` compares it with the tree.\n"
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    body = yaml.dump(dict(document), Dumper=dumper, sort_keys=False, allow_unicode=True)
    text = header + body
    if path.is_file() and _same_but_platform(path.read_text(encoding="utf-8"), text):
        return
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except BaseException:
        # Beside the user's pipeline, where a stray file would end up in git.
        temporary.unlink(missing_ok=True)
        raise


def _same_but_platform(old_text: str, new_text: str) -> bool:
    if old_text == new_text:
        return True
    try:
        old, new = yaml.safe_load(old_text), yaml.safe_load(new_text)
    except yaml.YAMLError:
        return False
    if not isinstance(old, dict) or not isinstance(new, dict) or "platform" not in old:
        return False
    old.pop("platform")
    new.pop("platform", None)
    return old == new


class LockFileError(UserError):
    """A lock file that cannot be read as one (say, left with git merge-conflict markers)."""


_MAPPINGS = ("params", "engine", "platform", "inputs", "steps", "outputs")


def read_lock(path: Path) -> dict[str, Any] | None:
    """The lock document, or None when there is none.

    Raises :class:`LockFileError` when the file is not a lock document.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise LockFileError(f"cannot read the lock file {path}: {error}") from None
    redo = "; run `ffpipe run` on its pipeline to write it again"
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        at = f":{where.line + 1}:{where.column + 1}" if where is not None else ""
        raise LockFileError(f"{path}{at}: the lock file is not valid YAML{redo}") from None
    if not isinstance(document, dict):
        raise LockFileError(f"{path}: the lock file is not a mapping{redo}")
    for section in _MAPPINGS:
        if not isinstance(document.get(section) or {}, dict):
            raise LockFileError(f"{path}: {section} in the lock file is not a mapping{redo}")
    for name, entry in (document.get("outputs") or {}).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise LockFileError(f"{path}: outputs.{name} in the lock file has no path{redo}")
    return document


def _flatten_inputs(entries: Any) -> list[dict[str, Any]]:
    if isinstance(entries, list):
        return [item for entry in entries for item in _flatten_inputs(entry)]
    return [entries] if isinstance(entries, dict) and "path" in entries else []


def differences(
    pipeline: LoadedPipeline,
    lock: Mapping[str, Any],
    digest: DigestFn,
    platform: Callable[[], Mapping[str, str]] | None = None,
) -> list[str]:
    """What in the working tree no longer matches ``lock``; empty when up to date.

    ``digest`` gives a file's content digest (a stat-table lookup, so unchanged files are not
    re-read). Output folders are checked for presence only. ``platform`` gives the engine's
    platform fingerprint here (asked only when an output differs): an output whose bytes differ
    while the recipe is unchanged and the platform differs from the lock's is told apart
    ("same recipe, other bytes (platform differs: ...)").
    """
    found: list[str] = []
    folder = pipeline.path.parent
    if lock.get("digest") != pipeline.digest:
        found.append(f"pipeline file {pipeline.path.name} changed")
    locked_params = lock.get("params") or {}
    for name in sorted(set(locked_params) | set(pipeline.params)):
        before, now = locked_params.get(name), pipeline.params.get(name)
        if before != now:
            found.append(f"param {name}: {before!r} in the lock, {now!r} now")
    locked_inputs = lock.get("inputs") or {}
    for name in sorted(set(locked_inputs) | set(pipeline.inputs)):
        if name not in locked_inputs or name not in pipeline.inputs:
            found.append(f"input {name} {'added' if name in pipeline.inputs else 'removed'}")
            continue
        current = _input_entries(pipeline.inputs[name], folder, _no_digest)
        found += _input_changes(name, locked_inputs[name], current, folder, digest)
    recipe_changed = bool(found)
    for name, entry in sorted((lock.get("outputs") or {}).items()):
        path = (folder / entry["path"]).resolve()
        if not path.exists():
            found.append(f"output {name} ({entry['path']}) is missing")
        elif path.is_file() and digest(str(path)) != entry.get("digest"):
            platform_change = "" if recipe_changed else _platform_change(lock, platform)
            if platform_change:
                found.append(
                    f"output {name} ({entry['path']}): same recipe, other bytes "
                    f"(platform differs: {platform_change})"
                )
            else:
                found.append(f"output {name} ({entry['path']}) differs from the lock")
    return found


def _platform_change(
    lock: Mapping[str, Any], platform: Callable[[], Mapping[str, str]] | None
) -> str:
    """What differs between the lock's platform fingerprint and this one; empty if nothing does
    or either is unknown (a lock written before fingerprints were recorded)."""
    locked = lock.get("platform")
    if not locked or platform is None:
        return ""
    now = platform()
    # A name this side cannot tell yet (an engine not started) is no evidence; a GPU gone is.
    names = sorted(set(now) | {name for name in locked if name == "gpu"})
    return ", ".join(
        f"{name} {locked.get(name, 'none')} -> {now.get(name, 'none')}"
        for name in names
        if str(locked.get(name)) != str(now.get(name))
    )


def _no_digest(value: str) -> str:
    return ""


def _input_changes(
    name: str, locked: Any, current: Any, folder: Path, digest: DigestFn
) -> list[str]:
    locked_files = {item["path"]: item.get("digest") for item in _flatten_inputs(locked)}
    current_files = [item["path"] for item in _flatten_inputs(current)]
    if sorted(locked_files) != sorted(current_files):
        return [f"input {name}: the files it names changed"]
    changes = []
    for relative, locked_digest in sorted(locked_files.items()):
        value = relative if is_url(relative) else str((folder / relative).resolve())
        if not is_url(relative) and not Path(value).exists():
            changes.append(f"input {name} ({relative}) is missing")
        elif not is_url(relative) and digest(value) != locked_digest:
            changes.append(f"input {name} ({relative}) changed")
    return changes


class _Planned(Protocol):
    status: str
    reasons: tuple[str, ...]
    document: dict[str, Any]
    members: tuple[str, ...]

    @property
    def prepared(self) -> Any: ...

    @property
    def entry(self) -> Any: ...


def step_drift(
    lock: Mapping[str, Any], decisions: Mapping[str, _Planned], engine: Mapping[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """Per step of the lock and of the plan now: what differs, as plain data (empty: in sync).

    Each difference is ``{"kind": "parameter" | "input" | "engine" | "output" | "step" |
    "upstream", "name", "lock", "now"}``; ``decisions`` come from the planner, so a step whose
    inputs come from a step that will run names that step instead of a digest nobody knows yet.
    """
    locked_steps = lock.get("steps") or {}
    locked_engine = lock.get("engine") or {}
    # As in the lock: a fused group's last member stands for it; skipped steps make nothing.
    decisions = {
        node: decision
        for node, decision in decisions.items()
        if decision.status != "skipped" and node == (decision.members or (node,))[-1]
    }
    drift: dict[str, list[dict[str, Any]]] = {}
    for node in sorted(set(locked_steps) | set(decisions)):
        locked, decision = locked_steps.get(node), decisions.get(node)
        if locked is None or decision is None:
            change = "added" if locked is None else "removed"
            drift[node] = [_difference("step", node, change != "added", change == "added")]
            continue
        found = [
            _difference("engine", name, locked_engine.get(name), engine.get(name))
            for name in sorted(set(locked_engine) | set(engine))
            if locked_engine.get(name) != engine.get(name)
        ]
        prepared = decision.prepared
        if prepared is None:
            found += [
                _difference("upstream", reason, None, None)
                for reason in decision.reasons
                if reason.startswith("upstream ")
            ]
            drift[node] = found
            continue
        inputs = prepared.input_digests
        params = {k: v for k, v in prepared.params.items() if k not in inputs}
        defaults = _defaults(prepared.instance.op)
        locked_params = {**defaults, **(locked.get("params") or {})}
        found += _mapping_drift("parameter", locked_params, {**defaults, **params})
        found += _mapping_drift("input", locked.get("inputs") or {}, inputs)
        entry = decision.entry
        if entry is not None and decision.status == StepStatus.CACHED:
            found += _mapping_drift("output", locked.get("outputs") or {}, entry.outputs)
        drift[node] = found
    return drift


def _defaults(op: str) -> dict[str, Any]:
    """The op's catalog defaults as JSON values: the lock leaves them out of each step."""
    from pydantic_core import to_jsonable_python

    from ffpipe.catalog import OPS

    if op not in OPS:
        return {}
    fields = OPS[op].params.model_fields
    return {
        name: to_jsonable_python(field.get_default(call_default_factory=True))
        for name, field in fields.items()
        if not field.is_required()
    }


def _mapping_drift(
    kind: str, locked: Mapping[str, Any], now: Mapping[str, Any]
) -> list[dict[str, Any]]:
    return [
        _difference(kind, name, locked.get(name), now.get(name))
        for name in sorted(set(locked) | set(now))
        if locked.get(name) != now.get(name)
    ]


def _difference(kind: str, name: str, locked: Any, now: Any) -> dict[str, Any]:
    return {"kind": kind, "name": name, "lock": locked, "now": now}
