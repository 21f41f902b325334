"""How a matrix value is named: in instance ids (``swap[target=b.jpg,age=30]``) and on the rows
and columns of the report's contact sheets alike.

Only the standard library: the pipeline loader and the report both use it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

_SCALARS = (str, int, float, bool)


def value_key(value: Any) -> str:
    """A hashable, exact key of a matrix value (values may be lists or mappings)."""
    if type(value) in _SCALARS:
        return f"{type(value).__name__}:{value!r}"
    return json.dumps(value, sort_keys=True, default=str)


def value_label(value: Any) -> str:
    """The short label of one value: a path by its file name, the rest as written."""
    if isinstance(value, str):
        return os.path.basename(value) if "/" in value else value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return value_key(value)


def axis_labels(values: Iterable[Any]) -> dict[str, str]:
    """Value key -> label for the distinct values of one axis, in first-seen order.

    Short labels (:func:`value_label`) unless two values would look alike (the same file name in
    two folders): then every value of the axis is shown in full.
    """
    distinct: dict[str, Any] = {}
    for value in values:
        distinct.setdefault(value_key(value), value)
    short = {key: value_label(value) for key, value in distinct.items()}
    if len(set(short.values())) == len(short):
        return short
    return {key: value if isinstance(value, str) else key for key, value in distinct.items()}
