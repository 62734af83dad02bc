"""Tests of the 1:1 matcher (crms.fingerprint.matcher) on synthetic minutiae made here, and on FVC templates
from the shared cache when present."""

from __future__ import annotations

import math
from dataclasses import FrozenInstanceError, replace
from pathlib import Path

import numpy as np
import pytest

from crms.fingerprint import matcher
from crms.fingerprint.params import DEFAULT_MATCHER, MatcherParams
from crms.fingerprint.template import Template

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def random_template(rng: np.random.Generator, n: int = 40, w: int = 300, h: int = 400) -> Template:
    """n minutiae at least 12 px apart, random directions and types."""
    pts: list[tuple[float, float]] = []
    while len(pts) < n:
        p = (rng.uniform(20, w - 20), rng.uniform(20, h - 20))
        if all((p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2 >= 144 for q in pts):
            pts.append(p)
    xy = np.array(pts)
    m = np.column_stack(
        [xy, rng.uniform(0, 2 * np.pi, n), rng.integers(1, 3, n), rng.integers(40, 100, n)]
    ).astype(np.float32)
    return Template(width=w, height=h, minutiae=m)


def transformed(
    t: Template,
    angle_deg: float,
    dx: float,
    dy: float,
    rng=None,
    jitter: float = 0.0,
    dir_jitter: float = 0.0,
) -> Template:
    """The print rotated counter-clockwise on the image by angle (ISO directions: counter-clockwise with
    y pointing down, so the rotation acts on (x, -y)) and shifted, with optional noise."""
    m = t.minutiae.astype(np.float64).copy()
    a = np.deg2rad(angle_deg)
    cx, cy = t.width / 2, t.height / 2
    x, yu = m[:, 0] - cx, -(m[:, 1] - cy)
    xr = np.cos(a) * x - np.sin(a) * yu
    yr = np.sin(a) * x + np.cos(a) * yu
    m[:, 0] = xr + cx + dx
    m[:, 1] = -yr + cy + dy
    m[:, 2] = np.mod(m[:, 2] + a, 2 * np.pi)
    if rng is not None:
        m[:, :2] += rng.normal(0, jitter, (len(m), 2))
        m[:, 2] = np.mod(m[:, 2] + rng.normal(0, dir_jitter, len(m)), 2 * np.pi)
    return Template(width=t.width + 200, height=t.height + 200, minutiae=m.astype(np.float32))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def test_identity_scores_high(rng):
    t = random_template(rng)
    assert matcher.score(t, t) > 40


def test_rotated_translated_noisy_copy_scores_high(rng):
    t = random_template(rng)
    for angle in (-80, -30, 15, 60, 80):
        c = transformed(t, angle, 37, -21, rng, jitter=2.0, dir_jitter=0.08)
        assert matcher.score(t, c) > 40, angle


def test_rotation_beyond_limit_is_not_matched(rng):
    """Minutiae whose directions differ by more than MAX_ROTATION are never paired (as in MCC): an
    upside-down print does not match, which keeps impostor scores down on upright captures."""
    t = random_template(rng)
    assert np.isclose(np.deg2rad(matcher.MAX_ROTATION_DEG), matcher.K.DELTA_THETA)
    assert matcher.score(t, transformed(t, 180, 0, 0)) < 15


def test_direction_convention_matters(rng):
    """Rotating positions but turning directions the wrong way must break the match: the matcher
    really uses the ISO counter-clockwise (y down) convention."""
    t = random_template(rng)
    good = transformed(t, 40, 0, 0)
    bad = Template(t.width, t.height, good.minutiae.copy())
    bad.minutiae[:, 2] = np.mod(t.minutiae[:, 2] - np.deg2rad(40), 2 * np.pi)
    assert matcher.score(t, good) > 40
    assert matcher.score(t, bad) < 15


def test_unrelated_sets_score_low(rng):
    ts = [random_template(rng) for _ in range(12)]
    s = np.array([matcher.score(ts[i], ts[j]) for i in range(len(ts)) for j in range(i + 1, len(ts))])
    assert s.max() < 20
    assert np.median(s) < 10


def test_partial_overlap_and_distortion(rng):
    t = random_template(rng, n=60, w=320, h=440)
    m = t.minutiae.astype(np.float64)
    keep = m[:, 1] < 280  # the upper part only: about 60 % overlap
    part = m[keep].copy()
    # smooth plastic distortion: displacement growing away from a centre, up to ~ 8 px
    cx, cy = 160.0, 150.0
    r = np.hypot(part[:, 0] - cx, part[:, 1] - cy)
    part[:, 0] += 0.03 * (part[:, 0] - cx) * (r / 200)
    part[:, 1] += 0.03 * (part[:, 1] - cy) * (r / 200)
    p = transformed(Template(320, 440, part.astype(np.float32)), 10, 15, 5)
    other = random_template(rng, n=60, w=320, h=440)
    s_gen = matcher.score(t, p)
    assert s_gen > 30
    assert s_gen > matcher.score(other, p) + 15


def test_symmetry(rng):
    for _ in range(5):
        a = random_template(rng, n=int(rng.integers(15, 60)))
        b = transformed(a, 25, 10, 10, rng, jitter=3, dir_jitter=0.1)
        b.minutiae = b.minutiae[rng.permutation(b.count)[: max(5, b.count - 10)]]
        c = random_template(rng)
        assert abs(matcher.score(a, b) - matcher.score(b, a)) < 1e-6
        assert abs(matcher.score(a, c) - matcher.score(c, a)) < 1e-6


def test_calibration_monotonic():
    raw = np.linspace(-1, 10, 2001)
    s = matcher.calibrate(raw)
    assert np.all(np.diff(s) >= 0)
    assert s[0] == 0 and matcher.calibrate(np.array([0.0]))[0] == 0
    assert s[-1] > 60  # keeps growing beyond the last knot (exponential tail)


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_empty_and_tiny_templates(rng, n):
    t = random_template(rng, n=n) if n else Template(300, 400, np.zeros((0, 5), np.float32))
    full = random_template(rng)
    assert matcher.score(t, full) == 0.0 or n >= 3
    assert matcher.score(t, t) >= 0.0
    assert np.all(np.isfinite(matcher.score_many(t, [full, t])))
    if n < 3:
        assert matcher.score(t, full) == 0.0


def test_nan_minutiae_are_dropped(rng):
    t = random_template(rng)
    bad = Template(t.width, t.height, t.minutiae.copy())
    bad.minutiae[0, 0] = np.nan
    assert np.isfinite(matcher.score(bad, t))


def test_score_many_matches_score(rng):
    probe = random_template(rng)
    gallery = [transformed(probe, 5, 3, 3, rng, 2, 0.05)] + [random_template(rng) for _ in range(4)]
    gallery.append(matcher.prepare(gallery[1]))
    many = matcher.score_many(probe, gallery)
    assert many.shape == (6,)
    one = np.array([matcher.score(probe, g) for g in gallery])
    np.testing.assert_allclose(many, one, atol=1e-9)
    assert many[0] == many.max()
    assert matcher.score_many(probe, []).shape == (0,)


def test_prepare_is_cached_and_exposes_cylinders(rng):
    t = random_template(rng)
    p = matcher.prepare(t)
    assert matcher.prepare(t) is p and matcher.prepare(p) is p
    assert p.bits.dtype == np.uint64 and p.bits.shape == p.mask.shape == (t.count, matcher.K.NWORDS)
    assert np.all(p.bits & ~p.mask == 0)  # no bit set outside a valid cell
    assert p.valid.any()


@pytest.mark.shared_data
@pytest.mark.slow
def test_fvc2002_db1_fingers_101_to_104():
    """Real prints: FVC2002 DB1 B, fingers 101-104 (32 images, 500 ppi), extracted here and matched; the
    genuine pairs score high and the impostors low."""
    from crms import fingerprint as fp
    from crms.fingerprint import evaluation as ev

    folder = SHARED / "fingerprints" / "fvc2002" / "DB1_B"
    if not folder.is_dir():
        pytest.skip(f"shared data set not available: {folder} (needs ../shared/data beside the project)")
    if fp.engine_missing():
        pytest.skip(f"the 'fingerprint' extra is not installed: {fp.engine_missing()}")
    files = sorted(folder.glob("10[1-4]_*.png"))
    assert len(files) == 32, f"{folder}: expected 8 impressions of fingers 101-104"
    results = fp.extract_many(files, 500)
    assert all(r.error is None for r in results), [r.error for r in results if r.error]
    prep = [matcher.prepare(fp.loads(r.template)) for r in results]
    ii, jj, gen = ev.fvc_pairs([ev.finger_of(f.stem) for f in files])
    s = np.concatenate([matcher.score_many(prep[i], [prep[j]]) for i, j in zip(ii, jj, strict=True)])
    g, imp = s[gen], s[~gen]
    assert np.median(g) > 40
    assert np.mean(g > 25) > 0.9
    assert np.mean(imp > 25) < 0.02


def test_degenerate_geometry_does_not_crash(rng):
    full = random_template(rng)
    same_point = Template(300, 400, np.tile(np.array([[100, 100, 1.0, 1, 50]], np.float32), (5, 1)))
    line = Template(300, 400, np.array([[20 + 15 * i, 200, 0.5 * i, 1, 50] for i in range(12)], np.float32))
    big = random_template(rng, n=150, w=500, h=600)
    far = Template(300, 400, full.minutiae.copy())  # coordinates far out (malformed input): no huge grid
    far.minutiae[0, 0], far.minutiae[1, 0], far.minutiae[2, 1] = 3e38, -3e38, 1e12
    for t in (same_point, line, big, far):
        assert np.isfinite(matcher.score(t, full))
        assert abs(matcher.score(t, full) - matcher.score(full, t)) < 1e-6
    assert matcher.score(big, big) > 40


def test_early_exit_leaves_mates_alone_and_stays_symmetric(rng):
    """Pairs whose best anchor alignment pairs up little local similarity skip the refinement (the
    exit threshold, MatcherParams.early_exit_below); a mate never gets there, so its score is what the
    full comparison gives, and impostors that exit still score low and symmetrically."""
    assert DEFAULT_MATCHER.early_exit_below > 0  # the exit is on by default
    full = replace(DEFAULT_MATCHER, early_exit_below=0.0)  # no exit: every comparison refines
    mates = []
    for angle in (-40, 0, 35):
        t = random_template(rng)
        mates.append((t, transformed(t, angle, 20, -10, rng, jitter=2.0, dir_jitter=0.08)))
    with_exit = [matcher.score(a, b) for a, b in mates]
    without_exit = [matcher.score(a, b, full) for a, b in mates]
    assert with_exit == without_exit
    others = [random_template(rng) for _ in range(8)]
    for i in range(len(others)):
        for j in range(i + 1, len(others)):
            s = matcher.score(others[i], others[j])
            assert s < 20
            assert abs(s - matcher.score(others[j], others[i])) < 1e-6


def test_grid_cells_hold_every_point_once():
    """The pairing's grid over B: each point in the cell its coordinates give, cells in index order; a
    spread-out (malformed) print gets bigger cells instead of a huge grid."""
    rng = np.random.default_rng(7)
    for n, span in ((1, 300), (2, 300), (40, 300), (40, 60000), (5, 1e12), (5, 3e38)):
        xs, ys = rng.uniform(0, span, n), rng.uniform(-span, 0, n)
        xs[: n // 3] = xs[0]  # ties
        x0, y0, inv, cols, rows, start, members = matcher.K._grid(xs, ys)
        assert cols * rows <= matcher.K.GRID_CELLS and 1 / inv >= matcher.K.GRID
        assert start[0] == 0 and start[-1] == n and np.all(np.diff(start) >= 0)
        assert sorted(members) == list(range(n))
        for c in range(cols * rows):
            cell = members[start[c] : start[c + 1]]
            assert np.all(np.diff(cell) > 0)
            r, q = divmod(c, cols)
            assert np.all(
                (((xs[cell] - x0) * inv).astype(int) == q) & (((ys[cell] - y0) * inv).astype(int) == r)
            )


def test_pairing_is_mutual_nearest_by_brute_force(rng):
    """The grid search finds exactly the pairs of a brute-force mutual-nearest pairing (every minutia of
    B a candidate), ties to the lower index."""
    for trial in range(20):
        a = matcher.prepare(random_template(rng, n=int(rng.integers(5, 50))))
        b = matcher.prepare(random_template(rng, n=int(rng.integers(5, 50))))
        rot, tx, ty = rng.uniform(-0.3, 0.3), rng.uniform(-30, 30), rng.uniform(-30, 30)
        cax, cay, cbx, cby = a.x[0], a.y[0], b.x[-1], b.y[-1]
        p = replace(DEFAULT_MATCHER, pair_tolerance_px=20.0).as_array()  # many candidates, conflicts
        sim = np.ones((a.count, b.count), np.float32)
        ia = matcher.K._pair_up_py(
            a.x, a.y, a.cos, a.sin, b.x, b.y, b.cos, b.sin, sim, rot, tx, ty, cax, cay, cbx, cby, p
        )
        c, s = np.cos(rot), np.sin(rot)
        u, v = c * a.x - s * a.y + tx, s * a.x + c * a.y + ty
        ra = np.sqrt((a.x - cax) ** 2 + (a.y - cay) ** 2)
        rb = np.sqrt((b.x - cbx) ** 2 + (b.y - cby) ** 2)
        tol = p[0] + p[1] * 0.5 * (ra[:, None] + rb[None, :])
        d2 = (u[:, None] - b.x[None, :]) ** 2 + (v[:, None] - b.y[None, :]) ** 2
        dirs = (c * a.cos - s * a.sin)[:, None] * b.cos[None, :] + (s * a.cos + c * a.sin)[:, None] * b.sin
        cost = np.where((d2 <= tol * tol) & (dirs >= p[2]), d2 / (tol * tol), np.inf)
        best_b = np.where(np.isfinite(cost).any(axis=1), np.argmin(cost, axis=1), -1)
        best_a = np.argmin(cost, axis=0)
        want = np.array([j if j >= 0 and best_a[j] == k else -1 for k, j in enumerate(best_b)])
        np.testing.assert_array_equal(ia, want, err_msg=str(trial))


def _popcount(words: np.ndarray) -> np.ndarray:
    """Set bits of uint64 words, summed over the last axis."""
    return np.unpackbits(np.ascontiguousarray(words).view(np.uint8), axis=-1).sum(axis=-1)


def test_local_similarity_matches_the_mcc_definition(rng):
    """The branch-free popcount kernel gives, for every minutia pair, the MCC bit similarity as written
    in the paper: 0 unless both cylinders are valid, the directions differ by at most delta-theta and the
    cylinders share MIN_ME of their cells; else 1 - ||a ^ b|| / (||a|| + ||b||) over the common cells
    (Euclidean norms: square roots of bit counts)."""
    for n_a, n_b in ((40, 35), (12, 60), (25, 25)):
        a = matcher.prepare(random_template(rng, n=n_a))
        b = matcher.prepare(random_template(rng, n=n_b, w=260, h=330))
        assert not np.all(a.cnt == a.cells)  # partial cylinders (near the border) are exercised
        got = matcher.K.local_similarity(
            a.bits, a.mask, a.valid, a.cos, a.sin, a.ones, a.cnt,
            b.bits, b.mask, b.valid, b.cos, b.sin, b.ones, b.cnt, a.cells,
        )  # fmt: skip
        ba, ma, bb, mb = (
            v[:, None, :] if i < 2 else v[None, :, :] for i, v in enumerate((a.bits, a.mask, b.bits, b.mask))
        )
        ca, cb = ba & mb, bb & ma
        pa, pb, px = _popcount(ca), _popcount(cb), _popcount(ca ^ cb)
        common = _popcount(ma & mb)
        den = np.sqrt(pa) + np.sqrt(pb)
        want = np.where(den > 0, 1.0 - np.sqrt(px) / np.where(den > 0, den, 1.0), 0.0)
        comparable = (
            a.valid[:, None]
            & b.valid[None, :]
            & (np.cos(a.theta[:, None] - b.theta[None, :]) >= matcher.K.COS_DELTA_THETA)
            & (common >= matcher.K.MIN_ME * a.cells)
        )
        want = np.where(comparable, want, 0.0)
        np.testing.assert_allclose(got, want, atol=1e-6)
        assert (got > 0).sum() > 0.2 * n_a * n_b


def test_anchor_list_order_does_not_depend_on_which_print_is_a():
    """The anchors (most similar minutia pairs) are ranked by similarity, equal similarities by a key
    that swapping the prints leaves alone, so equal values (common in the float32 matrix) cannot make
    score(a, b) differ from score(b, a)."""
    rng = np.random.default_rng(3)
    for trial in range(200):
        na, nb = int(rng.integers(1, 12)), int(rng.integers(1, 12))
        sim = rng.choice(np.array([0.0, 0.3, 0.5, 0.7], np.float32), size=(na, nb))
        lower = np.tril_indices(min(na, nb), -1)
        sim[lower] += np.float32(0.01) * (sim[lower] > 0)  # (i, j) and (j, i) never tie (that one stays open)
        for n in (1, 4, 8):
            v, a, b = matcher.K.top_pairs(sim, n)
            vt, at, bt = matcher.K.top_pairs(np.ascontiguousarray(sim.T), n)
            np.testing.assert_array_equal(v, vt)
            np.testing.assert_array_equal(a, bt, err_msg=str(trial))
            np.testing.assert_array_equal(b, at, err_msg=str(trial))
            ranked = sorted(
                (-float(sim[i, j]), i + j, min(i, j), i, j)
                for i in range(na)
                for j in range(nb)
                if sim[i, j] > 0
            )[:n]
            assert [(r[3], r[4]) for r in ranked] == [(i, j) for i, j in zip(a, b, strict=True) if i >= 0]


def test_matcher_parameters_are_named_frozen_and_the_measured_ones():
    """The consolidation's parameters are a frozen, named object; its array is the one the figures were
    measured with, and a caller's copy of it cannot change what the matcher uses."""
    with pytest.raises(FrozenInstanceError):
        DEFAULT_MATCHER.anchors = 4  # type: ignore[misc]
    expected = [6.0, 0.05, math.cos(math.pi / 6), 8.0, 0.0, 8.0, 3.0, 1.0, 2.0, 4.0]
    assert DEFAULT_MATCHER.as_array().tolist() == expected
    assert MatcherParams() == DEFAULT_MATCHER and hash(MatcherParams()) == hash(DEFAULT_MATCHER)
    rng = np.random.default_rng(3)
    a = random_template(rng)
    b = transformed(a, 20, 10, -5, rng, jitter=1.5, dir_jitter=0.05)
    before = matcher.score(a, b)
    arr = DEFAULT_MATCHER.as_array()
    arr[:] = 0.0
    assert matcher.score(a, b) == before
    assert matcher.score(a, b, replace(DEFAULT_MATCHER, pair_tolerance_px=0.5, tolerance_slope=0.0)) < before


def test_explain_gives_the_score_the_alignment_and_the_pairs():
    """The trace of a comparison: its score is ``score``'s, its pairs are as many as the first feature,
    each pair's local similarity is positive, and the alignment maps A's paired minutiae onto B's."""
    rng = np.random.default_rng(5)
    a = random_template(rng)
    b = transformed(a, 25, 15, -8, rng, jitter=1.0, dir_jitter=0.03)
    e = matcher.explain(a, b)
    assert e["score"] == pytest.approx(matcher.score(a, b), abs=1e-9)
    assert e["features"]["pairs"] == len(e["paired"]) >= 20
    assert np.allclose(
        [e["features"][k] for k in ("pairs", "similarity_sum", "a_inside_b", "b_inside_a")],
        matcher.features(matcher.prepare(a), matcher.prepare(b)),
    )
    assert abs(e["alignment"]["rotation_deg"] - 25) < 3
    m = np.array(e["alignment"]["matrix"])
    for p in e["paired"]:
        assert p["similarity"] > 0
        u = m @ np.array([p["a"]["x"], p["a"]["y"], 1.0])
        assert np.hypot(u[0] - p["b"]["x"], u[1] - p["b"]["y"]) < 8
    empty = matcher.explain(Template(300, 400, np.zeros((0, 5), np.float32)), b)
    assert empty["score"] == 0 and empty["paired"] == []
