"""What CPU-independent numerics cost: each ``ffpipe.engine.builtin.exact`` path against the
library call it replaced, at the sizes the engine uses, side by side in one run.

Times are the median CPU time of the process (steadier than wall time on a shared machine); the
ratio is the new path's time over the old one's.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.common import Section, table

ROOT = Path(__file__).resolve().parent.parent


def _cpu_seconds(action: Callable[[], object], repeat: int = 9) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        action()
        times.append(time.process_time() - start)
    return statistics.median(times)


def _with_ipp(action: Callable[[], object]) -> Callable[[], object]:
    """``action`` with IPP on for this thread (as OpenCV runs by default)."""
    import cv2

    def run() -> object:
        cv2.ipp.setUseIPP(True)
        try:
            return action()
        finally:
            cv2.ipp.setUseIPP(False)

    return run


def _pairs() -> list[tuple[str, Callable[[], object], Callable[[], object]]]:
    from ffpipe.engine.builtin import exact

    cv2 = exact.opencv()
    frame = cv2.resize(cv2.imread(str(ROOT / "media" / "astronaut.jpg")), (1280, 720))
    crop = np.ascontiguousarray(frame[100:612, 400:912]).astype(np.float32) / 255.0
    turn = np.array([[0.83, 0.21, -250.0], [-0.21, 0.83, 40.0]])
    mask = (crop[:, :, 0] > 0.4).astype(np.float32)
    values = np.linspace(1e-3, 50.0, 1_000_000)
    small_crop = frame[200:440, 500:740]
    return [
        (
            "warp 1280x720 -> 512x512 (uint8)",
            lambda: exact.warp_affine(frame, turn, (512, 512)),
            _with_ipp(lambda: cv2.warpAffine(frame, turn, (512, 512), flags=cv2.INTER_LINEAR)),
        ),
        (
            "warp 512x512 float, 4 channels",
            lambda: exact.warp_affine(np.dstack([crop, mask]), turn, (700, 700)),
            _with_ipp(lambda: cv2.warpAffine(np.dstack([crop, mask]), turn, (700, 700))),
        ),
        (
            "Gaussian blur 512x512x3 float, sigma 1.7",
            lambda: exact.gaussian_blur(crop, 1.7),
            _with_ipp(lambda: cv2.GaussianBlur(crop, (0, 0), 1.7)),
        ),
        (
            "Gaussian blur 512x512 mask, sigma 12",
            lambda: exact.gaussian_blur(mask, 12.0),
            _with_ipp(lambda: cv2.GaussianBlur(mask, (0, 0), 12.0)),
        ),
        (
            "skin smoothing 240x240 (guided vs bilateral)",
            lambda: exact.guided_filter(small_crop.astype(np.float32) / 255.0, 3, 0.0246),
            _with_ipp(lambda: cv2.bilateralFilter(small_crop, 7, 40.0, 10.0)),
        ),
        (
            "distance transform 512x512 (IPP off vs on)",
            lambda: cv2.distanceTransform((mask > 0).astype(np.uint8), cv2.DIST_L2, 5),
            _with_ipp(lambda: cv2.distanceTransform((mask > 0).astype(np.uint8), cv2.DIST_L2, 5)),
        ),
        ("exp of 1M float64", lambda: exact.exp(values), lambda: np.exp(values)),
        ("log of 1M float64", lambda: exact.log(values), lambda: np.log(values)),
    ]


def run() -> list[Section]:
    rows: list[list[object]] = []
    for name, new, old in _pairs():
        new_time, old_time = _cpu_seconds(new), _cpu_seconds(old)
        rows.append(
            [
                name,
                f"{old_time * 1000:.2f} ms",
                f"{new_time * 1000:.2f} ms",
                f"{new_time / old_time:.2f}x",
            ]
        )
    body = (
        "Median CPU time of 9 calls; old: the OpenCV or numpy call (IPP on, as OpenCV's "
        "default), new: the `exact` path the engine uses now.\n\n"
        + table(["path", "old", "new", "new / old"], rows)
    )
    return [Section("Determinism: the cost of CPU-independent numerics", body)]
