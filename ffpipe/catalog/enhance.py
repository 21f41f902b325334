"""Catalog section 2, Face Enhancement."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field

from ffpipe.catalog.base import CatalogModel, Unit

FaceEnhancerModel = Literal[
    "gfpgan_1.2",
    "gfpgan_1.3",
    "gfpgan_1.4",
    "gpen_bfr_256",
    "gpen_bfr_512",
    "gpen_bfr_1024",
    "gpen_bfr_2048",
    "restoreformer_plus_plus",
    "codeformer",
]
FACE_ENHANCER_MODELS: tuple[str, ...] = get_args(FaceEnhancerModel)


class Enhancement(CatalogModel):
    """Face restoration model and how strongly it is applied."""

    face_enhancer_model: FaceEnhancerModel = Field(
        default="gfpgan_1.4", description="Face enhancer model."
    )
    face_enhancer_blend: Unit = Field(
        default=0.8, description="Blend between original (0.0) and enhanced (1.0)."
    )
    face_enhancer_iterations: int = Field(
        default=1, ge=1, le=10, description="Number of enhancement passes, 1-10."
    )
