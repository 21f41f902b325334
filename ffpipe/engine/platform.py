"""An engine's platform fingerprint: what, besides the recipe and the engine's version, its output
bytes may depend on.

The builtin engine aims at the same bytes on every x86-64 processor (see docs/engine.md,
"Determinism"), but a version of its numeric libraries, another architecture or an engine on a GPU
can still give other bytes for the same recipe. The lock file records the fingerprint of the run
that wrote it, so ``ffpipe status`` can tell "same recipe, other bytes (platform differs)" apart
from a changed recipe. Reading it is cheap: /proc/cpuinfo and installed package metadata, no
library is imported.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable
from functools import cache
from importlib import metadata
from pathlib import Path

# The x86-64 micro-architecture levels (the psABI's), each the CPU flags it adds to the one below.
_X86_LEVELS = (
    ("x86-64-v2", ("cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3")),
    ("x86-64-v3", ("avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave")),
    ("x86-64-v4", ("avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl")),
)


@cache
def cpu_level() -> str:
    """The processor's instruction-set level: ``x86-64-v1`` to ``x86-64-v4`` where /proc/cpuinfo
    tells, else the machine's architecture name (``arm64``, ``x86_64``)."""
    machine = platform.machine().lower() or "unknown"
    if machine not in ("x86_64", "amd64"):
        return machine
    flags = _cpu_flags()
    if flags is None:
        return machine
    level = "x86-64-v1"
    for name, required in _X86_LEVELS:
        if not flags.issuperset(required):
            break
        level = name
    return level


def _cpu_flags() -> frozenset[str] | None:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return None


def package_versions(names: Iterable[str]) -> dict[str, str]:
    """``{name: version}`` of installed distributions; ``"absent"`` for one not installed."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def fingerprint(packages: Iterable[str], *, gpu: str | None = None) -> dict[str, str]:
    """The platform fingerprint: CPU level, the versions of ``packages`` and the GPU, if one is
    used (flat, string values, stable order)."""
    found = {"cpu": cpu_level(), **package_versions(packages)}
    if gpu:
        found["gpu"] = gpu
    return found
