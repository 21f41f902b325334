"""Helpers shared by the cache tests: stored step entries and deliberate damage."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ffpipe.cache.key import key_document, step_key
from ffpipe.cache.steps import StepEntry
from ffpipe.cache.workspace import Workspace

IDENTITY = {"engine": "builtin", "engine_version": "0.3"}


def store_entry(
    workspace: Workspace,
    step: str,
    outputs: dict[str, bytes],
    *,
    pipeline: str = "portrait",
    last_used: float | None = None,
) -> StepEntry:
    """Put ``outputs`` into the object store and record a step entry that produced them."""
    digests = {name: workspace.objects.put_bytes(data) for name, data in outputs.items()}
    params = {"step": step, "sizes": sorted(len(data) for data in outputs.values())}
    key = step_key("enhance", params, {}, IDENTITY)
    moment = time.time() if last_used is None else last_used
    entry = StepEntry(
        key=key,
        pipeline=pipeline,
        instance_id=step,
        outputs=digests,
        result={"faces": 1},
        key_document=key_document("enhance", params, {}, IDENTITY),
        created=moment,
        last_used=moment,
    )
    workspace.steps.put(key, entry)
    return entry


def damage(path: Path) -> None:
    """Flip the first byte of a stored (read-only) file in place, as bit rot or an editor would."""
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))
    os.chmod(path, 0o444)


def age(path: Path, seconds: float) -> None:
    """Set a file's mtime ``seconds`` into the past (so the stat table trusts it at once)."""
    moment = time.time_ns() - int(seconds * 1e9)
    os.utime(path, ns=(moment, moment))
