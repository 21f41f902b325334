"""The thin-plate spline warp: exact at its control points, still elsewhere when asked."""

from __future__ import annotations

import numpy as np
import pytest

from ffpipe.engine.builtin.edit_warp import Region, region_around, tps_inverse_map, warp_points


def _ring(centre: tuple[float, float], radius: float, count: int = 16) -> np.ndarray:
    angles = np.linspace(0.0, 2.0 * np.pi, count, endpoint=False)
    return np.array(centre) + radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def test_targets_map_back_onto_their_sources() -> None:
    rng = np.random.default_rng(7)
    sources = rng.uniform(0, 100, size=(12, 2))
    targets = sources + rng.uniform(-5, 5, size=(12, 2))
    assert tps_inverse_map(targets, sources, targets) == pytest.approx(sources, abs=0.05)


def test_coinciding_targets_are_allowed() -> None:
    # Closing an eye sends two lids to one place; the map then samples between them.
    sources = np.concatenate([_ring((50.0, 50.0), 40.0), [[50.0, 45.0], [50.0, 55.0]]])
    targets = np.concatenate([_ring((50.0, 50.0), 40.0), [[50.0, 50.0], [50.0, 50.0]]])
    mapped = tps_inverse_map(targets, sources, np.array([[50.0, 50.0]]))
    assert mapped == pytest.approx(np.array([[50.0, 50.0]]), abs=0.5)


def test_unmoved_points_give_the_identity() -> None:
    points = _ring((50.0, 50.0), 30.0)
    query = np.array([[10.0, 20.0], [50.0, 50.0], [77.5, 61.25]])
    assert tps_inverse_map(points, points, query) == pytest.approx(query, abs=1e-9)


def test_a_shared_affine_motion_is_reproduced_everywhere() -> None:
    # When every control point moves by one affine map, so does every other point.
    sources = _ring((0.0, 0.0), 10.0)
    angle = np.radians(20.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    rotation = rotation @ np.array([[1.3, 0.2], [0.0, 0.8]])
    targets = sources @ rotation.T + [4.0, -2.0]
    query = np.array([[1.0, 2.0], [-3.0, 0.5]])
    expected = np.linalg.solve(rotation, (query - [4.0, -2.0]).T).T
    assert tps_inverse_map(targets, sources, query) == pytest.approx(expected, abs=1e-6)


def test_region_around_is_clipped_to_the_image() -> None:
    region = region_around(np.array([[5.0, 5.0], [90.0, 40.0]]), 10.0, (50, 100, 3))
    assert region == Region(left=0, top=0, right=100, bottom=50)
    inner = region_around(np.array([[30.0, 20.0]]), 2.0, (50, 100, 3))
    assert (inner.left, inner.top, inner.right, inner.bottom) == (28, 18, 33, 23)


def test_a_moved_dot_lands_on_its_target_and_nothing_outside_the_region_changes() -> None:
    image = np.full((120, 160, 3), 200, dtype=np.uint8)
    image[58:63, 68:73] = (255, 0, 0)
    image[::7, :, 1] = 90  # stripes, so an unwanted move would show
    source, target = np.array([[70.0, 60.0]]), np.array([[80.0, 66.0]])
    fixed = _ring((75.0, 63.0), 35.0)
    region = Region(left=30, top=20, right=120, bottom=105)
    warped = warp_points(
        image, np.concatenate([source, fixed]), np.concatenate([target, fixed]), region, 2
    )
    assert tuple(warped[66, 80]) == (255, 0, 0)
    assert tuple(warped[60, 70]) != (255, 0, 0)
    outside = np.ones(image.shape[:2], dtype=bool)
    outside[region.top : region.bottom, region.left : region.right] = False
    assert np.array_equal(warped[outside], image[outside])
    # The region's own border rows and columns are faded to no motion at all.
    assert np.array_equal(warped[20, 30:120], image[20, 30:120])
    assert np.array_equal(warped[20:105, 119], image[20:105, 119])


def test_no_motion_returns_the_same_pixels() -> None:
    image = np.random.default_rng(3).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    points = _ring((32.0, 32.0), 20.0)
    warped = warp_points(image, points, points, Region(0, 0, 64, 64), 4)
    assert warped.tobytes() == image.tobytes()
