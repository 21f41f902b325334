"""The operations a pipeline step can use, each taking the catalog groups it needs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
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
from ffpipe.media import MediaType, name_for

OpName = Literal["detect", "swap", "enhance", "edit", "video", "extract_frames", "process"]
FrameOpName = Literal["swap", "enhance", "edit"]
MAX_PROCESSORS = 8
"""Ops one ``process`` pass may apply to each frame: a longer list multiplies the cost of a call
past what its other limits allow."""
OP_NAMES: tuple[str, ...] = get_args(OpName)
FRAME_OPS: tuple[str, ...] = get_args(FrameOpName)
Writes = Literal["json", "media", "video", "frames"]
"""What an op writes: ``json`` a document of its findings, ``media`` an image or video like its
target, ``video`` a video whatever its target's name says, ``frames`` a folder of images."""
DETECT_OUTPUT = "faces.json"


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
    """An op's facts: its name and parameter model, whether it works frame by frame, what it
    writes, its place in the server's endpoint order, and how its output is named."""

    name: str
    params: type[CatalogModel]
    per_frame: bool
    writes: Writes
    fn_index: int
    """Its endpoint's position: the catalog's example calls swap with 0 and enhance with 1."""

    @property
    def description(self) -> str:
        return (self.params.__doc__ or "").strip()

    @property
    def file_fields(self) -> tuple[str, ...]:
        return file_fields(self.params)

    @property
    def needs_video(self) -> bool:
        """Whether its target must be a video (an image is refused)."""
        return self.writes in ("video", "frames")

    @property
    def takes_video(self) -> bool:
        """Whether its target may be a video (detect works on images only)."""
        return self.writes != "json"

    def default_output_name(self, target_name: str, held: MediaType | None = None) -> str:
        """The output's name when ``output_path`` is not given.

        ``faces.json`` for a document, ``<target stem>_frames`` for a folder of frames, else the
        target's name with the extension of what it holds (``held``; the name as it is when the
        engine does not look inside the target).
        """
        if self.writes == "json":
            return DETECT_OUTPUT
        if self.writes == "frames":
            return f"{PurePosixPath(target_name).stem}_frames"
        return name_for(target_name, held)

    def check_output_name(self, name: str) -> str | None:
        """Why ``name`` cannot hold what the op writes, or None if it can."""
        if self.writes == "json" and PurePosixPath(name).suffix.lower() != ".json":
            return f"{self.name} writes JSON: output_path {name!r} must end in .json"
        return None

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
        OpSpec("detect", DetectParams, per_frame=False, writes="json", fn_index=3),
        OpSpec("swap", SwapParams, per_frame=True, writes="media", fn_index=0),
        OpSpec("enhance", EnhanceParams, per_frame=True, writes="media", fn_index=1),
        OpSpec("edit", EditParams, per_frame=True, writes="media", fn_index=2),
        OpSpec("video", VideoParams, per_frame=False, writes="video", fn_index=4),
        OpSpec("extract_frames", ExtractFramesParams, per_frame=False, writes="frames", fn_index=5),
        OpSpec("process", ProcessParams, per_frame=True, writes="media", fn_index=6),
    )
}
ENDPOINT_ORDER: tuple[str, ...] = tuple(sorted(OPS, key=lambda name: OPS[name].fn_index))
"""Op names in fn_index order (the server's endpoints)."""


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
