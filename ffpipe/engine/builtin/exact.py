"""Arithmetic whose results are the same bits on every x86-64 processor.

The engine's output bytes must not depend on the machine. These paths did (found by running the
examples with the libraries' CPU dispatch switched down, see tests/test_engine_determinism.py):

- OpenCV's IPP (Intel's library inside OpenCV) picks its own code per processor, and differs from
  OpenCV's own code: switched off, for the whole process (:func:`opencv`).
- OpenCV's float warps and Gaussian blurs use FMA and AVX2 where present. Warps here build their
  sampling maps in numpy and resample through fixed-point maps (:func:`warp_affine`); blurs run
  on 16-bit fixed point (:func:`gaussian_blur`), which OpenCV computes bit-exactly everywhere.
- numpy's matrix products, vector norms and SVD go to OpenBLAS, whose kernels (and so rounding)
  are chosen per processor model: small products here are written out (:func:`transform`,
  :func:`matmul`, :func:`norm`).
- numpy's ``exp`` and ``log`` on float64 take AVX-512 (SVML) or AVX2 code whose last bits differ:
  :func:`exp` and :func:`log` use only operations IEEE 754 rounds exactly (+, -, *, /, ``frexp``,
  ``ldexp``, ``rint``), which every SIMD width computes alike.

Elementwise arithmetic and numpy's sums (fixed pairwise order) are the same everywhere already.
"""

from __future__ import annotations

import os
import threading
from functools import cache
from typing import Any

import numpy as np

_THREAD = threading.local()
_LN2 = 0.6931471805599453
_FIXED = 65535.0


def opencv() -> Any:
    """``cv2``, with IPP off for the whole process and for the calling thread.

    The process-wide switch is OpenCV's ``OPENCV_IPP`` variable, read once when IPP is first
    asked about; the per-thread one covers a process that used OpenCV before.
    """
    import cv2

    _disable_ipp_for_process()
    if not getattr(_THREAD, "ipp_off", False):
        cv2.ipp.setUseIPP(False)
        _THREAD.ipp_off = True
    return cv2


@cache
def _disable_ipp_for_process() -> None:
    import cv2

    logging = cv2.utils.logging
    previous = logging.getLogLevel()
    # OpenCV warns once that the variable turned IPP off; that is the point, not news.
    logging.setLogLevel(logging.LOG_LEVEL_ERROR)
    try:
        os.environ["OPENCV_IPP"] = "disabled"
        cv2.ipp.useIPP()
    finally:
        logging.setLogLevel(previous)


def transform(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(N, 2) points through a 2x3 affine (or 2x2 linear) matrix, float64."""
    points = np.asarray(points, dtype=np.float64)
    m = np.asarray(matrix, dtype=np.float64)
    x, y = points[..., 0], points[..., 1]
    out_x = x * m[0, 0] + y * m[0, 1]
    out_y = x * m[1, 0] + y * m[1, 1]
    if m.shape[1] == 3:
        out_x, out_y = out_x + m[0, 2], out_y + m[1, 2]
    return np.stack([out_x, out_y], axis=-1)


def matmul(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``first @ second`` for small 2-D float matrices, summed in a fixed order without BLAS."""
    first = np.asarray(first, dtype=np.float64)
    second = np.asarray(second, dtype=np.float64)
    result = first[:, :1] * second[:1, :]
    for k in range(1, first.shape[1]):
        result = result + first[:, k : k + 1] * second[k : k + 1, :]
    return result


def norm(vector: np.ndarray) -> float:
    """Euclidean length of a vector (numpy's goes through a BLAS dot product)."""
    values = np.asarray(vector, dtype=np.float64).ravel()
    return float(np.sqrt((values * values).sum()))


def exp(values: np.ndarray | float) -> np.ndarray:
    """e**x, float64, within about 2 ulp of the true value, identical on every processor."""
    x = np.asarray(values, dtype=np.float64)
    x = np.clip(x, -745.0, 709.0)
    k = np.rint(x / _LN2)
    r = (x - k * 0.6931471803691238) - k * 1.9082149292705877e-10
    # Taylor series of e**r for |r| <= ln(2)/2, Horner's rule: the error is below 1e-17.
    total = np.ones_like(r)
    for n in range(17, 0, -1):
        total = 1.0 + total * r / n
    return np.ldexp(total, k.astype(np.int64))


def log(values: np.ndarray | float) -> np.ndarray:
    """Natural logarithm of positive values, float64, identical on every processor."""
    x = np.asarray(values, dtype=np.float64)
    mantissa, exponent = np.frexp(x)
    # Mantissa into [sqrt(1/2), sqrt(2)): the series below then converges fast.
    low = mantissa < 0.7071067811865476
    mantissa = np.where(low, mantissa * 2.0, mantissa)
    exponent = exponent - low
    s = (mantissa - 1.0) / (mantissa + 1.0)
    s2 = s * s
    # log(m) = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...), |s| <= 0.172: 12 terms reach 1e-18.
    total = np.zeros_like(s)
    for n in range(23, 0, -2):
        total = 1.0 / n + total * s2
    return exponent * _LN2 + 2.0 * s * total


def gaussian_kernel(sigma: float, size: int) -> np.ndarray:
    """The normalised 1-D Gaussian of ``size`` taps (odd) and ``sigma``, float64."""
    offsets = np.arange(size, dtype=np.float64) - (size - 1) / 2
    weights = exp(-(offsets * offsets) / (2.0 * sigma * sigma))
    return weights / weights.sum()


def gaussian_blur(
    image: np.ndarray, sigma: float, low: float = 0.0, high: float = 1.0
) -> np.ndarray:
    """Gaussian blur of a float image whose values lie in ``low``..``high``, float32.

    Runs on 16-bit fixed point (steps of (high - low) / 65535; values outside are clipped),
    which OpenCV blurs bit-exactly on every processor; its float blur does not.
    """
    cv2 = opencv()
    span = high - low
    fixed = np.rint(np.clip((np.asarray(image, np.float32) - low) * (_FIXED / span), 0, _FIXED))
    blurred = cv2.GaussianBlur(fixed.astype(np.uint16), (0, 0), sigma)
    return (blurred.astype(np.float32) * np.float32(span / _FIXED) + np.float32(low)).astype(
        np.float32
    )


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a 2x3 affine matrix, float64 (Python floats: IEEE, no library)."""
    (a, b, c), (d, e, f) = (tuple(float(v) for v in row) for row in matrix)
    det = a * e - b * d
    if det == 0.0:
        raise ValueError("the affine matrix is singular")
    ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
    return np.array([[ia, ib, -(ia * c + ib * f)], [id_, ie, -(id_ * c + ie * f)]])


def warp_affine(
    image: np.ndarray,
    matrix: np.ndarray,
    size: tuple[int, int],
    *,
    border: int | None = None,
    border_value: float = 0.0,
) -> np.ndarray:
    """``cv2.warpAffine(image, matrix, size)`` with bilinear sampling, the same bits everywhere.

    Each output pixel's source position is computed in float64 here and handed to ``cv2.remap``
    as a fixed-point map (1/32 pixel, as warpAffine's own); ``border`` is an OpenCV border mode
    (constant by default).
    """
    cv2 = opencv()
    width, height = size
    back = invert_affine(matrix)
    xs = np.arange(width, dtype=np.float64)[None, :]
    ys = np.arange(height, dtype=np.float64)[:, None]
    map_x = (xs * back[0, 0] + ys * back[0, 1] + back[0, 2]).astype(np.float32)
    map_y = (xs * back[1, 0] + ys * back[1, 1] + back[1, 2]).astype(np.float32)
    fixed, fraction = cv2.convertMaps(map_x, map_y, cv2.CV_16SC2)
    mode = cv2.BORDER_CONSTANT if border is None else border
    channels = 1 if image.ndim == 2 else image.shape[2]
    value = (border_value,) * min(channels, 4)
    return cv2.remap(image, fixed, fraction, cv2.INTER_LINEAR, borderMode=mode, borderValue=value)


def guided_filter(image: np.ndarray, radius: int, epsilon: float) -> np.ndarray:
    """Self-guided filter of each channel of a float32 image (He, Sun and Tang): smooths flat
    areas, keeps edges. Built on box filters, which OpenCV sums alike everywhere."""
    cv2 = opencv()
    size = (2 * radius + 1, 2 * radius + 1)
    mean = cv2.boxFilter(image, -1, size)
    variance = cv2.boxFilter(image * image, -1, size) - mean * mean
    gain = variance / (variance + epsilon)
    offset = mean - gain * mean
    return cv2.boxFilter(gain, -1, size) * image + cv2.boxFilter(offset, -1, size)
