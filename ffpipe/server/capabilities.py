"""The capabilities document: the engine's own, plus this server's endpoints and limits."""

from __future__ import annotations

from typing import Any

from ffpipe import __version__
from ffpipe.engine.api import Engine
from ffpipe.server.execute import CAPABILITIES_ENDPOINT, ENDPOINT_ORDER
from ffpipe.server.settings import ServerSettings


def endpoint_table() -> dict[str, dict[str, Any]]:
    """api_name and fn_index of every endpoint."""
    names = [*ENDPOINT_ORDER, CAPABILITIES_ENDPOINT]
    return {name: {"api_name": f"/{name}", "fn_index": index} for index, name in enumerate(names)}


def server_capabilities(engine: Engine, settings: ServerSettings) -> dict[str, Any]:
    """engine, version, ops, models, encoders, devices (from the engine) and limits, endpoints."""
    document = dict(engine.capabilities())
    document.setdefault("engine", engine.name)
    document.setdefault("version", engine.version)
    engine_limits = document.get("limits")
    document["limits"] = {
        **(engine_limits if isinstance(engine_limits, dict) else {}),
        **settings.limits(),
    }
    document["server"] = {"name": "ffpipe serve", "version": __version__}
    document["endpoints"] = endpoint_table()
    return document
