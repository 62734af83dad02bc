"""FVC-protocol metrics on small hand-built score sets whose answers are worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from crms.fingerprint.evaluation import compute_metrics, finger_of, fvc_pairs, score_all_pairs


def test_eer_at_t1():
    # t=5: FNMR 1/4 <= FMR 2/5 (t1); t=6: FNMR 2/4 >= FMR 2/5 (t2). Sums .65 < .9 -> [0.25, 0.40].
    m = compute_metrics(np.array([3, 5, 7, 9]), np.array([1, 2, 4, 6, 8]))
    assert (m.eer_low, m.eer_high) == pytest.approx((0.25, 0.40))
    assert m.eer == pytest.approx(0.325)
    # FMR = 0 needs t > 8: FNMR 3/4.
    assert m.fmr100 == m.fmr1000 == m.zerofmr == pytest.approx(0.75)


def test_eer_at_t2():
    # t=5: FNMR .25, FMR .4 (t1, sum .65); t=6: FNMR .25 >= FMR .2 (t2, sum .45) -> [FMR, FNMR] = [.2, .25].
    m = compute_metrics(np.array([2, 10, 11, 12]), np.array([1, 3, 4, 5, 6]))
    assert (m.eer_low, m.eer_high) == pytest.approx((0.20, 0.25))
    assert m.eer == pytest.approx(0.225)
    assert m.zerofmr == pytest.approx(0.25)  # t in (6, 10]: only the genuine 2 is rejected


def test_perfect_separation_and_ties():
    m = compute_metrics(np.array([10.0, 11, 12]), np.array([1.0, 2, 3]))
    assert m.eer == 0 and m.fmr100 == 0 and m.zerofmr == 0
    # All scores equal: at t = that score everything matches (FMR 1, FNMR 0); above, nothing does.
    m = compute_metrics(np.array([5.0, 5.0]), np.array([5.0, 5.0]))
    assert m.eer == pytest.approx(0.5)


def test_rates_with_many_impostors():
    imp = np.arange(1000, dtype=float)
    gen = np.array([985.5, 995.5, 999.5, 2000.0])
    m = compute_metrics(gen, imp)
    # FMR <= 1 % needs t >= 990: genuine 985.5 is rejected -> FNMR 1/4.
    assert m.fmr100 == pytest.approx(0.25)
    # FMR <= 0.1 % needs t >= 999: 985.5 and 995.5 rejected -> 2/4.
    assert m.fmr1000 == pytest.approx(0.5)
    # FMR = 0 needs t > 999: the lowest such threshold is the genuine 999.5 -> 2/4 rejected.
    assert m.zerofmr == pytest.approx(0.5)


def test_bad_inputs():
    with pytest.raises(ValueError):
        compute_metrics(np.array([]), np.array([1.0]))
    with pytest.raises(ValueError):
        compute_metrics(np.array([np.nan]), np.array([1.0]))


def test_fvc_protocol_counts():
    fingers = [finger_of(f"{f}_{i}.png") for f in range(101, 111) for i in range(1, 9)]
    ii, jj, gen = fvc_pairs(fingers)
    assert len(ii) == 3160 and gen.sum() == 280 and (~gen).sum() == 2880
    assert np.all(ii < jj)
    with pytest.raises(ValueError, match="FINGER_IMPRESSION"):
        finger_of("nounderscore.png")
    assert finger_of("1__M_Left_index_finger_CR.png") == "1__M_Left_index_finger"


def test_score_all_pairs_follows_triu_order():
    vals = [1.0, 2.0, 4.0, 8.0]
    out = score_all_pairs(vals, lambda p, g: [p * 10 + x for x in g])
    ii, jj, _ = fvc_pairs(["a", "a", "b", "b"])
    assert np.allclose(out, [vals[i] * 10 + vals[j] for i, j in zip(ii, jj, strict=True)])
