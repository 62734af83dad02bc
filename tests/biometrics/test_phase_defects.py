"""bench/_phase_defects.py: minutiae found as the points where a ridge pattern's phase winds, and opposite
pairs of them removed, on patterns drawn from a known phase."""

from __future__ import annotations

import numpy as np
import pytest

H, W, PERIOD = 120, 160, 9.0


@pytest.fixture(scope="module")
def pd(bench_script):
    return bench_script("_phase_defects")


def _pattern(spirals: list[tuple[float, float, int]]) -> np.ndarray:
    """Horizontal ridges of period 9 whose phase, rising down the image, winds by ``w`` round each (x, y)."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    phase = 2 * np.pi * yy / PERIOD
    for x, y, w in spirals:
        phase += w * np.arctan2(yy - y, xx - x)
    return np.cos(phase).astype(np.float32)


def _found(pd, ridges: np.ndarray, orientation: np.ndarray) -> dict[str, np.ndarray]:
    period = np.full((H, W), PERIOD, np.float32)
    inner = np.zeros((H, W), bool)
    inner[12:-12, 12:-12] = True
    return pd.phase_defects(
        pd.local_phase(ridges, orientation, period, np.ones((H, W), bool)), orientation, inner
    )


def _mask() -> np.ndarray:
    """The finger: all but a border of 12 pixels, where the filter would read outside the image."""
    mask = np.zeros((H, W), np.float32)
    mask[12:-12, 12:-12] = 1.0
    return mask


def _flat() -> np.ndarray:
    return np.zeros((H, W), np.float32)  # ridges along x: the normal (0, 1) points down


def test_parallel_ridges_have_no_defect(pd):
    assert len(_found(pd, _pattern([]), _flat())["x"]) == 0


@pytest.mark.parametrize("winding", [1, -1])
def test_a_ridge_ending_is_one_defect_of_its_winding_where_it_is(pd, winding):
    found = _found(pd, _pattern([(80.0, 60.0, winding)]), _flat())
    assert len(found["x"]) == 1
    assert abs(found["x"][0] - 80) <= 2 and abs(found["y"][0] - 60) <= 2
    assert found["winding"][0] == winding and found["ny"][0] == pytest.approx(1.0)


def test_the_winding_is_told_in_the_sense_of_its_normal_whichever_way_each_pixel_points(pd):
    # The same ridges with the orientation given as π (normal pointing up) on every other column: the
    # phase is measured the other way there, and the defect is still found once, its sign that of its normal.
    orientation = _flat()
    orientation[:, 1::2] = np.float32(np.pi - 1e-4)
    found = _found(pd, _pattern([(80.0, 60.0, 1)]), orientation)
    assert len(found["x"]) == 1
    assert found["winding"][0] * np.sign(found["ny"][0]) == 1


def test_an_opposite_pair_is_removed_and_the_rest_of_the_pattern_kept(pd):
    ridges = _pattern([(70.0, 60.0, 1), (94.0, 62.0, -1)])  # about 2.7 periods apart
    period = np.full((H, W), PERIOD, np.float32)
    mask = _mask()
    out, found, removed = pd.annihilate(ridges, _flat(), period, mask, np.zeros((0, 2)), 4.0)
    assert (found, removed) == (2, 1)
    assert len(_found(pd, out, _flat())["x"]) == 0
    far = np.ones((H, W), bool)
    far[20:105, 30:135] = False  # the pair and 3 periods round it, the only place that may change
    assert np.array_equal(out[far], ridges[far])


def test_pairs_too_far_apart_of_one_winding_or_near_a_singular_point_are_kept(pd):
    period = np.full((H, W), PERIOD, np.float32)
    mask = _mask()

    def removed(spirals, max_periods=4.0, singular=np.zeros((0, 2))):
        return pd.annihilate(_pattern(spirals), _flat(), period, mask, singular, max_periods)[2]

    assert removed([(70.0, 60.0, 1), (94.0, 62.0, 1)]) == 0
    assert removed([(40.0, 60.0, 1), (120.0, 62.0, -1)]) == 0
    assert removed([(40.0, 60.0, 1), (120.0, 62.0, -1)], max_periods=10.0) == 1
    assert removed([(70.0, 60.0, 1), (94.0, 62.0, -1)], singular=np.array([[82.0, 75.0]])) == 0


def test_a_master_with_pairs_removed_has_fewer_minutiae_by_two_a_pair(pd):
    from crms.fingerprint.synthesis import generate_master

    m = generate_master(2026, 1, iterations=12)
    sp = np.vstack([m.singular_points.cores, m.singular_points.deltas])
    _, found, removed = pd.annihilate(m.ridges, m.orientation, m.period, m.mask, sp, 8.0)
    after = pd.annihilated_master(m, 8.0)
    left = pd.phase_defects(
        pd.local_phase(after.ridges, m.orientation, m.period, m.mask > 0.05), m.orientation, m.mask > 0.3
    )
    assert removed >= 3
    assert len(left["x"]) == pytest.approx(found - 2 * removed, abs=2)
