"""Step keys change exactly when something that shapes the outputs changes."""

from __future__ import annotations

import json

from ffpipe.cache.fingerprint import canonical_json, digest_bytes
from ffpipe.cache.key import describe_changes, key_document, step_key

PARAMS = {"face_enhancer_model": "gfpgan_1.4", "face_enhancer_blend": 0.8, "mask": ("box",)}
INPUTS = {"target_media": digest_bytes(b"astronaut")}
IDENTITY = {"engine": "builtin", "engine_version": "0.3"}


def test_same_fields_same_key_whatever_the_order() -> None:
    reordered = dict(reversed(list(PARAMS.items())))
    assert step_key("enhance", PARAMS, INPUTS, IDENTITY) == step_key(
        "enhance", reordered, INPUTS, dict(reversed(list(IDENTITY.items())))
    )


def test_every_field_moves_the_key() -> None:
    base = step_key("enhance", PARAMS, INPUTS, IDENTITY)
    variants = [
        step_key("edit", PARAMS, INPUTS, IDENTITY),
        step_key("enhance", {**PARAMS, "face_enhancer_blend": 0.6}, INPUTS, IDENTITY),
        step_key("enhance", PARAMS, {"target_media": digest_bytes(b"other")}, IDENTITY),
        step_key("enhance", PARAMS, {"source": INPUTS["target_media"]}, IDENTITY),
        step_key("enhance", PARAMS, INPUTS, {**IDENTITY, "engine_version": "0.4"}),
        step_key("enhance", PARAMS, INPUTS, {**IDENTITY, "model": "gfpgan_1.4"}),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_order_of_a_list_of_inputs_matters() -> None:
    first, second = digest_bytes(b"1"), digest_bytes(b"2")
    assert step_key("video", {}, {"frames": [first, second]}, IDENTITY) != step_key(
        "video", {}, {"frames": [second, first]}, IDENTITY
    )


def test_key_is_the_digest_of_the_stored_document() -> None:
    document = key_document("enhance", PARAMS, INPUTS, IDENTITY)
    assert step_key("enhance", PARAMS, INPUTS, IDENTITY) == digest_bytes(canonical_json(document))
    # What is stored (as JSON) and read back must equal a freshly built document.
    assert json.loads(json.dumps(document)) == document
    assert document["params"]["mask"] == ["box"]


def test_changes_are_explained_one_by_one() -> None:
    old = key_document("enhance", PARAMS, INPUTS, IDENTITY)
    new = key_document(
        "enhance",
        {**PARAMS, "face_enhancer_blend": 0.6, "face_enhancer_weight": 0.5},
        {"target_media": digest_bytes(b"edited")},
        {**IDENTITY, "engine_version": "0.4"},
    )
    assert describe_changes(old, new) == [
        "face_enhancer_blend changed 0.8 -> 0.6",
        "face_enhancer_weight added",
        "input target_media changed",
        "engine_version changed 0.3 -> 0.4",
    ]
    assert describe_changes(old, old) == []


def test_removed_fields_and_other_ops_are_explained() -> None:
    old = key_document("enhance", PARAMS, INPUTS, IDENTITY)
    new = key_document("edit", {}, {}, IDENTITY)
    reasons = describe_changes(old, new)
    assert reasons[0] == "op changed enhance -> edit"
    assert "face_enhancer_model removed" in reasons
    assert "input target_media removed" in reasons


def test_the_inputs_file_types_move_the_key_and_are_explained() -> None:
    # An engine names and encodes its output after its target: the same bytes as .png and as
    # .jpg make different outputs.
    as_jpg = key_document("enhance", PARAMS, INPUTS, IDENTITY, {"target_media": ".jpg"})
    as_png = key_document("enhance", PARAMS, INPUTS, IDENTITY, {"target_media": ".png"})
    assert step_key("enhance", PARAMS, INPUTS, IDENTITY, {"target_media": ".jpg"}) != step_key(
        "enhance", PARAMS, INPUTS, IDENTITY, {"target_media": ".png"}
    )
    assert describe_changes(as_jpg, as_png) == ["input target_media file type changed .jpg -> .png"]


def test_a_new_key_format_is_one_reason_not_a_list_of_field_changes() -> None:
    old = {**key_document("enhance", PARAMS, INPUTS, IDENTITY), "format": 1}
    old.pop("input_suffixes")
    new = key_document("enhance", {**PARAMS, "face_enhancer_blend": 0.6}, INPUTS, IDENTITY)
    assert describe_changes(old, new) == ["cache key format changed"]
