"""Sizes and durations as people write them, read the same way by every command and setting.

Sizes: a whole or decimal number of bytes, with an optional unit: ``kB MB GB TB PB`` (powers of
1000), ``KiB MiB GiB TiB PiB`` (powers of 1024); case, the ``B`` and a space before the unit
are optional (``2GB``, ``2 gb``, ``2G``, ``500MiB``, ``500mi``, ``123``, ``123B``).

Durations: seconds as a plain number (``2.5``), or one or more parts with a unit: ``s m h d w``
(seconds, minutes, hours, days, weeks): ``30s``, ``90m``, ``12h``, ``7d``, ``1w``, ``1d12h``.

``cache gc --max-size/--older-than``, ``serve --retention`` and ``serve --max-file-size`` all
read them here. A retention (``7d,20GB``) holds an age and a size, so a bare number is refused
there and a bare ``M`` is minutes: write ``MB`` for megabytes.
"""

from __future__ import annotations

import re

from ffpipe.errors import UserError

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([kmgtp])(i?))?b?\s*$", re.IGNORECASE)
_POWERS = {"k": 1, "m": 2, "g": 3, "t": 4, "p": 5}
_NUMBER = re.compile(r"^\s*\d+(?:\.\d+)?\s*$")
_DURATION = re.compile(r"^\s*(?:\d+(?:\.\d+)?\s*[smhdw]\s*)+$", re.IGNORECASE)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])", re.IGNORECASE)
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

SIZE_EXAMPLES = "500MB, 2GB, 2GiB or 123"
DURATION_EXAMPLES = "30s, 90m, 12h, 7d, 1w or 1d12h"


class UnitError(UserError, ValueError):
    """A size or duration that cannot be read; the message says what would be."""


def parse_size(text: str) -> int:
    """Bytes in a size such as ``2GB`` (2 * 10^9), ``500MiB`` (500 * 2^20) or ``123``."""
    match = _SIZE.match(text)
    if match is None:
        raise UnitError(f"not a size: {text!r} (try {SIZE_EXAMPLES})")
    number, prefix, binary = match.groups()
    if prefix is None:
        return int(float(number))
    base = 1024 if binary else 1000
    return int(float(number) * base ** _POWERS[prefix.lower()])


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``7d``, ``1w``, ``1d12h``, ``90m``, ``30s`` or ``2.5``."""
    if _NUMBER.match(text):
        return float(text)
    if _DURATION.match(text) is None:
        raise UnitError(f"not a duration: {text!r} (try {DURATION_EXAMPLES})")
    parts = _DURATION_PART.finditer(text)
    return sum(float(part.group(1)) * _SECONDS[part.group(2).lower()] for part in parts)


def is_plain_number(text: str) -> bool:
    """Whether ``text`` is a number without a unit (a size in bytes or seconds alike)."""
    return _NUMBER.match(text) is not None


def format_size(size: int) -> str:
    """A size as people read it, in powers of 1000: ``100 MB``, ``1.5 kB``, ``12 bytes``."""
    for unit, factor in (("GB", 1000**3), ("MB", 1000**2), ("kB", 1000)):
        if size >= factor:
            return f"{size / factor:g} {unit}"
    return f"{size} bytes"
