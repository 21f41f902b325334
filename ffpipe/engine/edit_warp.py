"""Warp an image so that chosen points move to new places: moving least squares (similarity).

The warp is the similarity variant of moving least squares (Schaefer, McPhail and Warren, 2006),
evaluated backwards: for each output pixel it finds where to sample the input, so there are no
holes. It is computed on a coarse grid, upsampled, faded to zero towards the edges of the region
and applied with one ``cv2.remap``; pixels outside the region are never written.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Control points closer than this (pixels squared) to a grid point would give infinite weight.
_EPSILON = 1e-6
# Grid points per chunk, so that the (grid x controls) weight matrix stays a few megabytes.
_CHUNK = 4096


@dataclass(frozen=True)
class Region:
    """A rectangle of the frame, ``left <= x < right`` and ``top <= y < bottom``."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top


def region_around(points: np.ndarray, margin: float, shape: tuple[int, ...]) -> Region:
    """The bounding box of ``points`` grown by ``margin`` pixels, clipped to an image ``shape``."""
    low = np.floor(points.min(axis=0) - margin).astype(int)
    high = np.ceil(points.max(axis=0) + margin).astype(int) + 1
    return Region(
        left=int(max(low[0], 0)),
        top=int(max(low[1], 0)),
        right=int(min(high[0], shape[1])),
        bottom=int(min(high[1], shape[0])),
    )


def mls_inverse_map(
    targets: np.ndarray, sources: np.ndarray, query: np.ndarray, alpha: float = 1.0
) -> np.ndarray:
    """Where each ``query`` point of the output samples the input.

    ``targets`` are where control points end up, ``sources`` where they come from (both (N, 2));
    ``query`` is (M, 2). The result is (M, 2): a smooth map that sends each target exactly to its
    source and is locally a similarity (rotation, uniform scale, shift).
    """
    target_c = targets[:, 0] + 1j * targets[:, 1]
    source_c = sources[:, 0] + 1j * sources[:, 1]
    result = np.empty(len(query), dtype=np.complex128)
    for start in range(0, len(query), _CHUNK):
        chunk = query[start : start + _CHUNK]
        point = (chunk[:, 0] + 1j * chunk[:, 1])[:, None]
        weight = 1.0 / (np.abs(target_c[None, :] - point) ** (2.0 * alpha) + _EPSILON)
        total = weight.sum(axis=1, keepdims=True)
        target_mean = (weight * target_c).sum(axis=1, keepdims=True) / total
        source_mean = (weight * source_c).sum(axis=1, keepdims=True) / total
        target_hat = target_c[None, :] - target_mean
        source_hat = source_c[None, :] - source_mean
        rotation_scale = (weight * np.conj(target_hat) * source_hat).sum(axis=1, keepdims=True)
        norm = (weight * np.abs(target_hat) ** 2).sum(axis=1, keepdims=True)
        mapped = source_mean + (point - target_mean) * rotation_scale / np.maximum(norm, _EPSILON)
        result[start : start + _CHUNK] = mapped[:, 0]
    return np.stack([result.real, result.imag], axis=1)


def _edge_fade(height: int, width: int, fade: float) -> np.ndarray:
    """1.0 inside, falling smoothly to 0.0 at the region's edges over ``fade`` pixels."""

    def ramp(length: int) -> np.ndarray:
        position = np.arange(length, dtype=np.float32)
        distance = np.minimum(position, length - 1 - position)
        t = np.clip(distance / max(fade, 1.0), 0.0, 1.0)
        return t * t * (3.0 - 2.0 * t)

    return ramp(height)[:, None] * ramp(width)[None, :]


def warp_points(
    frame: np.ndarray,
    sources: np.ndarray,
    targets: np.ndarray,
    region: Region,
    grid_step: int,
) -> np.ndarray:
    """A copy of ``frame`` where, inside ``region``, content at ``sources`` moves to ``targets``.

    Control points are in frame pixel coordinates (x, y). Points that should stay put must be
    given with equal source and target; the region's border always stays put.
    """
    result = frame.copy()
    height, width = region.height, region.width
    if height < 2 or width < 2:
        return result
    grid_height = max(2, -(-height // grid_step))
    grid_width = max(2, -(-width // grid_step))
    # Grid nodes placed where cv2.resize (INTER_LINEAR) takes its samples from, so that the
    # upsampled map is exact at the nodes.
    node_x = (np.arange(grid_width) + 0.5) * width / grid_width - 0.5 + region.left
    node_y = (np.arange(grid_height) + 0.5) * height / grid_height - 0.5 + region.top
    grid_x, grid_y = np.meshgrid(node_x, node_y)
    query = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1)
    mapped = mls_inverse_map(targets.astype(np.float64), sources.astype(np.float64), query)
    shift = (mapped - query).astype(np.float32).reshape(grid_height, grid_width, 2)
    shift = cv2.resize(shift, (width, height), interpolation=cv2.INTER_LINEAR)
    shift *= _edge_fade(height, width, fade=0.12 * min(height, width))[:, :, None]
    pixel_x, pixel_y = np.meshgrid(
        np.arange(region.left, region.right, dtype=np.float32),
        np.arange(region.top, region.bottom, dtype=np.float32),
    )
    warped = cv2.remap(
        frame,
        pixel_x + shift[:, :, 0],
        pixel_y + shift[:, :, 1],
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT_101,
    )
    result[region.top : region.bottom, region.left : region.right] = warped
    return result
