"""Digests of values and files: the only place that decides what "the same" means for the cache."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

from ffpipe.cache.errors import NotCanonical

ALGORITHM = "sha256"
CHUNK_SIZE = 1 << 20


def _plain(value: Any, where: str) -> Any:
    """``value`` as JSON-ready builtins with every ambiguity settled."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotCanonical(f"{where}: {value!r} has no canonical form")
        # -0.0 and 0.0 compare equal, so they must fingerprint the same.
        return 0.0 if value == 0 else float(value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        plain = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotCanonical(f"{where}: key {key!r} is not text")
            plain[key] = _plain(item, f"{where}.{key}")
        return plain
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        items = [_plain(item, f"{where}{{}}") for item in value]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    raise NotCanonical(f"{where}: {type(value).__name__} has no canonical form")


def canonical_json(value: Any) -> bytes:
    """The one byte encoding of ``value``: sorted keys, no spaces, UTF-8.

    Floats use Python's shortest round-trip repr (so ``1.0`` stays distinct from ``1``), tuples
    encode as lists, paths as text and sets as sorted lists. NaN and infinities are refused with
    :class:`NotCanonical`, as are keys that are not text and types JSON does not know.
    """
    plain = _plain(value, "$")
    text = json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def digest_bytes(data: bytes) -> str:
    """``"sha256:<hex>"`` of ``data``."""
    return f"{ALGORITHM}:{hashlib.sha256(data).hexdigest()}"


def digest_file(path: Path) -> str:
    """``"sha256:<hex>"`` of a file's bytes, read in 1 MiB chunks so memory stays flat."""
    hasher = hashlib.sha256()
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as source:
        while count := source.readinto(buffer):
            hasher.update(view[:count])
    return f"{ALGORITHM}:{hasher.hexdigest()}"


def hex_of(digest: str) -> str:
    """The hex part of a ``"sha256:<hex>"`` digest; raises ValueError for anything else."""
    algorithm, _, hex_part = digest.partition(":")
    if algorithm != ALGORITHM or len(hex_part) != 64 or not _is_hex(hex_part):
        raise ValueError(f"not a {ALGORITHM} digest: {digest!r}")
    return hex_part


def _is_hex(text: str) -> bool:
    return all(char in "0123456789abcdef" for char in text)
