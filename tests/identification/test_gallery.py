"""The in-memory 1:N gallery: incremental updates, two-stage search, fusion, snapshot, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crms.errors import ValidationError
from crms.fingerprint import gallery as G
from crms.fingerprint import matcher as M
from crms.fingerprint import synthetic_templates as S
from crms.fingerprint.serialise import dumps, loads
from crms.fingerprint.template import Template

PERSONS = 40


@pytest.fixture(scope="module")
def masters() -> list[list[Template]]:
    rng = np.random.default_rng(7)
    return [[S.master(rng) for _ in range(10)] for _ in range(PERSONS)]


def build(masters) -> G.Gallery:
    g = G.Gallery(capacity=16)
    g.insert_many((p * 100 + f, p + 1, f + 1, masters[p][f]) for p in range(len(masters)) for f in range(10))
    return g


def probe(masters, person: int, finger: int, seed: int = 1, position: int | None = None) -> G.ProbeFinger:
    t = S.impression(masters[person][finger], np.random.default_rng(seed))
    return G.ProbeFinger(t, finger + 1 if position is None else position, f"p{person}f{finger}")


def test_one_finger_finds_its_owner_with_per_finger_scores(masters):
    g = build(masters)
    assert len(g) == PERSONS * 10 and g.persons == PERSONS
    r = g.search([probe(masters, 5, 3)], top=5)
    assert r.candidates[0].person == 6
    assert r.candidates[0].fingers[0]["finger_id"] == 503
    assert r.candidates[0].fingers[0]["position"] == 4
    assert r.candidates[0].score >= r.threshold > r.candidates[1].score
    assert len(r.candidates) == 5 and [c.score for c in r.candidates] == sorted(
        [c.score for c in r.candidates], reverse=True
    )


def test_unknown_position_searches_every_finger(masters):
    g = build(masters)
    r = g.search([probe(masters, 9, 7, position=0)], top=3)
    assert r.candidates[0].person == 10 and r.candidates[0].fingers[0]["position"] == 8


def test_stage2_scores_equal_the_matcher(masters):
    g = build(masters)
    p = probe(masters, 2, 2)
    p.template = loads(dumps(p.template))  # the gallery keeps the stored format's precision
    r = g.search([p], top=3)
    stored = g.finger_template(int(np.flatnonzero(g.key[: g.rows] == 202)[0]))
    assert r.candidates[0].fingers[0]["score"] == round(M.score(p.template, stored), 2)


def test_first_stage_gives_the_brute_force_ranking_on_mates(masters):
    g = build(masters)
    for person in (0, 11, 33):
        probes = [probe(masters, person, f, seed=person) for f in (0, 1)]
        fast = g.search(probes, top=3, survivors=20)
        full = g.search(probes, top=3, brute_force=True)
        assert fast.candidates[0].person == full.candidates[0].person == person + 1
        assert fast.candidates[0].score == full.candidates[0].score
        assert fast.stage2_compared < full.stage2_compared


def test_tenprint_fuses_fingers(masters):
    g = build(masters)
    r = g.search([probe(masters, 20, f, seed=f) for f in range(10)], top=2)
    top = r.candidates[0]
    assert top.person == 21 and len(top.fingers) == 10
    assert math.isclose(top.score, sum(f["score"] for f in top.fingers), abs_tol=0.1)


def test_incremental_updates(masters):
    g = build(masters)
    v = g.version
    assert g.delete(503) and not g.delete(503)
    assert g.version == v + 1
    r = g.search([probe(masters, 5, 3)], top=3)
    assert all(503 not in [f["finger_id"] for f in c.fingers] for c in r.candidates)
    g.insert(503, 6, 4, masters[5][3])  # re-enrolled
    assert g.search([probe(masters, 5, 3)], top=1).candidates[0].person == 6
    assert g.move_person(6, 1) == 10  # merged into person 1
    assert g.search([probe(masters, 5, 3)], top=1).candidates[0].person == 1
    assert g.delete_person(1) == 20
    assert g.search([probe(masters, 5, 3)], top=1).candidates[0].person != 1
    assert len(g) == PERSONS * 10 - 20


def test_compaction_keeps_answers(masters):
    g = build(masters)
    for key in [p * 100 + f for p in range(0, 20) for f in range(10)]:
        g.delete(key)
    assert g.rows < 400 and len(g) == 200  # compacted along the way
    g.compact()
    assert g.dead == 0 and g.rows == 200
    r = g.search([probe(masters, 30, 4)], top=1)
    assert r.candidates[0].person == 31 and r.candidates[0].fingers[0]["finger_id"] == 3004


def test_replacing_a_key_keeps_one_row(masters):
    g = build(masters)
    g.insert(0, 1, 1, masters[3][3])
    assert len(g) == PERSONS * 10 and g.keys().tolist().count(0) == 1


def test_bytes_per_finger_within_2kb(masters):
    g = build(masters)
    assert g.bytes_per_finger() <= 2048


def test_bad_insert_changes_nothing(masters):
    g = build(masters)
    v, n = g.version, len(g)
    with pytest.raises(ValidationError) as e:
        g.insert_many([(9001, 99, 1, masters[0][0]), (9002, 99, 11, masters[0][1])])
    assert e.value.field == "position" and "9002" in e.value.message
    assert g.version == v and len(g) == n
    with pytest.raises(ValidationError):
        g.insert_many([(9001, 99, 1, masters[0][0]), (9001, 99, 2, masters[0][1])])
    assert len(g) == n


def test_bad_probes(masters):
    g = build(masters)
    few = Template(300, 300, np.array([[10, 10, 0, 1, 50], [40, 40, 1, 1, 50]], dtype=np.float32))
    with pytest.raises(ValidationError) as e:
        g.search([G.ProbeFinger(few, 1, "left.png")])
    assert e.value.field == "minutiae" and "left.png" in e.value.message
    with pytest.raises(ValidationError) as e:
        g.search([G.ProbeFinger(masters[0][0], 12, "x.png")])
    assert e.value.field == "position" and "x.png" in e.value.message
    with pytest.raises(ValidationError) as e:
        g.search([])
    assert e.value.field == "probes"
    with pytest.raises(ValidationError) as e:
        G.Gallery().search([G.ProbeFinger(masters[0][0], 1)])
    assert e.value.field == "gallery"


def test_snapshot_is_a_checked_cache(masters, tmp_path):
    g = build(masters)
    g.delete(101)
    path = tmp_path / "gallery.npz"
    g.save(path, stamp="db-state-1")
    h = G.Gallery.load(path, stamp="db-state-1")
    assert h is not None and len(h) == len(g)
    assert np.array_equal(np.sort(h.keys()), np.sort(g.keys()))
    p = probe(masters, 12, 6)
    assert h.search([p]).candidates[0].score == g.search([p]).candidates[0].score
    assert G.Gallery.load(path, stamp="db-state-2") is None  # stale
    path.write_bytes(path.read_bytes()[:100])  # damaged
    assert G.Gallery.load(path) is None
    assert G.Gallery.load(tmp_path / "missing.npz") is None


def test_threshold_for_fpir():
    one = G.threshold_for_fpir(0.01, 1000, 1)
    assert math.isclose(one, 10 * math.log10(1000 / 0.01), abs_tol=0.05)
    assert G.threshold_for_fpir(0.01, 1_000_000, 1) > one
    assert G.threshold_for_fpir(0.01, 1000, 10) > one  # the sum of ten fingers needs more
    with pytest.raises(ValidationError):
        G.threshold_for_fpir(0, 10)


def test_impostor_sum_tail_is_the_calibrations_model():
    """One impostor reaches s with chance 10^(-s/10) (the calibration's scale); a sum of k independent ones
    has the Gamma tail: checked against sums of exponential draws."""
    assert math.isclose(G.impostor_sum_tail(20, 1), 0.01, rel_tol=1e-9)
    assert G.impostor_sum_tail(0, 10) == 1.0
    rng = np.random.default_rng(0)
    draws = rng.exponential(10 / math.log(10), size=(200_000, 10))
    for k, s in ((2, 25), (10, 60), (10, 90)):
        measured = float(np.mean(draws[:, :k].sum(axis=1) >= s))
        assert math.isclose(G.impostor_sum_tail(s, k), measured, rel_tol=0.1), (k, s)
    assert G.impostor_sum_tail(G.threshold_for_fpir(0.01, 500, 10), 10) * 500 <= 0.01


def test_packed_cylinders_equal_the_matchers(masters):
    """The gallery builds stage 2's cylinders and hulls with the matcher's kernels: bit for bit what
    ``matcher.prepare`` gives for the same stored template."""
    rng = np.random.default_rng(3)
    temps = [masters[0][0], masters[1][1]] + [S.impression(masters[2][f], rng) for f in range(5)]
    qs = [G._template_minutiae(t) for t in temps]
    packed = G.pack_minutiae(qs)
    ref = M.pack([G._to_template(q) for q in qs])
    for name in (
        "x",
        "y",
        "theta",
        "bits",
        "mask",
        "valid",
        "ones",
        "cnt",
        "offsets",
        "hulls",
        "hull_offsets",
    ):
        assert np.array_equal(getattr(packed, name), getattr(ref, name)), name


def _reference_hull(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Andrew's monotone chain in plain Python (the matcher's former hull)."""
    if x.shape[0] == 0:
        return np.zeros((0, 2))
    pts = np.unique(np.stack([x, y], axis=1), axis=0)
    if pts.shape[0] < 3:
        return pts.astype(np.float64)
    p = pts[np.lexsort((pts[:, 1], pts[:, 0]))]

    def half(points):
        h: list = []
        for q in points:
            while (
                len(h) >= 2
                and ((h[-1][0] - h[-2][0]) * (q[1] - h[-2][1]) - (h[-1][1] - h[-2][1]) * (q[0] - h[-2][0]))
                <= 0
            ):
                h.pop()
            h.append(q)
        return h

    lower, upper = half(p), half(p[::-1])
    return np.array(lower[:-1] + upper[:-1], dtype=np.float64)


def test_compiled_hull_equals_the_reference():
    from crms.fingerprint import _kernels as K

    rng = np.random.default_rng(5)
    cases = [np.zeros(0), np.array([1.0]), np.array([1.0, 1.0]), np.array([0.0, 1.0, 2.0])]
    for x in cases:
        assert np.array_equal(K.convex_hull(x, x.copy()), _reference_hull(x, x.copy()))
    for n in (3, 4, 5, 10, 40, 80):
        for _ in range(20):
            x = np.round(rng.uniform(0, 50, n) * 8) / 8  # repeated values and collinear points happen
            y = np.round(rng.uniform(0, 50, n)) if n < 10 else rng.uniform(0, 300, n)
            assert np.array_equal(K.convex_hull(x, y), _reference_hull(x, y)), (x, y)


def test_fine_scores_are_the_cosine_of_fine_descriptors(masters):
    from crms.fingerprint import prefilter as P

    probe_d = P.fine_descriptor(masters[0][0].minutiae)
    fingers = [masters[p][1] for p in range(5)] + [masters[0][0]]
    m = np.concatenate([f.minutiae for f in fingers])
    off = np.concatenate([[0], np.cumsum([f.minutiae.shape[0] for f in fingers])])
    sc = P.fine_scores(probe_d, m[:, 0], m[:, 1], m[:, 2], off)
    want = [float(np.dot(probe_d, P.fine_descriptor(f.minutiae))) for f in fingers]
    assert np.allclose(sc, want) and sc[-1] == pytest.approx(1.0)


def test_survivors_are_the_best_of_the_fine_ranking_among_the_coarse_best(masters):
    g = build(masters)
    p = probe(masters, 7, 4)
    prepared = G.prepare_probes([p])
    keep = 3
    ((coarse_scores, coarse_keys, _persons, _n),) = g.stage1(prepared, [G.RERANK * keep], False)
    ((fine_scores, fine_keys, _p),) = g.rerank(prepared, [np.sort(coarse_keys)])
    assert sorted(fine_keys.tolist()) == sorted(coarse_keys.tolist())
    best = {int(k) for k in fine_keys[np.argsort(-fine_scores, kind="stable")][:keep]}
    r = g.search([p], top=PERSONS, survivors=keep)
    assert r.stage2_compared == keep
    assert {f["finger_id"] for c in r.candidates for f in c.fingers} == best


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("thumb", "'thumb' is not a number"),
        (None, "None is not a number"),
        (-1, "-1 is not 0 (unknown) or 1-10"),
    ],
)
def test_check_position_names_the_finger_and_the_value(value, words):
    assert [G.check_position(v, "f") for v in (0, "7", 10)] == [0, 7, 10]
    with pytest.raises(ValidationError) as e:
        G.check_position(value, "left.png")
    assert e.value.field == "position" and e.value.message == f"left.png: finger position {words}"
