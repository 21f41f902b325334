"""Which catalog models a backend runs as named and which it stands in for, from capabilities."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ffpipe.catalog import OPS


@dataclass(frozen=True)
class StandIn:
    """A model named by a step that the backend replaces with something else."""

    parameter: str
    requested: str
    used: str

    def __str__(self) -> str:
        return f"{self.requested} -> {self.used}"


def model_choices(op: str, params: Mapping[str, Any]) -> dict[str, str]:
    """Every ``*_model`` parameter of ``op`` with the value ``params`` give it, else its default.

    ``process`` uses only the models of the ``processors`` it lists, as each of those ops would.
    """
    processors = params.get("processors") if op == "process" else None
    if isinstance(processors, list):
        chosen: dict[str, str] = {}
        for processor in processors:
            if processor in OPS and processor != "process":
                chosen.update(model_choices(processor, params))
        return chosen
    fields = OPS[op].params.model_fields
    return {
        name: str(params.get(name, field.get_default(call_default_factory=True)))
        for name, field in fields.items()
        if name.endswith("_model")
    }


def stand_ins(capabilities: Mapping[str, Any], op: str, params: Mapping[str, Any]) -> list[StandIn]:
    """The models of a step that ``capabilities`` report as substituted, with what is used."""
    models = capabilities.get("models", {})
    found = []
    for parameter, requested in model_choices(op, params).items():
        entry = models.get(parameter, {}).get(requested) if isinstance(models, Mapping) else None
        if isinstance(entry, Mapping) and entry.get("status") != "exact":
            found.append(StandIn(parameter, requested, str(entry.get("used", "unknown"))))
    return found


def parameter_statuses(
    capabilities: Mapping[str, Any], op: str, params: Mapping[str, Any]
) -> list[tuple[str, str, str]]:
    """``(status, parameter, note)`` for each parameter a step sets that ``capabilities``
    report as emulated or refused (engines without a ``parameters`` table report none)."""
    table = capabilities.get("parameters")
    if not isinstance(table, Mapping) or op not in OPS:
        return []
    fields = OPS[op].params.model_fields
    found = []
    for name in fields:
        row = table.get(name)
        if not isinstance(row, Mapping) or row.get("status") not in ("emulated", "refused"):
            continue
        if name not in params:
            continue
        found.append((str(row["status"]), name, str(row.get("note", ""))))
    return found


def model_digests(
    capabilities: Mapping[str, Any], op: str, params: Mapping[str, Any]
) -> dict[str, str]:
    """``{model file: digest}`` of the models a step uses, from a server's ``model_digests``.

    Engines with model files publish, per ``*_model`` parameter and value, the digests of the
    files it loads, plus ``common`` files every face op loads; a step's key then changes when a
    model it names is replaced on the server. Ops that name no model (video, extract_frames) get
    none. Empty when the capabilities publish no digests.
    """
    published = capabilities.get("model_digests")
    if not isinstance(published, Mapping) or op not in OPS:
        return {}
    chosen = model_choices(op, params)
    if not chosen:
        return {}
    found: dict[str, str] = dict(published.get("common", {}))
    for parameter, value in chosen.items():
        files = published.get(parameter, {}).get(value, {})
        found.update({str(name): str(digest) for name, digest in files.items()})
    return found
