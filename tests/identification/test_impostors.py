"""A gallery's own impostor scores and the decision threshold they call for (crms.fingerprint.impostors):
the threshold keeps its promise where impostors run higher than the calibration, is never lowered below
the model's, and a gallery measures only pairs of one position and two different persons."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crms.fingerprint import gallery as G
from crms.fingerprint import impostors as I
from crms.fingerprint import synthetic_templates as S
from crms.fingerprint.shards import ShardedGallery

SCALE = 10 / math.log(10)  # the calibration's impostors: exponential, a tenfold fall every 10 points


def _fpir(sample: np.ndarray, threshold: float, persons: int, fingers: int = 10) -> float:
    """FPIR of searches of ``fingers`` fingers among ``persons`` persons whose impostor scores are drawn
    independently from ``sample`` (Monte Carlo, seeded)."""
    rng = np.random.default_rng(5)
    sums = rng.choice(sample, size=(1_000_000, fingers)).sum(axis=1)
    return 1 - (1 - float(np.mean(sums >= threshold))) ** persons


def test_impostors_as_the_calibration_expects_give_the_models_threshold():
    model = np.random.default_rng(1).exponential(SCALE, 20_000)
    p = I.ImpostorProfile(model)
    assert p.sum_tail(20, 1) == pytest.approx(0.01, rel=0.15)
    assert p.sum_tail(80, 10) == pytest.approx(G.impostor_sum_tail(80, 10), rel=0.3)
    for persons, fingers in ((44, 10), (100_000, 1), (599, 10)):
        measured = p.measured_threshold(0.01, persons, fingers)
        assert abs(measured - G.threshold_for_fpir(0.01, persons, fingers)) < 3, (persons, fingers)


def test_higher_impostors_raise_the_threshold_to_keep_the_promise():
    """Two and a half points more a finger: the model's threshold lets a third of ten-finger searches among
    299 persons through instead of 1 %; the measured one keeps them at about 1 %."""
    high = np.random.default_rng(2).exponential(SCALE, 20_000) + 2.5
    p = I.ImpostorProfile(high)
    model = G.threshold_for_fpir(0.01, 299, 10)
    threshold, basis = G.decision_threshold(0.01, 299, 10, p)
    assert basis == "gallery" and threshold > model + 10
    assert _fpir(high, model, 299) > 0.2
    assert _fpir(high, threshold, 299) < 0.015


def test_lower_impostors_never_lower_the_threshold():
    low = np.random.default_rng(3).exponential(SCALE, 20_000) * 0.5
    p = I.ImpostorProfile(low)
    assert p.measured_threshold(0.01, 599, 10) < G.threshold_for_fpir(0.01, 599, 10)
    assert G.decision_threshold(0.01, 599, 10, p) == (G.threshold_for_fpir(0.01, 599, 10), "calibration")
    assert G.decision_threshold(0.01, 599, 10, None) == (G.threshold_for_fpir(0.01, 599, 10), "calibration")


def test_too_few_scores_measure_nothing():
    few = np.full(I.MIN_PAIRS - 1, 5.0)
    assert I.profile_of(few) is None
    assert I.profile_of(np.append(few, [np.nan, np.inf])) is None
    with pytest.raises(ValueError, match="at least"):
        I.ImpostorProfile(few)
    assert I.profile_of(np.append(few, 5.0)) is not None


@pytest.fixture(scope="module")
def fingers():
    rng = np.random.default_rng(17)
    return [S.master(rng) for _ in range(8)]


def test_a_gallery_pairs_only_one_position_and_two_persons(fingers):
    """Person 1's and person 2's first fingers are the same template at two positions, and person 3 has a
    second copy of its own finger at that position: had the pairs crossed positions or stayed within one
    person, those copies would score as mates."""
    a, b, c, d, e, f, h, k = fingers
    g = G.Gallery()
    g.insert_many([
        (1, 1, 1, a), (2, 1, 2, b),
        (3, 2, 1, c), (4, 2, 2, a),
        (5, 3, 1, d), (6, 3, 2, e), (7, 3, 1, d),
        (8, 4, 1, f), (9, 4, 2, h), (10, 4, 3, k),
    ])  # fmt: skip
    scores = g.impostor_scores(pairs=10_000)
    # position 1: persons 1, 2, 4 meet the four fingers of others, person 3's two copies three each (18);
    # position 2: four persons, three others each (12); position 3: person 4 alone (none)
    assert scores.shape[0] == 18 + 12
    assert scores.max() < 40  # no copy of a finger scored against itself
    mate = G.Gallery()
    mate.insert_many([(1, 1, 1, a), (2, 2, 1, a)])  # the same finger under two persons: it is measured
    assert mate.impostor_scores(pairs=10).min() > 100
    assert np.array_equal(g.impostor_scores(pairs=10_000, seed=4), g.impostor_scores(pairs=10_000, seed=4))


def test_a_sharded_gallery_measures_in_every_shard(fingers):
    g = ShardedGallery(2, backend="local")
    g.insert_many((p * 10 + f, p, f + 1, fingers[(p + f) % 8]) for p in range(1, 5) for f in range(2))
    scores = g.impostor_scores(pairs=1_000)
    assert scores.shape[0] == 2 * 2 * 2  # persons 2 and 4 in one shard, 1 and 3 in the other: both ways
    assert g.impostors is None  # measuring does not set the profile: its keeper does
