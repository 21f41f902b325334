"""Canonical JSON and digests: the same value always gives the same bytes, and odd values fail."""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ffpipe.cache.errors import NotCanonical
from ffpipe.cache.fingerprint import canonical_json, digest_bytes, digest_file, hex_of

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


def test_key_order_does_not_matter_and_encoding_is_compact() -> None:
    assert canonical_json({"b": 1, "a": 1.0}) == canonical_json({"a": 1.0, "b": 1})
    assert canonical_json({"b": 1, "a": 1.0}) == b'{"a":1.0,"b":1}'


def test_types_that_json_would_blur_stay_distinct() -> None:
    assert canonical_json(1) != canonical_json(1.0)
    assert canonical_json(True) != canonical_json(1)
    assert canonical_json("1") != canonical_json(1)


def test_tuples_paths_sets_and_negative_zero_have_one_form() -> None:
    assert canonical_json((1, 2)) == canonical_json([1, 2])
    assert canonical_json(PurePosixPath("media/a.jpg")) == canonical_json("media/a.jpg")
    assert canonical_json({3, 1, 2}) == canonical_json([1, 2, 3])
    assert canonical_json(-0.0) == canonical_json(0.0)


def test_text_is_utf8_not_escaped() -> None:
    assert canonical_json({"name": "Grâce"}) == '{"name":"Grâce"}'.encode()


@pytest.mark.parametrize(
    "value",
    [math.nan, {"blend": math.inf}, [1, -math.inf], {1: "a"}, object(), b"bytes"],
    ids=["nan", "inf", "-inf", "int-key", "object", "bytes"],
)
def test_values_without_a_canonical_form_are_refused(value: object) -> None:
    with pytest.raises(NotCanonical):
        canonical_json(value)


def test_nan_error_says_where() -> None:
    with pytest.raises(NotCanonical, match=r"\$\.params\.blend"):
        canonical_json({"params": {"blend": float("nan")}})


@given(json_values)
def test_canonical_json_round_trips_and_ignores_insertion_order(value: object) -> None:
    encoded = canonical_json(value)
    assert json.loads(encoded) == json.loads(json.dumps(value))
    if isinstance(value, dict):
        reordered = dict(reversed(list(value.items())))
        assert canonical_json(reordered) == encoded


def test_digest_bytes_is_prefixed_sha256() -> None:
    assert digest_bytes(b"abc") == "sha256:" + hashlib.sha256(b"abc").hexdigest()


@pytest.mark.parametrize("size", [0, 1, (1 << 20) - 1, 1 << 20, 3 * (1 << 20) + 7])
def test_digest_file_matches_hashing_all_bytes(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert digest_file(path) == digest_bytes(data)


def test_hex_of_accepts_only_sha256_digests() -> None:
    digest = digest_bytes(b"x")
    assert hex_of(digest) == digest.removeprefix("sha256:")
    for bad in ("md5:abc", "sha256:xyz", "sha256:" + "A" * 64, "tree:" + digest):
        with pytest.raises(ValueError):
            hex_of(bad)
