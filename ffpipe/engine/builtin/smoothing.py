"""Landmark smoothing over time: a One Euro filter whose memory follows the face's own motion.

A plain low-pass filter cuts the jitter of per-frame landmark fits but lags behind a moving face.
Two things remove the lag here:

- Motion compensation: before blending, the previous smoothed landmarks are carried along by the
  face's measured frame-to-frame motion (the similarity transform the tracker estimated from
  optical flow), so a pan, zoom or head tilt never shows up as a delay.
- The One Euro rule (Casiez, Roussel and Vogel, CHI 2012) for what is left: the cutoff frequency
  rises with the speed of the remaining motion (an opening mouth, a fast turn), so slow jitter is
  smoothed hard and fast changes pass almost at once.

Speeds are measured in face sizes per second, so the same settings fit small and large faces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ffpipe.engine.builtin import exact

# Cutoff (Hz) at rest, its rise per face size per second of residual motion, and the cutoff of
# the velocity estimate itself. Velocities are low-passed per point, so fit jitter (random in
# direction) mostly cancels while a consistent movement (a mouth opening) keeps its speed; the
# fastest twentieth of the points sets the pace, so a movement of a few features (the lips) is
# not averaged away.
MIN_CUTOFF_HZ = 1.0
SPEED_GAIN = 5.0
SPEED_CUTOFF_HZ = 1.0
_FAST_POINTS_PERCENTILE = 95


def _alpha(cutoff_hz: float, seconds: float) -> float:
    """Blend weight of the new sample for a first-order low-pass at ``cutoff_hz``."""
    tau = 1.0 / (2.0 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / seconds)


def face_scale(points: np.ndarray) -> float:
    """Root mean square distance of the points from their centroid (at least 1 pixel)."""
    centred = points - points.mean(axis=0)
    return max(1.0, float(np.sqrt((centred**2).sum(axis=1).mean())))


def apply_motion(motion: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``points`` moved by a 2x3 affine ``motion``."""
    return exact.transform(points, motion).astype(np.float32)


@dataclass
class LandmarkFilter:
    """Smooths the landmarks of one followed face; feed it every measurement in time order."""

    min_cutoff_hz: float = MIN_CUTOFF_HZ
    speed_gain: float = SPEED_GAIN
    speed_cutoff_hz: float = SPEED_CUTOFF_HZ
    _value: np.ndarray | None = field(default=None, init=False)
    _velocity: np.ndarray | None = field(default=None, init=False)
    _time: float = field(default=0.0, init=False)

    def update(self, points: np.ndarray, time: float, motion: np.ndarray | None) -> np.ndarray:
        """The smoothed landmarks at ``time`` (seconds) given the measured ``points``.

        ``motion`` carries the previous estimate to this frame (see the module's docstring);
        ``None`` means the motion is unknown and the filter starts over from ``points``.
        """
        points = points.astype(np.float32)
        seconds = time - self._time
        if self._value is None or motion is None or seconds <= 0:
            return self._restart(points, time)
        carried = apply_motion(motion, self._value)
        residual = points - carried
        assert self._velocity is not None
        velocity = residual / seconds
        self._velocity += _alpha(self.speed_cutoff_hz, seconds) * (velocity - self._velocity)
        speeds = np.linalg.norm(self._velocity, axis=1)
        speed = float(np.percentile(speeds, _FAST_POINTS_PERCENTILE)) / face_scale(points)
        cutoff = self.min_cutoff_hz + self.speed_gain * speed
        self._value = carried + _alpha(cutoff, seconds) * residual
        self._time = time
        return self._value.copy()

    def _restart(self, points: np.ndarray, time: float) -> np.ndarray:
        self._value, self._time = points, time
        self._velocity = np.zeros_like(points)
        return points.copy()
