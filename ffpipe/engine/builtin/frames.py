"""The per-frame face pipeline: detect once, select the target faces, apply each op, blend.

Built from one (op, params) pair for a plain step or several for a fused ``process`` step (swap,
then enhance, then edit), prepared once (the source face, the reference face), then called for
every frame. Frames may be processed concurrently: the pipeline's only shared state, the
reference face, is fixed before the first frame (or by the first frame, see :meth:`apply`) and
guarded by a lock. Within a frame, up to ``execution_queue_count`` faces are processed at once;
each face is computed from the same input and the results are composited in face order, so the
output does not depend on the number of workers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ffpipe.catalog import FRAME_OPS, CatalogModel
from ffpipe.engine.api import EngineError, FaceNotFoundError
from ffpipe.engine.builtin import exact
from ffpipe.engine.builtin.faces import Face, detect_faces, refresh_landmarks, with_embedding
from ffpipe.engine.builtin.images import MAX_PIXELS, read_image
from ffpipe.engine.builtin.masks import blend, build_mask
from ffpipe.engine.builtin.selection import pick, similar_faces
from ffpipe.engine.builtin.swap import SourceFace, prepare_source, swap_face

FaceFn = Callable[[np.ndarray, Face], np.ndarray]
"""Processes one face: returns the whole frame with that face changed, before mask blending."""

# Geometric edits move pixels beyond the face; their mask box is grown by this fraction per side.
EDIT_MASK_EXPAND = 0.5


@dataclass(frozen=True)
class FrameReport:
    """What happened to one frame."""

    faces_detected: int
    faces_processed: int
    faces: tuple[Face, ...] = field(default=(), compare=False)
    """The faces detected, left to right."""
    chosen: tuple[Face, ...] = field(default=(), compare=False)
    """The faces selected for processing, as detected."""


@dataclass(frozen=True)
class _Reference:
    frame: np.ndarray
    faces: list[Face]
    position: int


class FramePipeline:
    """Applies per-frame ops to the selected faces of each frame it is called with."""

    def __init__(
        self,
        steps: Sequence[tuple[str, CatalogModel]],
        *,
        reference_frame: np.ndarray | None = None,
        require_faces: bool = False,
        target_name: str = "target",
        max_pixels: int = MAX_PIXELS,
        source_frame: np.ndarray | None = None,
    ) -> None:
        """``steps``: (op, params) in order; detection, selection and masking follow the first
        step's params. ``require_faces``: a frame without the requested face is an error (images)
        instead of passing through unchanged (video frames). ``target_name`` names the target in
        messages. ``reference_frame`` fixes the reference face up front (see :meth:`apply`).
        ``source_frame``: the source's pixels when they do not come from the image file named
        by ``source_face`` (a frame taken from a source video)."""
        if not steps:
            raise ValueError("a frame pipeline needs at least one op")
        for op, _ in steps:
            if op not in FRAME_OPS:
                raise ValueError(f"{op!r} is not a per-frame op ({', '.join(FRAME_OPS)})")
        self.settings: Any = steps[0][1]
        self.require_faces = require_faces
        self.target_name = target_name
        self._max_pixels = max_pixels
        self._source_frame = source_frame
        self._stages = [(op, self._face_fn(op, params), params) for op, params in steps]
        self._lock = threading.Lock()
        self._reference: _Reference | None = None
        self._reference_embedding: np.ndarray | None = None
        self._workers = int(getattr(self.settings, "execution_queue_count", 1))
        self.faces_processed = 0
        self.profiles_refused = 0
        if reference_frame is not None:
            self.set_reference(reference_frame)

    def _face_fn(self, op: str, params: Any) -> FaceFn:
        if op == "swap":
            source = self._prepare_source(params)
            boost = int(params.face_swapper_pixel_boost)
            return lambda frame, face: swap_face(frame, face, source, boost)
        # Imported here: they load OpenCV, which a pipeline that only plans never needs.
        if op == "edit":
            from ffpipe.engine.builtin.edit import check_supported, edit_face

            check_supported(params)
            return lambda frame, face: edit_face(frame, face, params)
        from ffpipe.engine.builtin.enhance import enhance_face

        return lambda frame, face: enhance_face(frame, face, params)

    def _prepare_source(self, params: Any) -> SourceFace:
        if not getattr(params, "source_face", None):
            raise EngineError("swap needs a source_face")
        path = Path(params.source_face)
        pixels = self._source_frame
        if pixels is None:
            pixels = read_image(path, max_pixels=self._max_pixels, role="source_face").rgb
        faces = self._detect(pixels, params)
        if not faces:
            raise FaceNotFoundError(_no_face("source_face " + path.name, params))
        face = pick(
            faces,
            params.source_face_index,
            media="source_face " + path.name,
            parameter="source_face_index",
        )
        return prepare_source(pixels, face)

    @staticmethod
    def _detect(frame_rgb: np.ndarray, params: Any) -> list[Face]:
        return detect_faces(
            frame_rgb,
            score=params.face_detector_score,
            detector_size=int(params.face_detector_size.split("x")[0]),
            with_embeddings=False,
        )

    def detect(self, frame_rgb: np.ndarray, score: float | None = None) -> list[Face]:
        """The faces of ``frame_rgb`` at the first step's detector settings (no embeddings);
        ``score`` overrides its ``face_detector_score``."""
        settings = self.settings
        if score is not None:
            settings = settings.model_copy(update={"face_detector_score": score})
        return self._detect(frame_rgb, settings)

    def set_reference(self, frame_rgb: np.ndarray) -> None:
        """Take the reference face (``reference_face_position``) from ``frame_rgb``."""
        faces = self._detect(frame_rgb, self.settings)
        self._set_reference(frame_rgb, faces)

    def _set_reference(self, frame_rgb: np.ndarray, faces: list[Face]) -> None:
        position = self.settings.reference_face_position
        if not faces:
            raise FaceNotFoundError(_no_face(self.target_name, self.settings))
        pick(faces, position, media=self.target_name, parameter="reference_face_position")
        with self._lock:
            self._reference = _Reference(frame_rgb, faces, position)
            self._reference_embedding = None

    def _adopt_reference(self, frame_rgb: np.ndarray, faces: list[Face]) -> _Reference:
        # The first frame to get here wins; a frame racing it uses the winner's reference.
        with self._lock:
            if self._reference is None:
                position = self.settings.reference_face_position
                self._reference = _Reference(frame_rgb, faces, position)
            return self._reference

    def _reference_vector(self) -> np.ndarray:
        with self._lock:
            reference = self._reference
            if reference is None:
                raise RuntimeError("no reference face")
            if self._reference_embedding is None:
                face = with_embedding(reference.frame, reference.faces[reference.position])
                self._reference_embedding = face.embedding
            return self._reference_embedding

    def __call__(self, frame_rgb: np.ndarray, index: int) -> np.ndarray:
        """The processed frame (uint8 RGB, same shape)."""
        return self.apply(frame_rgb, index)[0]

    def apply(self, frame_rgb: np.ndarray, index: int) -> tuple[np.ndarray, FrameReport]:
        """Process one frame; ``index`` is its position, used in messages.

        Without ``target_face_index`` the faces resembling the reference face are processed. The
        reference comes from ``reference_frame``, :meth:`set_reference`, or else from the first
        frame that shows a face at ``reference_face_position`` (pass a reference frame when
        frames run concurrently, so that choice does not depend on timing).
        """
        exact.opencv()  # IPP off on this thread too: frames may run on worker threads
        faces = self._frame_faces(frame_rgb)
        selected = self.select(frame_rgb, faces, index)
        result, processed = self.process(frame_rgb, selected)
        report = FrameReport(len(faces), processed, faces=tuple(faces), chosen=tuple(selected))
        return result, report

    def process(self, frame_rgb: np.ndarray, faces: Sequence[Face]) -> tuple[np.ndarray, int]:
        """Apply every op to ``faces`` (already selected); the frame and how many faces changed."""
        processed = 0
        result = frame_rgb
        selected = list(faces)
        for number, (op, face_fn, params) in enumerate(self._stages):
            if number > 0:
                selected = [refresh_landmarks(result, face) for face in selected]
            result, processed = self._run_stage(result, selected, op, face_fn, params)
        with self._lock:
            self.faces_processed += processed
        return result, processed

    def _frame_faces(self, frame_rgb: np.ndarray) -> list[Face]:
        with self._lock:
            reference = self._reference
        if reference is not None and reference.frame is frame_rgb:
            return reference.faces
        return self._detect(frame_rgb, self.settings)

    def select(self, frame_rgb: np.ndarray, faces: list[Face], index: int) -> list[Face]:
        """The faces the ops process: ``target_face_index``, else those like the reference."""
        settings = self.settings
        if not faces:
            if self.require_faces:
                raise FaceNotFoundError(_no_face(self.target_name, settings))
            return []
        if settings.target_face_index is not None:
            try:
                return [
                    pick(
                        faces,
                        settings.target_face_index,
                        media=self._frame_name(index),
                        parameter="target_face_index",
                    )
                ]
            except FaceNotFoundError:
                if self.require_faces:
                    raise
                return []
        with self._lock:
            reference = self._reference
        if reference is None:
            position = settings.reference_face_position
            if len(faces) <= position:
                if self.require_faces:
                    pick(
                        faces, position, media=self.target_name, parameter="reference_face_position"
                    )
                return []
            reference = self._adopt_reference(frame_rgb, faces)
        if reference.frame is frame_rgb:
            return self._similar_to_own_reference(frame_rgb, faces, reference.position)
        embedded = [with_embedding(frame_rgb, face) for face in faces]
        chosen = similar_faces(
            [face.embedding for face in embedded],
            self._reference_vector(),
            settings.reference_face_distance,
        )
        return [faces[number] for number in chosen]

    def _similar_to_own_reference(
        self, frame_rgb: np.ndarray, faces: list[Face], position: int
    ) -> list[Face]:
        # In the reference frame itself the reference face is always chosen; the others are
        # compared only when there are others, which spares single-face images an embedding.
        if len(faces) == 1:
            return list(faces)
        distance = self.settings.reference_face_distance
        if distance >= 1.0:
            return list(faces)
        reference = self._reference_vector()
        embedded = [with_embedding(frame_rgb, face) for face in faces]
        chosen = set(similar_faces([face.embedding for face in embedded], reference, distance))
        chosen.add(position)
        return [faces[number] for number in sorted(chosen)]

    def _frame_name(self, index: int) -> str:
        return self.target_name if self.require_faces else f"frame {index} of {self.target_name}"

    def _run_stage(
        self, frame_rgb: np.ndarray, faces: list[Face], op: str, face_fn: FaceFn, params: Any
    ) -> tuple[np.ndarray, int]:
        expand = EDIT_MASK_EXPAND if op == "edit" else 0.0
        if op == "swap":
            faces = self._refuse_profiles(faces)

        def one(face: Face) -> tuple[np.ndarray, np.ndarray]:
            mask = build_mask(frame_rgb.shape[:2], face, params, frame_rgb=frame_rgb, expand=expand)
            if not mask.any():
                return frame_rgb, mask
            return face_fn(frame_rgb, face), mask

        if self._workers > 1 and len(faces) > 1:
            with ThreadPoolExecutor(max_workers=self._workers, initializer=exact.opencv) as pool:
                outcomes = list(pool.map(one, faces))
        else:
            outcomes = [one(face) for face in faces]
        result = frame_rgb
        processed = 0
        for face, (changed, mask) in zip(faces, outcomes, strict=True):
            if not mask.any():
                if self.require_faces and "region" in params.face_mask_types:
                    raise EngineError(
                        f"the mask of the face at {list(face.box)} in {self.target_name} is "
                        "empty: its face_mask_regions polygons fall outside the image"
                    )
                continue
            result = blend(result, changed, mask)
            processed += 1
        return result, processed

    def _refuse_profiles(self, faces: list[Face]) -> list[Face]:
        """The faces a swap can cover: a face seen in profile hides the half that the landmark
        warp needs, so it is left as it is (and counted) rather than smeared."""
        kept = [face for face in faces if not face.profile]
        if len(kept) < len(faces):
            with self._lock:
                self.profiles_refused += len(faces) - len(kept)
        return kept

    def profile_warning(self) -> str | None:
        """A warning naming how many faces were not swapped for being seen in profile."""
        if not self.profiles_refused:
            return None
        return (
            f"{self.profiles_refused} face(s) seen in profile were not swapped: the builtin "
            "swap warps 68 landmarks and cannot cover the hidden half of a face"
        )


def _no_face(media: str, params: Any) -> str:
    return (
        f"no face found in {media} at face_detector_score {params.face_detector_score:g} "
        f"(face_detector_size {params.face_detector_size}); lower the score to accept weaker "
        "detections"
    )
