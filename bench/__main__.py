"""Run every benchmark module (``bench_*.py``) and write BENCHMARKS.md with machine and date.

``python -m bench`` runs all; ``python -m bench NAME ...`` runs the named ones (e.g. ``engine``).
"""

from __future__ import annotations

import datetime
import importlib
import os
import platform
import sys
from pathlib import Path

from bench.common import Section

ROOT = Path(__file__).resolve().parent.parent


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, Python {platform.python_version()}"


def _modules(names: list[str]) -> list[str]:
    found = sorted(path.stem for path in Path(__file__).parent.glob("bench_*.py"))
    if not names:
        return found
    return [f"bench_{name}" for name in names if f"bench_{name}" in found]


def main(names: list[str]) -> int:
    sections: list[Section] = []
    for module_name in _modules(names):
        print(f"bench: {module_name}", flush=True)
        module = importlib.import_module(f"bench.{module_name}")
        sections.append(module.run())
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "# Benchmarks",
        "",
        f"Written by `make bench` on {today}.",
        f"Machine: {_machine()}.",
        "",
    ]
    for section in sections:
        parts += [f"## {section.title}", "", section.body.strip(), ""]
    target = ROOT / ("BENCHMARKS.md" if not names else f"bench/.work/partial-{'-'.join(names)}.md")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(parts))
    print(f"bench: wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
