"""Imports inside the server run one way (docs/architecture.md, "The server").

``protocols`` builds on ``http``, ``jobs`` and the core; ``http`` and ``jobs`` on the core only;
the core on none of them, except the two modules that assemble a server (and retention, which
sweeps finished jobs too). Read with ``ast``,
without importing anything; lazy imports count as much as module-level ones.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parent.parent / "ffpipe" / "server"
ASSEMBLERS = frozenset({"ffpipe.server.app", "ffpipe.server.jobs_app"})
"""Core modules that put the parts together, so they may import every part."""
RETENTION = "ffpipe.server.retention"
"""The sweeper of old uploads, outputs and finished jobs: the one core module built on jobs."""
PART_MAY_IMPORT: dict[str, frozenset[str]] = {
    "core": frozenset({"core"}),
    "http": frozenset({"core", "http"}),
    "jobs": frozenset({"core", "jobs"}),
    "protocols": frozenset({"core", "http", "jobs", "protocols"}),
}
WEB_FRAMEWORKS = ("fastapi", "starlette", "gradio", "uvicorn")
STANDALONE_PROTOCOLS = ("ffpipe.server.protocols.rest_jobs", "ffpipe.server.protocols.legacy")
"""Protocols no other protocol may import: each is a way in of its own."""


def _module(path: Path) -> str:
    parts = path.relative_to(SERVER.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[2] in PART_MAY_IMPORT else "core"


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _server_modules() -> list[tuple[Path, str]]:
    return [(path, _module(path)) for path in sorted(SERVER.rglob("*.py"))]


def test_the_parts_import_one_way() -> None:
    wrong = []
    for path, module in _server_modules():
        if module in ASSEMBLERS:
            continue
        allowed = PART_MAY_IMPORT[_part(module)] | ({"jobs"} if module == RETENTION else set())
        for line, target in _imports(path):
            if target.startswith("ffpipe.server.") and _part(target) not in allowed:
                wrong.append(f"{path.name}:{line}: {module} imports {target}")
    assert wrong == []


def test_the_job_domain_serves_no_http() -> None:
    wrong = [
        f"{path.name}:{line}: {target}"
        for path, module in _server_modules()
        if _part(module) == "jobs"
        for line, target in _imports(path)
        if target.split(".")[0] in WEB_FRAMEWORKS
    ]
    assert wrong == []


@pytest.mark.parametrize("protocol", STANDALONE_PROTOCOLS)
def test_no_protocol_goes_through_another(protocol: str) -> None:
    importers = [
        module
        for path, module in _server_modules()
        if _part(module) == "protocols" and module != protocol
        if any(
            target == protocol or target.startswith(protocol + ".") for _, target in _imports(path)
        )
    ]
    assert importers == []


def test_the_rule_itself() -> None:
    assert _part("ffpipe.server.jobs.service") == "jobs"
    assert _part("ffpipe.server.protocols.rest_jobs") == "protocols"
    assert _part("ffpipe.server.execute") == "core"
    assert _part("ffpipe.server.jobs_app") == "core"
    assert "protocols" not in PART_MAY_IMPORT["jobs"]
