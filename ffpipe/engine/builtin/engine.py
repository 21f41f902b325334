"""The builtin CPU engine: dlib faces, classical OpenCV processing, nothing downloaded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ffpipe.catalog import OPS, CatalogModel, parse_resolution
from ffpipe.engine.api import (
    Engine,
    EngineError,
    EngineOutput,
    FaceNotFoundError,
    RunContext,
    UnsupportedError,
    check_target,
    output_file,
)
from ffpipe.engine.builtin import capabilities as caps
from ffpipe.engine.builtin import exact
from ffpipe.engine.builtin.capabilities import ENGINE_NAME, ENGINE_VERSION
from ffpipe.engine.builtin.faces import Face, detect_faces, with_embedding
from ffpipe.engine.builtin.follow import FollowedFrames
from ffpipe.engine.builtin.frames import FramePipeline, FrameReport
from ffpipe.engine.builtin.images import (
    MAX_PIXELS,
    compose,
    output_format,
    read_image,
    resize_to,
    write_image,
)
from ffpipe.engine.builtin.selection import Choice, index_choice, reference_choice
from ffpipe.media import is_video, sniff_file

_DEVICE_FIELDS = ("face_detector_device", "face_recognizer_device", "face_enhancer_device")


class BuiltinEngine(Engine):
    """Runs every catalog op on the CPU with classical stand-ins for the catalog's models.

    ``strict_models=True`` turns every model substitution into an :class:`UnsupportedError`.
    ``max_pixels`` is the largest image (width x height) accepted.
    """

    name = ENGINE_NAME
    version = ENGINE_VERSION

    def __init__(self, *, strict_models: bool = False, max_pixels: int = MAX_PIXELS) -> None:
        self.strict_models = strict_models
        self.max_pixels = max_pixels

    def capabilities(self) -> dict[str, Any]:
        """Engine, version, ops, models (exact or substituted), unsupported parameters, devices,
        encoders and limits."""
        return {
            "engine": self.name,
            "version": self.version,
            "ops": list(OPS),
            "models": caps.models(),
            "recognizer": caps.RECOGNIZER,
            "unsupported": caps.unsupported_parameters(),
            "emulated": caps.emulated_parameters(),
            "devices": ["cpu"],
            "encoders": caps.encoders(),
            "strict_models": self.strict_models,
            "platform": self.platform(),
            "limits": {
                "max_pixels": self.max_pixels,
                "image_formats": ["jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp"],
            },
        }

    def platform(self) -> dict[str, str]:
        """CPU level and the versions of the numeric libraries (see docs/engine.md)."""
        return caps.platform()

    def run(self, op: str, params: CatalogModel, context: RunContext) -> EngineOutput:
        """Run ``op``; ``params`` is its catalog model (a mapping is validated into one)."""
        spec = OPS.get(op)
        if spec is None:
            raise UnsupportedError(f"unknown op {op!r}; known ops: {', '.join(OPS)}")
        if not isinstance(params, spec.params):
            params = spec.params.model_validate(params)
        self._check_devices(params)
        ops = _face_ops(op, params)
        substitutions = caps.substitutions(ops, params)
        if self.strict_models and substitutions:
            listed = ", ".join(f"{s['parameter']}={s['requested']}" for s in substitutions)
            raise UnsupportedError(
                f"strict models: the builtin engine has none of the requested models ({listed}); "
                f"it would substitute its own methods"
            )
        _set_threads(params.execution_thread_count)
        target = Path(params.target_media)
        context.check_cancelled()
        if spec.needs_video:
            output = self._video_only(op, target, params, context)
        elif not spec.takes_video:
            output = self._detect(target, params, context)
        elif is_video(target):
            output = self._video(ops, target, params, context)
        else:
            output = self._image(op, ops, target, params, context)
        result = dict(output.result)
        result["substitutions"] = substitutions
        notes = caps.run_notes(ops, params)
        if notes:
            result["warnings"] = [*result.get("warnings", []), *notes]
        return EngineOutput(files=output.files, result=result)

    @staticmethod
    def _check_devices(params: Any) -> None:
        if getattr(params, "execution_device_id", None) is not None:
            raise UnsupportedError(
                f"execution_device_id {params.execution_device_id!r}: GPUs are not available on "
                "the builtin engine, which runs on the CPU"
            )
        for field in _DEVICE_FIELDS:
            device = getattr(params, field, "cpu")
            if device != "cpu":
                raise UnsupportedError(
                    f"{field} {device!r} is not available on the builtin engine; use 'cpu'"
                )

    def _detect(self, target: Path, params: Any, context: RunContext) -> EngineOutput:
        check_target("detect", target.name, is_video(target))
        name = params.output_path or OPS["detect"].default_output_name(target.name)
        path = output_file("detect", name, target, context.out_dir)
        image = read_image(target, max_pixels=self.max_pixels, role="target_media")
        context.report(0.2, "detect")
        faces = detect_faces(
            image.rgb,
            score=params.face_detector_score,
            detector_size=int(params.face_detector_size.split("x")[0]),
        )
        documents = [face_document(number, face) for number, face in enumerate(faces)]
        width, height = image.size
        result: dict[str, Any] = {
            "faces": documents,
            "face_count": len(faces),
            "faces_found": len(faces),
            "faces_processed": len(faces),
            "width": width,
            "height": height,
        }
        context.out_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
        context.report(1.0, "done")
        return EngineOutput(files={"output": path}, result=result)

    def _image(
        self, op: str, ops: list[str], target: Path, params: Any, context: RunContext
    ) -> EngineOutput:
        label = f"target_media {target.name}"
        # Read first: a target that is no image (a damaged video, a text file) is the user's real
        # problem, not the output format its name would imply.
        image = read_image(target, max_pixels=self.max_pixels, role="target_media")
        # By default the output is named after the target, with the extension of what the target
        # holds: "blob" holding a JPEG gives "blob.jpg", and the bytes always match the name.
        name = params.output_path or OPS[op].default_output_name(target.name, sniff_file(target))
        destination = output_file(op, name, target, context.out_dir)
        fmt = output_format(name)
        context.report(0.1, "prepare")
        pipeline = FramePipeline(
            [(op, params) for op in ops],
            require_faces=True,
            target_name=label,
            max_pixels=self.max_pixels,
            source_frame=self._video_source(params),
        )
        context.check_cancelled()
        if params.target_face_index is None:
            pipeline.set_reference(image.rgb)
        context.report(0.3, "faces")
        processed, report = pipeline.apply(image.rgb, 0)
        context.check_cancelled()
        pixels = compose(image, processed, fmt)
        if params.output_image_resolution:
            pixels = resize_to(pixels, parse_resolution(params.output_image_resolution))
        context.out_dir.mkdir(parents=True, exist_ok=True)
        write_image(destination, pixels, fmt, params.output_image_quality)
        context.report(1.0, "done")
        choice = _choice(image.rgb, report, params, label)
        result: dict[str, Any] = {
            "faces_found": report.faces_detected,
            "faces_detected": report.faces_detected,
            "faces_processed": report.faces_processed,
            "selection": choice.document(),
            "width": int(pixels.shape[1]),
            "height": int(pixels.shape[0]),
            "format": fmt,
        }
        warnings = list(choice.warnings)
        if pipeline.profile_warning():
            warnings.append(pipeline.profile_warning())
        if image.has_alpha and pixels.ndim == 3 and pixels.shape[2] == 3:
            warnings.append(f"{fmt} cannot store transparency: the alpha channel was dropped")
        if warnings:
            result["warnings"] = warnings
        return EngineOutput(files={"output": destination}, result=result)

    def _video_source(self, params: Any) -> np.ndarray | None:
        source = getattr(params, "source_face", None)
        if not source or not is_video(Path(source)):
            return None
        frame = _first_frame_with_face(Path(source), 0, params, params.source_face_index)
        if frame is None:
            raise FaceNotFoundError(
                f"no frame of source_face {Path(source).name} shows face "
                f"{params.source_face_index} at face_detector_score {params.face_detector_score:g}"
            )
        return frame

    def _video(
        self, ops: list[str], target: Path, params: Any, context: RunContext
    ) -> EngineOutput:
        from ffpipe.engine.builtin.video import process_video

        reference = None
        if params.target_face_index is None:
            start = params.trim_frame_start or 0
            reference = _first_frame_with_face(
                target, start, params, params.reference_face_position
            )
            if reference is None:
                raise FaceNotFoundError(
                    f"no frame of target_media {target.name} from frame {start} on shows face "
                    f"{params.reference_face_position} (reference_face_position) at "
                    f"face_detector_score {params.face_detector_score:g}"
                )
        pipeline = FramePipeline(
            [(op, params) for op in ops],
            reference_frame=reference,
            target_name=f"target_media {target.name}",
            max_pixels=self.max_pixels,
            source_frame=self._video_source(params),
        )
        frames = FollowedFrames(pipeline)
        output = process_video(target, frames, params, context)
        result = dict(output.result)
        result.update(frames.counts.document())
        warnings = [*result.get("warnings", []), *frames.warnings()]
        if pipeline.profile_warning():
            warnings.append(pipeline.profile_warning())
        if warnings:
            result["warnings"] = warnings
        return EngineOutput(files=output.files, result=result)

    @staticmethod
    def _video_only(op: str, target: Path, params: Any, context: RunContext) -> EngineOutput:
        from ffpipe.engine.builtin import video

        check_target(op, target.name, is_video(target))
        if OPS[op].writes == "frames":
            return video.extract_frames(target, params, context)
        return video.process_video(target, None, params, context)


def _choice(image_rgb: np.ndarray, report: FrameReport, params: Any, media: str) -> Choice:
    """Which faces of the image were taken, with a warning when several could have been."""
    if params.target_face_index is not None:
        return index_choice(report.faces, report.chosen, params.target_face_index, media=media)
    faces = list(report.faces)
    if len(faces) > 1:
        # Embeddings were computed while selecting but not kept; the choice needs them again.
        faces = [with_embedding(image_rgb, face) for face in faces]
    return reference_choice(
        faces,
        report.chosen,
        params.reference_face_position,
        params.reference_face_distance,
        media=media,
    )


def _face_ops(op: str, params: Any) -> list[str]:
    if op == "process":
        if "swap" in params.processors and not params.source_face:
            raise EngineError("the swap processor needs a source_face")
        return list(params.processors)
    return [] if OPS[op].needs_video else [op]


def _set_threads(count: int) -> None:
    # OpenCV's thread pool is process-wide; results do not depend on its size. IPP, whose code
    # differs per processor, goes off (see ffpipe.engine.builtin.exact).
    exact.opencv().setNumThreads(count)


def _video_frames(path: Path, start: int) -> Iterator[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        for number, frame in enumerate(container.decode(video=0)):
            if number >= start:
                yield frame.to_ndarray(format="rgb24")


def _first_frame_with_face(path: Path, start: int, params: Any, position: int) -> np.ndarray | None:
    """The first frame from ``start`` on with more than ``position`` faces: fixing it before any
    frame is processed keeps the choice of reference independent of thread timing."""
    size = int(params.face_detector_size.split("x")[0])
    for frame in _video_frames(path, start):
        faces = detect_faces(
            frame, score=params.face_detector_score, detector_size=size, with_embeddings=False
        )
        if len(faces) > position:
            return frame
    return None


def face_document(number: int, face: Face) -> dict[str, Any]:
    """A face as JSON: index, box, score, landmarks and embedding."""
    left, top, right, bottom = face.box
    return {
        "index": number,
        "box": [left, top, right, bottom],
        "score": round(face.score, 4),
        "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in face.landmarks],
        "embedding": None
        if face.embedding is None
        else [round(float(value), 6) for value in face.embedding],
    }
