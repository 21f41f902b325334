"""The platform fingerprint an engine's lock records, and the lock file that keeps it."""

from __future__ import annotations

from pathlib import Path

import yaml

from ffpipe.engine import platform
from ffpipe.engine.builtin.capabilities import NUMERIC_PACKAGES
from ffpipe.engine.builtin.capabilities import platform as builtin_platform
from ffpipe.run.lockfile import write_lock


def test_the_cpu_level_follows_the_flags(monkeypatch):
    monkeypatch.setattr(platform.platform, "machine", lambda: "x86_64")
    v2 = frozenset(["cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3"])
    v3 = v2 | frozenset(["avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"])
    v4 = v3 | frozenset(["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"])
    cases = {
        frozenset({"sse2"}): "x86-64-v1",
        v2: "x86-64-v2",
        v3: "x86-64-v3",
        v3 | {"avx512f"}: "x86-64-v3",
        v4: "x86-64-v4",
    }
    for flags, level in cases.items():
        platform.cpu_level.cache_clear()
        monkeypatch.setattr(platform, "_cpu_flags", lambda flags=flags: flags)
        assert platform.cpu_level() == level
    platform.cpu_level.cache_clear()
    monkeypatch.setattr(platform.platform, "machine", lambda: "arm64")
    assert platform.cpu_level() == "arm64"
    platform.cpu_level.cache_clear()


def test_the_builtin_fingerprint_names_its_numeric_libraries():
    found = builtin_platform()
    assert set(found) == {"cpu", *NUMERIC_PACKAGES}
    assert all(value and value != "absent" for value in found.values())
    assert platform.package_versions(["no-such-distribution-here"]) == {
        "no-such-distribution-here": "absent"
    }


def _lock(tmp_path: Path, **changes: object) -> dict:
    document = {"version": 1, "pipeline": "p", "steps": {"a": {"outputs": {"output": "sha256:1"}}}}
    return {**document, **changes}


def test_a_lock_differing_only_in_its_platform_is_kept(tmp_path):
    path = tmp_path / "p.lock"
    write_lock(path, _lock(tmp_path, platform={"cpu": "x86-64-v3"}))
    written = path.read_text()
    write_lock(path, _lock(tmp_path, platform={"cpu": "x86-64-v4"}))
    assert path.read_text() == written
    # Other bytes are a new lock, fingerprint and all.
    write_lock(path, _lock(tmp_path, steps={}, platform={"cpu": "x86-64-v4"}))
    assert yaml.safe_load(path.read_text())["platform"] == {"cpu": "x86-64-v4"}


def test_a_lock_without_a_fingerprint_gets_one(tmp_path):
    path = tmp_path / "p.lock"
    write_lock(path, _lock(tmp_path))
    write_lock(path, _lock(tmp_path, platform={"cpu": "x86-64-v4"}))
    assert yaml.safe_load(path.read_text())["platform"] == {"cpu": "x86-64-v4"}
