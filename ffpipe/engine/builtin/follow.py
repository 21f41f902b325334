"""The frame function of a face op on a video: faces followed in frame order, ops on any worker.

Which faces a video op processes is decided per track, not per frame (see
:mod:`ffpipe.engine.builtin.tracking`), so the choice holds through the clip:

- ``target_face_index``: when no face is chosen yet (or the chosen one is no longer followed), the
  face at that index, left to right, of the current frame is chosen, and followed from then on.
- otherwise, the reference face: each track is compared with it (``reference_face_distance``) on
  the frame where the track starts; a track found alike keeps that verdict, one found unlike is
  compared again every ``RECHECK_EVERY`` frames, at most ``MAX_RECHECKS`` times.

Answers come ``BACKFILL_FRAMES`` frames late: a face first detected in a frame is followed back
through the frames held until then (see
:meth:`~ffpipe.engine.builtin.tracking.FaceTracker.trace_back`).

It also counts what happened, per output frame (a frame shown twice counts twice), for the result
document, and words one warning line per kind of shortfall (frames without a face, frames whose
faces were all left out, frames whose chosen face no op changed).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ffpipe.engine.builtin.faces import Face
from ffpipe.engine.builtin.frames import FramePipeline
from ffpipe.engine.builtin.tracking import REDETECT_EVERY, FaceTracker, FollowedFace, iou


@dataclass
class FrameCounts:
    """Output frames and faces, tallied as frames are followed and processed."""

    frames: int = 0
    frames_with_face: int = 0
    frames_with_selected_face: int = 0
    faces_found: int = 0
    faces_processed: int = 0
    frames_processed: int = 0

    def document(self) -> dict[str, int]:
        """The counts for the op's result document."""
        return {
            "frames_with_face": self.frames_with_face,
            "frames_without_face": self.frames - self.frames_with_face,
            "frames_processed": self.frames_processed,
            "faces_found": self.faces_found,
            "faces_processed": self.faces_processed,
        }


# A face judged unlike the reference is looked at again this many frames later, a few times: its
# first frame may have been a poor view (blurred, turned away). A face judged alike stays chosen.
RECHECK_EVERY = 8
MAX_RECHECKS = 3


@dataclass(frozen=True)
class _Verdict:
    chosen: bool
    frame: int
    checks: int

    def due(self, frame: int) -> bool:
        return self.checks < MAX_RECHECKS and frame - self.frame >= RECHECK_EVERY


BACKFILL_FRAMES = REDETECT_EVERY
"""Frames held back so that a face detected late (a shot's first frames, a face appearing between
scheduled detections) is followed back through them."""
_SAME_FACE = 0.3

KeptFrame = tuple[np.ndarray, int, float, int]
"""A frame to follow: RGB image, source index, time in seconds, copies in the output."""


@dataclass
class _Held:
    image: np.ndarray
    index: int
    time: float
    copies: int
    faces: list[FollowedFace]


def _left_to_right(face: FollowedFace) -> tuple[int, int, int]:
    return (face.face.box[0], face.face.box[1], face.track)


@dataclass(frozen=True)
class FrameFaces:
    """What :meth:`FollowedFrames.follow` decided for one frame."""

    faces: list[Face]
    """The faces to process, smoothed landmarks."""
    copies: int
    """How many output frames show this frame."""


class FollowedFrames:
    """Follows faces through a video's frames and applies a :class:`FramePipeline` to them.

    ``follow`` must see every kept frame once, in order, on one thread; ``__call__`` may then run
    on any thread, in any order, with what ``follow`` gave for that frame.
    """

    def __init__(self, pipeline: FramePipeline) -> None:
        self.pipeline = pipeline
        self.counts = FrameCounts()
        self._tracker = FaceTracker(pipeline.detect, pipeline.settings.face_detector_score)
        self._settings: Any = pipeline.settings
        self._chosen: int | None = None
        self._verdicts: dict[int, _Verdict] = {}
        self._frame = 0
        self._lock = threading.Lock()

    def follow(self, frames: Iterable[KeptFrame]) -> Iterator[FrameFaces]:
        """For each kept frame (image, index, time in seconds, copies in the output), in order,
        the faces to process in it. Answers lag ``BACKFILL_FRAMES`` frames behind: a face first
        detected in a frame is followed back through the frames still held."""
        held: deque[_Held] = deque()
        for image, index, time, copies in frames:
            followed = self._tracker.step(image, time)
            for face in followed:
                if face.new and held:
                    self._fill_back(face, image, time, held)
            held.append(_Held(image, index, time, copies, followed))
            if len(held) > BACKFILL_FRAMES:
                yield self._release(held.popleft())
        while held:
            yield self._release(held.popleft())

    def _fill_back(
        self, face: FollowedFace, image: np.ndarray, time: float, held: deque[_Held]
    ) -> None:
        frames = list(reversed(held))
        traced = self._tracker.trace_back(face, image, time, [(f.image, f.time) for f in frames])
        for frame, earlier in zip(frames, traced, strict=False):
            if any(iou(earlier.face.box, other.face.box) >= _SAME_FACE for other in frame.faces):
                break
            frame.faces = sorted([*frame.faces, earlier], key=_left_to_right)

    def _release(self, frame: _Held) -> FrameFaces:
        self._frame += 1
        selected = self._select(frame.image, frame.faces, frame.index)
        counts, copies = self.counts, frame.copies
        with self._lock:
            counts.frames += copies
            counts.faces_found += copies * len(frame.faces)
            if frame.faces:
                counts.frames_with_face += copies
            if selected:
                counts.frames_with_selected_face += copies
        return FrameFaces(selected, copies)

    def __call__(self, image: np.ndarray, index: int, chosen: FrameFaces) -> np.ndarray:
        """Frame ``index`` with the ops applied to the faces :meth:`follow` chose for it."""
        if not chosen.faces:
            return image
        result, processed = self.pipeline.process(image, chosen.faces)
        with self._lock:
            self.counts.faces_processed += chosen.copies * processed
            if processed:
                self.counts.frames_processed += chosen.copies
        return result

    def _select(self, image: np.ndarray, followed: list[FollowedFace], index: int) -> list[Face]:
        if not followed:
            return []
        if self._settings.target_face_index is not None:
            return self._by_index(followed)
        for face in followed:
            verdict = self._verdicts.get(face.track)
            if verdict is None or (not verdict.chosen and verdict.due(self._frame)):
                chosen = bool(self.pipeline.select(image, [face.measured], index))
                self._verdicts[face.track] = _Verdict(
                    chosen, self._frame, 0 if verdict is None else verdict.checks + 1
                )
        return [face.face for face in followed if self._verdicts[face.track].chosen]

    def _by_index(self, followed: list[FollowedFace]) -> list[Face]:
        present = {face.track for face in followed}
        if self._chosen not in present and self._chosen not in self._tracker.alive:
            self._chosen = None
        position = self._settings.target_face_index
        if self._chosen is None and len(followed) > position:
            self._chosen = followed[position].track
        return [face.face for face in followed if face.track == self._chosen]

    def warnings(self) -> list[str]:
        """One line per shortfall: frames without a face, frames whose faces were all left out."""
        counts = self.counts
        lines = []
        missing = counts.frames - counts.frames_with_face
        if missing:
            lines.append(f"{missing} of {counts.frames} frames had no face")
        unselected = counts.frames_with_face - counts.frames_with_selected_face
        if unselected:
            lines.append(
                f"{unselected} of {counts.frames} frames showed a face but none was selected "
                f"({self._selection_rule()})"
            )
        unprocessed = counts.frames_with_selected_face - counts.frames_processed
        if unprocessed:
            lines.append(
                f"{unprocessed} of {counts.frames} frames had a selected face that no op changed "
                "(its mask was empty)"
            )
        return lines

    def _selection_rule(self) -> str:
        settings = self._settings
        if settings.target_face_index is not None:
            return f"no face at target_face_index {settings.target_face_index}"
        return (
            "no face resembled the reference face within reference_face_distance "
            f"{settings.reference_face_distance:g}"
        )
