"""Catalog section 1, Face Swapping: core, face selection, masking, detection, swapper models."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field, field_validator

from ffpipe.catalog.base import CatalogModel, Unit, file_field

MaskType = Literal["box", "occlusion", "region"]
FaceDetectorModel = Literal["retinaface", "yoloface", "scrfd", "yunet"]
FaceDetectorSize = Literal["320x320", "640x640", "1280x1280"]
FaceLandmarkerModel = Literal["2dfan4", "peppa_wutz"]
FaceSwapperModel = Literal[
    "inswapper_128",
    "inswapper_128_fp16",
    "simswap_256",
    "simswap_512_unofficial",
    "ghost_2_unet_2",
    "uniface_256",
]
PixelBoost = Literal["128", "256", "512", "1024"]

FACE_DETECTOR_MODELS: tuple[str, ...] = get_args(FaceDetectorModel)
FACE_LANDMARKER_MODELS: tuple[str, ...] = get_args(FaceLandmarkerModel)
FACE_SWAPPER_MODELS: tuple[str, ...] = get_args(FaceSwapperModel)

Coordinate = Annotated[float, Field(ge=0.0, le=1.0)]
Point = tuple[Coordinate, Coordinate]
Polygon = Annotated[list[Point], Field(min_length=3)]
Padding = tuple[
    Annotated[int, Field(ge=0)],
    Annotated[int, Field(ge=0)],
    Annotated[int, Field(ge=0)],
    Annotated[int, Field(ge=0)],
]


def _bare_file_name(value: str | None) -> str | None:
    if value is None:
        return value
    if not value or value in {".", ".."} or "/" in value or "\\" in value or "\x00" in value:
        raise ValueError(
            f"{value!r} must be a bare file name such as 'result.jpg', with no directory part"
        )
    return value


class TargetMedia(CatalogModel):
    """The image or video an op works on, and the name of its result."""

    target_media: str = file_field("Image or video to process (local path or http(s) URL).")
    output_path: str | None = Field(
        default=None,
        description="File name of the result inside the output folder; the extension picks the "
        "format. Defaults to the target's name.",
    )

    _output_path_is_bare = field_validator("output_path")(_bare_file_name)


class SwapCore(TargetMedia):
    """Core parameters of a face swap."""

    source_face: str = file_field("Image or video containing the face to extract.")


class FaceSelection(CatalogModel):
    """Which faces of the target are processed."""

    reference_face_position: int = Field(
        default=0,
        ge=0,
        description="0-based index of the reference face in the target; faces similar to it are "
        "processed.",
    )
    reference_face_distance: float = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description="Similarity threshold: target faces at most this far from the reference face "
        "are processed (0.0 the reference only, 1.0 every face).",
    )
    target_face_index: int | None = Field(
        default=None,
        ge=0,
        description="0-based index of the one target face to process; overrides the reference.",
    )


class SourceSelection(CatalogModel):
    """Which face of the source is used."""

    source_face_index: int = Field(
        default=0, ge=0, description="0-based index of the face to take from the source."
    )


class FaceMasking(CatalogModel):
    """How the processed face is blended back into the frame."""

    face_mask_types: list[MaskType] = Field(
        default_factory=lambda: ["box"],
        min_length=1,
        description="Masks combined (intersected) to limit the change: box, occlusion, region.",
    )
    face_mask_blur: Unit = Field(default=0.3, description="Edge softness of the mask, 0.0-1.0.")
    face_mask_padding: Padding = Field(
        default=(0, 0, 0, 0),
        description="Padding of the box mask in pixels: top, right, bottom, left.",
    )
    face_mask_regions: list[Polygon] = Field(
        default_factory=list,
        description="Polygons for the region mask, each [[x1, y1], [x2, y2], [x3, y3], ...] in "
        "coordinates normalized 0.0-1.0.",
    )

    @field_validator("face_mask_types")
    @classmethod
    def _unique_types(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("face_mask_types lists a mask type twice")
        return value


class FaceDetection(CatalogModel):
    """Face detector and landmarker settings."""

    face_detector_model: FaceDetectorModel = Field(
        default="retinaface", description="Face detector model."
    )
    face_detector_size: FaceDetectorSize = Field(
        default="640x640", description="Working resolution of the detector."
    )
    face_detector_score: Unit = Field(default=0.5, description="Confidence threshold, 0.0-1.0.")
    face_landmarker_model: FaceLandmarkerModel = Field(
        default="2dfan4", description="Face landmarker model."
    )


class SwapperModels(CatalogModel):
    """Face swapper model and working resolution."""

    face_swapper_model: FaceSwapperModel = Field(
        default="inswapper_128", description="Face swapper model."
    )
    face_swapper_pixel_boost: PixelBoost = Field(
        default="128", description="Working resolution of the face crop, in pixels per side."
    )
