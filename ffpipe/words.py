"""How the command line words counts: ``1 step``, ``2 steps``, ``1 entry``, ``3 entries``."""

from __future__ import annotations

IRREGULAR = {"entry": "entries", "is": "are", "was": "were", "this": "these"}


def plural(count: int, one: str, many: str | None = None) -> str:
    """``count`` and the noun in the number it takes: ``plural(1, "step") == "1 step"``."""
    return f"{count} {noun(count, one, many)}"


def noun(count: int, one: str, many: str | None = None) -> str:
    """The noun alone, singular for exactly one: ``noun(2, "entry") == "entries"``."""
    if count == 1:
        return one
    return many or IRREGULAR.get(one) or f"{one}s"
