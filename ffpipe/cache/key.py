"""A step's cache key: the digest of everything that can change its outputs, and nothing else."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from ffpipe.cache.fingerprint import canonical_json, digest_bytes

KEY_FORMAT = 2
"""Bumped when the document's shape changes, so old entries miss instead of being misread."""


def key_document(
    op: str,
    params: Mapping[str, Any],
    input_digests: Mapping[str, str | list[str]],
    identity: Mapping[str, str],
    input_suffixes: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The fields a step key hashes, as plain JSON (stored with the entry to explain misses).

    ``params`` are the fully rendered parameters without input file paths (those enter through
    ``input_digests``, by name); ``identity`` is the engine or server identity and version (and
    the model where one is reported). ``input_suffixes`` are the inputs' file extensions: an
    engine picks the output's format and name from its target's, so ``a.png`` and ``a.jpg``
    with the same bytes make different outputs.
    """
    document = {
        "format": KEY_FORMAT,
        "op": op,
        "params": dict(params),
        "inputs": {name: _digests(value) for name, value in input_digests.items()},
        "input_suffixes": dict(input_suffixes or {}),
        "identity": dict(identity),
    }
    # A round trip through the canonical form makes the stored document compare equal to a
    # freshly built one (tuples become lists, -0.0 becomes 0.0, paths become text).
    return json.loads(canonical_json(document))


def step_key(
    op: str,
    params: Mapping[str, Any],
    input_digests: Mapping[str, str | list[str]],
    identity: Mapping[str, str],
    input_suffixes: Mapping[str, str] | None = None,
) -> str:
    """``"sha256:<hex>"`` of :func:`key_document`; equal keys mean reusable outputs."""
    document = key_document(op, params, input_digests, identity, input_suffixes)
    return digest_bytes(canonical_json(document))


def describe_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Why two key documents differ, one short sentence per difference, in a stable order.

    E.g. ``"face_enhancer_blend changed 0.8 -> 0.6"``, ``"input target_media changed"``,
    ``"engine_version changed 0.3 -> 0.4"``. Empty when the documents are equal.
    """
    if old.get("format") != new.get("format"):
        # Documents of two formats differ in shape: listing each field would only be noise.
        return ["cache key format changed"]
    reasons: list[str] = []
    if old.get("op") != new.get("op"):
        reasons.append(f"op changed {old.get('op')} -> {new.get('op')}")
    reasons += _diff(old.get("params", {}), new.get("params", {}), "", _value_change)
    reasons += _diff(old.get("inputs", {}), new.get("inputs", {}), "input ", _input_change)
    old_suffixes, new_suffixes = old.get("input_suffixes", {}), new.get("input_suffixes", {})
    for name in sorted(old_suffixes.keys() & new_suffixes.keys()):
        if old_suffixes[name] != new_suffixes[name]:
            before, after = old_suffixes[name] or "(none)", new_suffixes[name] or "(none)"
            reasons.append(f"input {name} file type changed {before} -> {after}")
    reasons += _diff(old.get("identity", {}), new.get("identity", {}), "", _value_change)
    return reasons


def _digests(value: str | list[str]) -> str | list[str]:
    return value if isinstance(value, str) else list(value)


def _diff(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    prefix: str,
    change: Callable[[str, Any, Any], str],
) -> list[str]:
    reasons = []
    for name in sorted(old.keys() | new.keys()):
        if name not in old:
            reasons.append(f"{prefix}{name} added")
        elif name not in new:
            reasons.append(f"{prefix}{name} removed")
        elif canonical_json(old[name]) != canonical_json(new[name]):
            reasons.append(change(prefix + name, old[name], new[name]))
    return reasons


def _value_change(name: str, old: Any, new: Any) -> str:
    return f"{name} changed {_show(old)} -> {_show(new)}"


def _input_change(name: str, _old: Any, _new: Any) -> str:
    return f"{name} changed"


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else canonical_json(value).decode("utf-8")
    return text if len(text) <= 60 else text[:57] + "..."
