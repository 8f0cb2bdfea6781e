"""GTI interval arithmetic against brute-force sampling on a fine time grid."""
import numpy as np
import pytest

from gammapy_lat.data.gti import (
    gti_from_met,
    in_intervals,
    intersect_intervals,
    intervals_from_mask,
    merge_intervals,
    met_from_gti,
)

GRID = np.linspace(0, 100, 40001)


def _cover(start, stop):
    inside = np.zeros(GRID.size, bool)
    for a, b in zip(start, stop):
        inside |= (GRID > a) & (GRID < b)
    return inside


@pytest.mark.parametrize("seed", range(20))
def test_merge_and_intersect_random(seed):
    rng = np.random.default_rng(seed)
    a0 = rng.uniform(0, 95, rng.integers(1, 12))
    a1 = a0 + rng.uniform(0, 10, a0.size)
    b = np.sort(rng.uniform(0, 100, 2 * rng.integers(1, 8)))
    m0, m1 = merge_intervals(a0, a1)
    assert np.all(m0[1:] > m1[:-1]) and np.all(m1 > m0)
    np.testing.assert_array_equal(_cover(m0, m1), _cover(a0, a1))
    s, e = intersect_intervals(a0, a1, b[::2], b[1::2])
    np.testing.assert_array_equal(_cover(s, e), _cover(a0, a1) & _cover(b[::2], b[1::2]))


def test_touching_intervals_merge():
    start, stop = merge_intervals([0, 10, 20], [10, 20, 25])
    np.testing.assert_array_equal(start, [0])
    np.testing.assert_array_equal(stop, [25])


def test_intervals_from_mask_and_membership():
    start = np.array([0.0, 30.0, 60.0, 90.0, 130.0])
    stop = np.array([30.0, 60.0, 90.0, 120.0, 160.0])  # gap 120-130
    s, e = intervals_from_mask(start, stop, [True, True, False, True, True])
    np.testing.assert_array_equal(s, [0.0, 90.0, 130.0])
    np.testing.assert_array_equal(e, [60.0, 120.0, 160.0])
    mask = in_intervals([-1, 0, 60, 75, 120, 125, 160, 161], s, e)
    np.testing.assert_array_equal(mask, [False, True, True, False, True, False, True, False])


def test_gti_round_trip_precision():
    start = np.array([239557417.5, 239600000.123456])
    stop = start + np.array([651.5930705, 1000.0])
    s, e = met_from_gti(gti_from_met(start, stop))
    np.testing.assert_allclose(s, start, rtol=0, atol=1e-6)
    np.testing.assert_allclose(e, stop, rtol=0, atol=1e-6)
