"""Run pipelines in subprocesses under switched-down CPU features, and collect what they made.

Each configuration is a set of the libraries' own dispatch switches, so one machine plays
processors of several levels: OpenCV's ``OPENCV_CPU_DISABLE``, numpy's
``NPY_DISABLE_CPU_FEATURES``, OpenBLAS's ``OPENBLAS_CORETYPE`` and glibc's ``GLIBC_TUNABLES``
(its libm picks FMA variants of exp, log, sin... by them). dlib is built for AVX without runtime
dispatch, so it needs no switch; x264 and libvpx choose their own code (bit-exact between their
paths; encoding.py holds x264 to AVX2). A level above what this processor has is the same as
"all": the configurations then prove less, never fail for it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent

_OPENCV_AVX512 = (
    "AVX512F,AVX512BW,AVX512CD,AVX512DQ,AVX512VL,AVX512-COMMON,AVX512-SKX,AVX512-CLX,AVX512-ICL"
)
_OPENCV_AVX = "FP16,AVX,FMA3,AVX2,AVX_VNNI"
_GLIBC_AVX512 = "-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD"
_GLIBC_AVX = "-AVX,-AVX2,-FMA,-FMA4,-F16C,-BMI1,-BMI2,-LZCNT,-MOVBE"


def _numpy_features() -> list[str]:
    """The optional (dispatched) features this numpy may use on this processor."""
    import numpy

    core = getattr(numpy, "_core", None) or numpy.core
    return list(core._multiarray_umath.__cpu_dispatch__)


def _numpy_above(level: str) -> str:
    """numpy's dispatched features above ``level``: AVX-512 above x86-64-v3; AVX and AVX2 too
    above x86-64-v2."""
    names = _numpy_features()
    if level == "x86-64-v3":
        return " ".join(name for name in names if name == "X86_V4" or name.startswith("AVX512"))
    return " ".join(names)


def cpu_configurations() -> dict[str, dict[str, str]]:
    """Environment additions per configuration: every feature, up to AVX2 (x86-64-v3), up to
    SSE4.2 (x86-64-v2: numpy's own baseline, below which it does not run)."""
    return {
        "all": {},
        "x86-64-v3": {
            "OPENCV_CPU_DISABLE": _OPENCV_AVX512,
            "NPY_DISABLE_CPU_FEATURES": _numpy_above("x86-64-v3"),
            "GLIBC_TUNABLES": f"glibc.cpu.hwcaps={_GLIBC_AVX512}",
            **_openblas("Haswell", "avx2"),
        },
        "x86-64-v2": {
            "OPENCV_CPU_DISABLE": f"{_OPENCV_AVX},{_OPENCV_AVX512}",
            "NPY_DISABLE_CPU_FEATURES": _numpy_above("x86-64-v2"),
            "GLIBC_TUNABLES": f"glibc.cpu.hwcaps={_GLIBC_AVX},{_GLIBC_AVX512}",
            **_openblas("Nehalem", "sse4_2"),
        },
    }


def _openblas(core: str, needs: str) -> dict[str, str]:
    """OpenBLAS's kernel choice, where the processor can run that kernel (else it would crash)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return {}
    return {"OPENBLAS_CORETYPE": core} if f" {needs}" in flags else {}


def lay_out(folder: Path, names: Iterable[str]) -> Path:
    """Copy the named example pipelines (without their locks) and the media into ``folder``,
    keeping their relative layout; returns the examples folder."""
    examples = folder / "pipelines" / "examples"
    examples.mkdir(parents=True)
    for name in names:
        shutil.copy(REPO / "pipelines" / "examples" / f"{name}.yaml", examples)
    shutil.copytree(REPO / "media", folder / "media")
    return examples


def run_pipelines(
    folder: Path,
    pipelines: Iterable[Path],
    environment: dict[str, str],
    *,
    one_cpu: bool = False,
    timeout: float = 1200,
) -> dict[str, object]:
    """Run each pipeline with a fresh workspace in a subprocess; ``{pipeline/step: outputs}``
    from the lock files it writes. ``one_cpu`` pins the subprocess to one processor, so
    anything that sizes its threads by the processor count sizes them differently."""
    workspace = folder / f"workspace-{len(list(folder.glob('workspace-*')))}"
    env = {**os.environ, **environment}
    cpus = sorted(os.sched_getaffinity(0))[:1] if one_cpu else None
    made: dict[str, object] = {}
    for pipeline in pipelines:
        lock = pipeline.with_suffix(".lock")
        lock.unlink(missing_ok=True)
        command = [sys.executable, "-m", "ffpipe", "run", str(pipeline)]
        command += ["--workspace", str(workspace), "--allow-outside-files"]
        finished = subprocess.run(
            command,
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        assert finished.returncode == 0, f"{pipeline.name} {environment}: {finished.stderr}"
        document = yaml.safe_load(lock.read_text(encoding="utf-8"))
        for step, entry in document["steps"].items():
            made[f"{pipeline.stem}/{step}"] = entry["outputs"]
    return made


def disagreements(runs: dict[str, dict[str, object]]) -> list[str]:
    """The steps whose outputs differ between the runs, each with the runs' digests."""
    found = []
    for step in sorted(set().union(*runs.values())):
        values = {name: repr(made.get(step)) for name, made in runs.items()}
        if len(set(values.values())) > 1:
            groups: dict[str, list[str]] = {}
            for name, value in values.items():
                groups.setdefault(value, []).append(name)
            found.append(f"{step}: " + " | ".join(map(", ".join, groups.values())))
    return found
