"""The pipeline matrix: the product of its axes, with include and exclude, and instance ids."""

from __future__ import annotations

import itertools
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ffpipe.axis_labels import axis_labels, value_key
from ffpipe.pipeline.errors import SpecError, did_you_mean
from ffpipe.pipeline.model import IDENTIFIER_PATTERN
from ffpipe.pipeline.paths import FileScope, MissingFile, expand_glob, is_glob
from ffpipe.pipeline.source import SourceTree

_RESERVED = ("include", "exclude")
DEFAULT_MAX_INSTANCES = 1000
"""Combinations a matrix may expand to unless ``--max-instances`` raises it."""
MAX_INSTANCES_FLAG = "--max-instances"


@dataclass(frozen=True)
class Matrix:
    """Expanded matrix: axis names in file order and the combinations in expansion order."""

    axes: tuple[str, ...]
    combinations: tuple[Mapping[str, Any], ...]
    labels: Mapping[str, Mapping[str, str]]
    """axis -> value key -> the short label used in instance ids."""

    def label(self, axis: str, value: Any) -> str:
        """How ``value`` of ``axis`` is shown in an instance id."""
        return self.labels[axis][value_key(value)]

    def project(self, axes: Sequence[str]) -> list[dict[str, Any]]:
        """The distinct combinations of ``axes`` only, in expansion order."""
        seen: dict[tuple[str, ...], dict[str, Any]] = {}
        for combination in self.combinations:
            key = tuple(value_key(combination[axis]) for axis in axes)
            if key not in seen:
                seen[key] = {axis: combination[axis] for axis in axes}
        return list(seen.values())

    def instance_id(self, step: str, values: Mapping[str, Any]) -> str:
        """``swap[target=b.jpg,age=30]`` (or the bare step id when it has no axes)."""
        if not values:
            return step
        parts = ",".join(f"{axis}={self.label(axis, values[axis])}" for axis in values)
        return f"{step}[{parts}]"


EMPTY = Matrix((), ({},), {})


def expand_matrix(
    raw: Any,
    tree: SourceTree,
    base: Path | FileScope,
    errors: list[SpecError],
    max_instances: int = DEFAULT_MAX_INSTANCES,
) -> Matrix:
    """Expand the ``matrix:`` section (already shape-checked); errors are appended.

    More than ``max_instances`` combinations is an error found before any is built.
    """
    if raw is None:
        return EMPTY
    scope = base if isinstance(base, FileScope) else FileScope(base, allow_outside=True)
    axes: dict[str, list[Any]] = {}
    glob_axes: set[str] = set()
    for name, values in raw.items():
        if name in _RESERVED:
            continue
        path = ("matrix", name)
        if not re.match(IDENTIFIER_PATTERN, name):
            errors.append(tree.error(path, "matrix axis names are letters, digits and _"))
            continue
        if isinstance(values, str):
            if not is_glob(values):
                errors.append(tree.error(path, "an axis is a list of values or a glob of files"))
                continue
            try:
                axes[name] = list(expand_glob(values, scope))
                glob_axes.add(name)
            except MissingFile as error:
                errors.append(tree.error(path, str(error)))
            continue
        if not values:
            errors.append(tree.error(path, "an axis needs at least one value"))
            continue
        axes[name] = list(values)

    def normalise(entry: Mapping[str, Any], path: tuple[str | int, ...]) -> dict[str, Any] | None:
        result = {}
        for key, value in entry.items():
            if key not in axes:
                errors.append(
                    tree.error((*path, key), f"no matrix axis {key!r}{did_you_mean(key, axes)}")
                )
                return None
            if key in glob_axes and isinstance(value, str) and not os.path.isabs(value):
                value = os.path.normpath(scope.base / value)
            result[key] = value
        return result

    count = math.prod(len(values) for values in axes.values()) if axes else 0
    count += len(raw.get("include") or [])
    if count > max_instances:
        errors.append(
            tree.error(
                ("matrix",),
                f"the matrix expands to up to {count} combinations, over the limit of"
                f" {max_instances}; pass {MAX_INSTANCES_FLAG} N to allow more",
            )
        )
        return EMPTY
    excludes = []
    for index, entry in enumerate(raw.get("exclude") or []):
        normalised = normalise(entry, ("matrix", "exclude", index))
        if normalised is not None:
            excludes.append({k: value_key(v) for k, v in normalised.items()})
    combinations: list[dict[str, Any]] = (
        [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]
        if axes
        else []
    )
    for index, entry in enumerate(raw.get("include") or []):
        path = ("matrix", "include", index)
        normalised = normalise(entry, path)
        if normalised is None:
            continue
        missing = [axis for axis in axes if axis not in normalised]
        if missing:
            errors.append(
                tree.error(path, f"an include gives every axis; missing: {', '.join(missing)}")
            )
            continue
        combinations.append({axis: normalised[axis] for axis in axes})
    excluded = _exclusion_index(excludes)
    kept: dict[str, dict[str, Any]] = {}
    for combination in combinations:
        keys = {axis: value_key(value) for axis, value in combination.items()}
        if any(tuple(keys[a] for a in named) in rules for named, rules in excluded.items()):
            continue
        kept.setdefault(value_key(combination), combination)
    if not kept:
        errors.append(
            tree.error(
                ("matrix",),
                "the matrix expands to no combinations "
                "(every combination is excluded or an axis is empty)",
            )
        )
        return EMPTY
    labels = {axis: axis_labels(c[axis] for c in kept.values()) for axis in axes}
    return Matrix(tuple(axes), tuple(kept.values()), labels)


def _exclusion_index(excludes: list[dict[str, Any]]) -> dict[tuple[str, ...], set[tuple[Any, ...]]]:
    """Excludes grouped by the axes they name: ``{axes: {their values, ...}}``.

    A combination is then checked with one set look-up per group instead of a comparison per
    exclude, so thousands of excludes over thousands of combinations stay cheap.
    """
    index: dict[tuple[str, ...], set[tuple[Any, ...]]] = {}
    for rule in excludes:
        named = tuple(sorted(rule))
        index.setdefault(named, set()).add(tuple(rule[axis] for axis in named))
    return index
