"""Catalog section 3, Face Editing: age, expression, features, blending."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field

from ffpipe.catalog.base import Angle, CatalogModel, Ratio, Signed, Unit

AgeDirection = Literal["younger", "older", "auto"]
EyebrowDirection = Literal["up", "down", "neutral"]
EyeGaze = Literal["left", "right", "up", "down", "center"]
FaceEditorModel = Literal["live_portrait", "face_editor_v1"]
FACE_EDITOR_MODELS: tuple[str, ...] = get_args(FaceEditorModel)

HEX_COLOUR_PATTERN = r"^#[0-9A-Fa-f]{6}$"


class AgeModification(CatalogModel):
    """Apparent age of the face."""

    face_editor_age: int | None = Field(
        default=None, ge=0, le=100, description="Target age, 0-100; unset leaves the age alone."
    )
    face_editor_age_direction: AgeDirection = Field(
        default="auto", description="Whether the face is made younger or older (auto: infer)."
    )


class ExpressionControl(CatalogModel):
    """Expression and head pose. Neutral values (1.0 for ratios, 0.0 otherwise) change nothing."""

    face_editor_eyebrow_direction: EyebrowDirection = Field(
        default="neutral", description="Raise or lower the eyebrows."
    )
    face_editor_eye_gaze: EyeGaze = Field(default="center", description="Direction of the gaze.")
    face_editor_eye_open_ratio: Ratio = Field(default=1.0, description="Eye openness, 0.0-2.0.")
    face_editor_lip_open_ratio: Ratio = Field(default=1.0, description="Mouth openness, 0.0-2.0.")
    face_editor_mouth_grim: Signed = Field(default=0.0, description="Grimace (-) to smile (+).")
    face_editor_mouth_pout: Unit = Field(default=0.0, description="Pout amount, 0.0-1.0.")
    face_editor_mouth_purse: Unit = Field(default=0.0, description="Purse amount, 0.0-1.0.")
    face_editor_mouth_smile: Unit = Field(default=0.0, description="Smile amount, 0.0-1.0.")
    face_editor_mouth_position: Signed = Field(
        default=0.0, description="Vertical mouth position, -1.0 (down) to 1.0 (up)."
    )
    face_editor_head_pitch: Angle = Field(default=0.0, description="Head up/down, degrees.")
    face_editor_head_yaw: Angle = Field(default=0.0, description="Head left/right, degrees.")
    face_editor_head_roll: Angle = Field(default=0.0, description="Head tilt, degrees.")


EXPRESSION_FIELDS: tuple[str, ...] = tuple(ExpressionControl.model_fields)
"""The expression and head pose controls, in catalog order."""


class FeatureModification(CatalogModel):
    """Shape of facial features. Neutral values (1.0 for ratios, 0.0 otherwise) change nothing."""

    face_editor_face_shape: Unit = Field(default=0.0, description="Face shape morphing, 0.0-1.0.")
    face_editor_nose_length: Ratio = Field(default=1.0, description="Nose length, 0.0-2.0.")
    face_editor_nose_width: Ratio = Field(default=1.0, description="Nose width, 0.0-2.0.")
    face_editor_eye_distance: Ratio = Field(default=1.0, description="Inter-eye distance, 0.0-2.0.")
    face_editor_eye_size: Ratio = Field(default=1.0, description="Eye size, 0.0-2.0.")
    face_editor_lip_size: Ratio = Field(default=1.0, description="Lip size, 0.0-2.0.")
    face_editor_hair_style: int | None = Field(
        default=None, ge=0, le=50, description="Hair style ID, 0-50; unset keeps the hair style."
    )
    face_editor_hair_color: str | None = Field(
        default=None,
        pattern=HEX_COLOUR_PATTERN,
        description="Hair colour as an RGB hex code such as '#000000'; unset keeps the colour.",
    )


class EditorBlending(CatalogModel):
    """Editor model and how strongly its result is applied."""

    face_editor_blend: Unit = Field(
        default=1.0, description="Blend between original (0.0) and edited (1.0)."
    )
    face_editor_model: FaceEditorModel = Field(
        default="live_portrait", description="Face editor model."
    )


class Editing(AgeModification, ExpressionControl, FeatureModification, EditorBlending):
    """Every face editing parameter of the catalog."""
