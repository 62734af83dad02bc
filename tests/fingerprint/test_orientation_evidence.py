"""Orientation-field evidence (crms.fingerprint.orientation_evidence) on synthetic prints made here."""

from __future__ import annotations

import math
from dataclasses import replace

import cv2
import numpy as np
import pytest

from crms.fingerprint import orientation_evidence as oe
from crms.fingerprint.synthesis import generate_master, render_impression

P = oe.DEFAULT_ORIENTATION


@pytest.fixture(scope="module")
def prints() -> dict[str, np.ndarray]:
    a = generate_master(seed=3, finger_index=0, fp_class="right_loop")
    b = generate_master(seed=3, finger_index=1, fp_class="whorl")
    return {"a0": render_impression(a, 0), "a1": render_impression(a, 1), "b0": render_impression(b, 0)}


def moved(img: np.ndarray, degrees: float, dx: float, dy: float) -> np.ndarray:
    """``img`` rotated about its centre (counter-clockwise as displayed) and shifted, paper-white fill."""
    h, w = img.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    m[0, 2] += dx
    m[1, 2] += dy
    return cv2.warpAffine(img, m, (w, h), borderValue=int(np.median(img)))


def raw(probe: np.ndarray, gallery: list[np.ndarray], p: oe.OrientationParams = P) -> np.ndarray:
    packed = oe.pack_fields([oe.describe_image(g, p) for g in gallery], p)
    return oe.compare_many(oe.describe_image(probe, p), packed, p)


def test_rotated_shifted_copy_scores_high_and_unrelated_print_low(prints):
    copy = moved(prints["a0"], 20.0, 14.0, -10.0)
    s_copy, s_mate, s_other = raw(prints["a0"], [copy, prints["a1"], prints["b0"]])
    assert s_copy > 4 * max(s_other, 1.0)
    assert s_mate > 2 * max(s_other, 1.0)  # another impression of the same finger


def test_rotation_search_turns_orientations_with_positions(prints):
    """Without the search the 22.5-degree copy loses most of its agreement; with it (the rotation
    turning the doubled angles the right way) it keeps most of what the unrotated copy scores."""
    still = raw(prints["a0"], [moved(prints["a0"], 0.0, 10.0, 6.0)])[0]
    turned = moved(prints["a0"], 22.5, 10.0, 6.0)
    searched = raw(prints["a0"], [turned])[0]
    fixed = raw(prints["a0"], [turned], replace(P, rotations_deg=(0.0,)))[0]
    assert searched > 0.6 * still
    assert fixed < 0.4 * searched


def test_rotate_descriptor_turns_doubled_angle():
    z = np.full((6, 6), np.exp(2j * 0.3), np.complex64)
    r = oe.rotate_descriptor(z, 30.0)
    inner = r[np.abs(r) > 0.99]
    assert inner.size > 0
    assert np.allclose(np.angle(inner), 2 * 0.3 - 2 * math.radians(30.0), atol=1e-4)


def test_vectorised_comparison_equals_one_by_one(prints):
    ds = [oe.describe_image(prints[k]) for k in ("a1", "b0", "a0")]
    probe = oe.describe_image(moved(prints["a0"], -10.0, 5.0, 5.0))
    together = oe.compare_many(probe, oe.pack_fields(ds, max_probe_blocks=40), chunk=2)
    alone = [oe.compare_many(probe, oe.pack_fields([d], max_probe_blocks=40))[0] for d in ds]
    assert np.allclose(together, alone, rtol=1e-4)


def test_empty_mask_gives_empty_descriptor_scoring_zero(prints):
    img = prints["a0"]
    empty = oe.describe(img, np.zeros_like(img))
    assert empty.empty and empty.blocks == 0
    packed = oe.pack_fields([oe.describe_image(img), empty])
    assert oe.compare_many(empty, packed).tolist() == [0.0, 0.0]
    assert oe.compare_many(oe.describe_image(img), packed)[1] == 0.0


def test_bad_input_is_a_clear_error(prints):
    with pytest.raises(ValueError, match="smaller than 2 blocks"):
        oe.describe(np.zeros((20, 300), np.uint8), np.ones((20, 300), np.uint8))
    with pytest.raises(ValueError, match="mask shape"):
        oe.describe(prints["a0"], np.ones((10, 10), np.uint8))
    with pytest.raises(ValueError, match="blocks of"):
        d = oe.describe_image(prints["a0"])
        oe.compare_many(d, oe.pack_fields([d]), replace(P, block_px=16))


def test_calibration_maps_impostor_quantiles_to_log_fmr():
    rng = np.random.default_rng(1)
    impostors = rng.exponential(5.0, 200_000)
    cal = oe.fit_calibration(impostors, "exponential")
    fresh = rng.exponential(5.0, 400_000)
    s = oe.calibrate(fresh, cal)
    for target, fmr in ((10, 0.1), (20, 0.01), (30, 0.001), (40, 0.0001)):
        assert 0.7 * fmr < (s >= target).mean() < 1.4 * fmr
    grid = np.linspace(-5, 100, 500)
    assert np.all(np.diff(oe.calibrate(grid, cal)) >= 0)
    assert oe.calibrate(np.array([-1.0, 0.0]), cal).tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="impostor values"):
        oe.fit_calibration(np.ones(10))


def test_fusion_only_for_few_minutiae():
    sm, so = np.array([0.0, 25.0, 5.0]), np.array([30.0, 0.0, 4.0])
    f = oe.FusionParams(max_probe_minutiae=10)
    assert oe.fuse(sm, so, 10, f).tolist() == sm.tolist()
    fused = oe.fuse(sm, so, 3, f)
    assert np.allclose(fused, np.maximum(sm, so) - 10 * math.log10(2))
    with pytest.raises(ValueError, match="calibration"):
        oe.fuse(sm, so, 3, replace(f, rule="sum"))
