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

_METHOD = (
    "builtin classical editor: thin-plate spline warp of the 68 dlib landmarks for expression, "
    "pose and feature controls; smoothing (younger) or lines, texture and greying (older) for "
    "age; Lab recolouring of a colour-and-place hair model for hair colour"
)
EDITOR_METHOD: dict[str, str] = dict.fromkeys(FACE_EDITOR_MODELS, _METHOD)
"""Catalog editor model name -> what the builtin engine does in its place."""
