"""The operations a pipeline step can use, each taking the catalog groups it needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from pydantic import Field, field_validator

from ffpipe.catalog.base import FILE_MARK, CatalogModel
from ffpipe.catalog.edit import Editing
from ffpipe.catalog.enhance import Enhancement
from ffpipe.catalog.jobs import JobOptions
from ffpipe.catalog.output import ImageOutput, VideoOutput
from ffpipe.catalog.processing import ProcessingOptions
from ffpipe.catalog.swap import (
    FaceDetection,
    FaceMasking,
    FaceSelection,
    SourceSelection,
    SwapCore,
    SwapperModels,
    TargetMedia,
)
from ffpipe.catalog.video import FrameControl, FrameExtraction, TemporaryFiles, VideoAssembly

OpName = Literal["detect", "swap", "enhance", "edit", "video", "extract_frames", "process"]
FrameOpName = Literal["swap", "enhance", "edit"]
MAX_PROCESSORS = 8
"""Ops one ``process`` pass may apply to each frame: a longer list multiplies the cost of a call
past what its other limits allow."""
OP_NAMES: tuple[str, ...] = get_args(OpName)
FRAME_OPS: tuple[str, ...] = get_args(FrameOpName)


class MediaOutput(ImageOutput, VideoOutput, FrameControl, VideoAssembly, TemporaryFiles):
    """Everything that shapes an image or video result."""


class DetectParams(TargetMedia, FaceDetection, ProcessingOptions):
    """Find the faces of an image: boxes, scores, landmarks and embeddings (a JSON result)."""


class SwapParams(
    SwapCore,
    SourceSelection,
    FaceSelection,
    FaceMasking,
    FaceDetection,
    SwapperModels,
    MediaOutput,
    ProcessingOptions,
):
    """Put the source face onto the selected faces of the target image or video."""


class EnhanceParams(
    TargetMedia,
    FaceSelection,
    FaceMasking,
    FaceDetection,
    Enhancement,
    MediaOutput,
    ProcessingOptions,
):
    """Restore the selected faces of an image or video."""


class EditParams(
    TargetMedia, FaceSelection, FaceMasking, FaceDetection, Editing, MediaOutput, ProcessingOptions
):
    """Change age, expression and features of the selected faces of an image or video."""


class VideoParams(TargetMedia, MediaOutput, ProcessingOptions):
    """Trim, resample, resize and re-encode a video."""


class ExtractFramesParams(TargetMedia, FrameControl, FrameExtraction, ProcessingOptions):
    """Write the frames of a video out as images."""

    extract_frames: bool = Field(default=True, description="Extract individual frames.")

    @field_validator("extract_frames")
    @classmethod
    def _must_extract(cls, value: bool) -> bool:
        if not value:
            raise ValueError("the extract_frames op always extracts; use the video op instead")
        return value


class ProcessParams(
    SwapParams,
    Enhancement,
    Editing,
    FrameExtraction,
    JobOptions,
):
    """Several per-frame ops applied in one pass, in the order given."""

    source_face: str | None = Field(  # type: ignore[assignment]
        default=None,
        description="Image or video containing the face to extract (needed by swap).",
        json_schema_extra={FILE_MARK: True},
    )
    processors: list[FrameOpName] = Field(
        min_length=1,
        max_length=MAX_PROCESSORS,
        description="Ops applied to each frame, in order: swap, enhance, edit"
        f" (at most {MAX_PROCESSORS}).",
    )


@dataclass(frozen=True)
class OpSpec:
    """An op's name, parameter model and whether it works frame by frame."""

    name: str
    params: type[CatalogModel]
    per_frame: bool

    @property
    def description(self) -> str:
        return (self.params.__doc__ or "").strip()

    @property
    def file_fields(self) -> tuple[str, ...]:
        return file_fields(self.params)

    @property
    def resources(self) -> dict[str, float]:
        """What a worker must offer to run this op on a cluster (Dask resources, ``GPU=1``)."""
        return dict(OP_RESOURCES.get(self.name, {}))


GPU_OPS = ("swap", "enhance", "edit", "process")
OP_RESOURCES: dict[str, dict[str, float]] = {op: {"GPU": 1} for op in GPU_OPS}
"""Per-op resource needs: the face models' ops run on a GPU; ``detect``, ``video`` and
``extract_frames`` ask for none (detection and encoding run on any worker's CPU)."""


OPS: dict[str, OpSpec] = {
    spec.name: spec
    for spec in (
        OpSpec("detect", DetectParams, per_frame=False),
        OpSpec("swap", SwapParams, per_frame=True),
        OpSpec("enhance", EnhanceParams, per_frame=True),
        OpSpec("edit", EditParams, per_frame=True),
        OpSpec("video", VideoParams, per_frame=False),
        OpSpec("extract_frames", ExtractFramesParams, per_frame=False),
        OpSpec("process", ProcessParams, per_frame=True),
    )
}


def file_fields(model: type[CatalogModel]) -> tuple[str, ...]:
    """Names of the parameters of ``model`` that carry files."""
    return tuple(
        name
        for name, field in model.model_fields.items()
        if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get(FILE_MARK)
    )


def op_spec(name: str) -> OpSpec:
    """The op called ``name``; raises KeyError listing the known ops."""
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(f"unknown op {name!r}; known ops: {', '.join(OPS)}") from None
