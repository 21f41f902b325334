"""What the builtin editor does in place of the catalog's editor models, and what it cannot do.

Apart from :mod:`ffpipe.engine.builtin.edit` so that capabilities and plans can say so without
loading
numpy and OpenCV.
"""

from __future__ import annotations

from ffpipe.catalog.edit import FACE_EDITOR_MODELS

UNSUPPORTED: dict[str, str] = {
    "face_editor_hair_style": (
        "restyling hair means drawing hair that is not in the picture, which needs a generative "
        "model; the builtin engine only moves and recolours what is there"
    ),
}
"""Editing parameters the builtin engine cannot honour, with the reason."""

APPARENT_AGE = 35
"""The age every face is assumed to look, in years: the engine has no age estimator."""

EMULATED: dict[str, str] = {
    "face_editor_age_direction": (
        f"'auto' has no age model to ask: every face is taken to look {APPARENT_AGE}, so a "
        f"face_editor_age above {APPARENT_AGE} makes faces older and one below makes them "
        "younger, whatever their real age; say 'older' or 'younger' to choose"
    ),
}
"""Editing parameters the builtin engine honours only approximately, and how."""


def age_direction_note(age: int | None, direction: str) -> str | None:
    """What a run of an age edit should tell the user: None unless ``auto`` decided by guess."""
    if age is None or direction != "auto":
        return None
    way = "older" if age > APPARENT_AGE else "younger"
    return (
        f"face_editor_age_direction auto: the builtin engine has no age model and takes every "
        f"face to look {APPARENT_AGE}, so face_editor_age {age} makes faces {way}"
    )


_METHOD = (
    "builtin classical editor: thin-plate spline warp of the 68 dlib landmarks for expression, "
    "pose and feature controls; smoothing (younger) or lines, texture and greying (older) for "
    "age; Lab recolouring of a colour-and-place hair model for hair colour"
)
EDITOR_METHOD: dict[str, str] = dict.fromkeys(FACE_EDITOR_MODELS, _METHOD)
"""Catalog editor model name -> what the builtin engine does in its place."""
