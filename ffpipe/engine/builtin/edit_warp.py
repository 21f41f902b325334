"""Warp an image so that chosen points move to new places: a thin-plate spline.

The spline (Bookstein, 1989) is the smoothest map through the control points: unlike piecewise
affine or moving-least-squares warps it has no creases along triangle edges and no flat spots
around each point, so a moved jaw line stays a smooth curve. It is evaluated backwards, from each
output pixel to where it samples the input, so there are no holes; on a coarse grid, upsampled,
faded to zero towards the edges of the region and applied with one ``cv2.remap``. Pixels outside
the region are never written.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ffpipe.engine.builtin import exact

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


def _kernel(squared_distance: np.ndarray) -> np.ndarray:
    """The thin-plate radial function r^2 log r, written on r^2 (0 at r = 0)."""
    return 0.5 * squared_distance * exact.log(np.maximum(squared_distance, 1e-300))


def tps_inverse_map(
    targets: np.ndarray, sources: np.ndarray, query: np.ndarray, smoothing: float = 1e-4
) -> np.ndarray:
    """Where each ``query`` point of the output samples the input.

    ``targets`` are where control points end up, ``sources`` where they come from (both (N, 2));
    ``query`` is (M, 2). The result is (M, 2): the thin-plate spline that sends each target to its
    source with the least bending. ``smoothing`` (in units of the control points' spread squared)
    relaxes exactness a little, which keeps the solve defined when two targets coincide, as when
    an eye is closed completely.
    """
    centre = targets.mean(axis=0)
    scale = float(np.sqrt(((targets - centre) ** 2).sum(axis=1).mean())) or 1.0
    fixed = (targets - centre) / scale
    count = len(fixed)
    system = np.zeros((count + 3, count + 3))
    system[:count, :count] = _kernel(((fixed[:, None, :] - fixed[None, :, :]) ** 2).sum(axis=2))
    system[:count, :count] += np.eye(count) * smoothing
    system[:count, count] = 1.0
    system[:count, count + 1 :] = fixed
    system[count, :count] = 1.0
    system[count + 1 :, :count] = fixed.T
    right_side = np.zeros((count + 3, 2))
    right_side[:count] = sources
    # OpenCV's LU runs on one thread: numpy's LAPACK can stall badly on a busy machine, and a
    # threaded BLAS may sum in a different order from run to run.
    solved, coefficients = cv2.solve(system, right_side, flags=cv2.DECOMP_LU)
    if not solved:
        raise ValueError("control points are degenerate (all on one line)")
    result = np.empty((len(query), 2), dtype=np.float64)
    for start in range(0, len(query), _CHUNK):
        point = (query[start : start + _CHUNK] - centre) / scale
        radial = _kernel(((point[:, None, :] - fixed[None, :, :]) ** 2).sum(axis=2))
        affine = np.hstack([np.ones((len(point), 1)), point])
        result[start : start + _CHUNK] = np.einsum(
            "mn,nk->mk", radial, coefficients[:count]
        ) + np.einsum("mn,nk->mk", affine, coefficients[count:])
    return result


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
    mapped = tps_inverse_map(targets.astype(np.float64), sources.astype(np.float64), query)
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
