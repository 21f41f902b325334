"""How the command line words counts: ``1 step``, ``2 steps``, ``1 entry``, ``3 entries``."""

from __future__ import annotations

IRREGULAR = {"entry": "entries", "is": "are", "was": "were", "this": "these"}


def plural(count: int, one: str, many: str | None = None) -> str:
    """``count`` and the noun in the number it takes: ``plural(1, "step") == "1 step"``."""
    return f"{count} {noun(count, one, many)}"


def steps_and_instances(steps: int, instances: int) -> str:
    """How many steps a pipeline has, and instances when a matrix made more: ``2 steps (8
    instances)``, ``3 steps``; said alike by ``validate``, ``plan`` and ``run``."""
    text = plural(steps, "step")
    return text if instances == steps else f"{text} ({plural(instances, 'instance')})"


def noun(count: int, one: str, many: str | None = None) -> str:
    """The noun alone, singular for exactly one: ``noun(2, "entry") == "entries"``."""
    if count == 1:
        return one
    return many or IRREGULAR.get(one) or f"{one}s"
