"""1:1 fingerprint matcher: Minutia Cylinder-Code local similarities + geometric consolidation.

``prepare(t)`` computes per template the MCC bit cylinders (Cappelli, Ferrara, Maltoni 2010; 16x16x6 bits,
radius 70 px at 500 ppi) with their cell-validity masks, and the convex hull of the minutiae.
``score(a, b)`` compares two templates:

1. local similarity of every minutia pair from their bit cylinders (popcount kernel);
2. the most similar pairs serve in turn as anchors of a rigid alignment; minutiae are paired up
   (mutual nearest, tolerance growing with distance from the alignment centre to absorb skin
   distortion), the transform is refitted to the pairs by least squares and the pairing repeated;
   early exit: when the best of the first 4 anchor alignments (or of all 8) pairs up less than 2.0 of
   summed local similarity, the pair is clearly no mate and that alignment, unrefined, gives the
   features (most impostors stop there; the calibration below is fitted with it);
3. the best-supported alignment gives a raw similarity from the number of pairs, their local
   similarities and how many minutiae of each print lie in the overlap;
4. the raw similarity is mapped to ``10 * log10(1 / FMR)`` through a calibration table fitted on a pooled
   impostor distribution (``_CAL_RAW``/``_CAL_SCORE`` below), so 40 is about a 1 in 10,000 false-match rate.

``score_many(probe, gallery)`` runs the same comparison in one compiled loop over a gallery; ``pack``
turns a gallery into a ``PackedGallery`` once for repeated searches. Scores are plain floats >= 0.

Rotation tolerance: up to ``MAX_ROTATION_DEG`` (90 degrees) between the two impressions.
Everything is symmetric by construction (``score(a, b) == score(b, a)`` up to float rounding).
The bit cylinders stay accessible on ``PreparedTemplate`` for a future 1:N first stage.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from crms.fingerprint import _kernels as K
from crms.fingerprint.params import DEFAULT_MATCHER, MatcherParams
from crms.fingerprint.template import Template

# Two minutiae are compared only if their directions differ by at most this (MCC's delta-theta): prints
# rotated by more than this against each other do not match. Upright captures (live scan, ten-print
# cards) stay well inside it.
MAX_ROTATION_DEG = 90


@dataclass(frozen=True)
class PreparedTemplate:
    """Per-template matcher data. Coordinates are in a y-up frame (y = -row) so that directions,
    counter-clockwise on the image (ISO 19794-2), are ordinary mathematical angles. Minutiae are in
    order of increasing x (not the template's order): the pairing breaks equal costs by this index."""

    x: np.ndarray  # float64 (N,)
    y: np.ndarray  # float64 (N,), y-up
    theta: np.ndarray  # float64 (N,), radians
    cos: np.ndarray  # float64 (N,): cos(theta)
    sin: np.ndarray  # float64 (N,): sin(theta)
    bits: np.ndarray  # uint64 (N, NWORDS): MCC bit cylinders (cells of the disc only, see _kernels)
    mask: np.ndarray  # uint64 (N, NWORDS): cell validity
    valid: np.ndarray  # bool (N,): cylinder usable
    ones: np.ndarray  # int64 (N,): set bits of each cylinder
    cnt: np.ndarray  # int64 (N,): valid cells of each cylinder (== cells: every cell valid)
    hull: np.ndarray  # float64 (H, 2): convex hull of the minutiae (y-up)
    cells: int  # number of cells of a full cylinder (for the common-cells rule)

    @property
    def count(self) -> int:
        return int(self.x.shape[0])


def prepare(t: Template | PreparedTemplate) -> PreparedTemplate:
    """Precompute the matcher data of a template (cached on ``t.extras['mcc']``)."""
    if isinstance(t, PreparedTemplate):
        return t
    cached = t.extras.get("mcc") if isinstance(t.extras, dict) else None
    if isinstance(cached, PreparedTemplate):
        return cached
    m = np.asarray(t.minutiae, dtype=np.float64).reshape(-1, 5)
    m = m[np.all(np.isfinite(m[:, :3]), axis=1)]
    m = m[np.argsort(m[:, 0], kind="stable")]  # in order of increasing x (the pairing's tie order)
    x = np.ascontiguousarray(m[:, 0])
    y = np.ascontiguousarray(-m[:, 1])
    theta = np.ascontiguousarray(np.mod(m[:, 2], 2 * np.pi))
    hull = K.convex_hull(x, y)
    bits, mask, valid, cells = K.cylinders(x, y, theta, hull)
    ones, cnt = K.cylinder_counts(bits, mask)
    p = PreparedTemplate(
        x, y, theta, np.cos(theta), np.sin(theta), bits, mask, valid, ones, cnt, hull, int(cells)
    )  # fmt: skip
    if isinstance(t.extras, dict):
        t.extras["mcc"] = p
    return p


def features(a: PreparedTemplate, b: PreparedTemplate, params: MatcherParams = DEFAULT_MATCHER) -> np.ndarray:
    """Raw comparison features: pairs, sum of local similarity, A-in-B overlap, B-in-A overlap."""
    out = np.zeros(4)
    K.compare(*_side(a), *_side(b), a.cells, params._array, out)
    return out


def _side(p: PreparedTemplate) -> tuple:
    """One side's arguments of the compiled comparison."""
    return (p.x, p.y, p.theta, p.cos, p.sin, p.bits, p.mask, p.valid, p.ones, p.cnt, p.hull)


@dataclass(frozen=True)
class PackedGallery:
    """Prepared templates packed into flat arrays, for ``score_many`` and a 1:N first stage: item g owns
    rows ``offsets[g]:offsets[g + 1]`` of the minutia and cylinder arrays."""

    x: np.ndarray
    y: np.ndarray
    theta: np.ndarray
    cos: np.ndarray
    sin: np.ndarray
    bits: np.ndarray
    mask: np.ndarray
    valid: np.ndarray
    ones: np.ndarray
    cnt: np.ndarray
    offsets: np.ndarray  # int64 (G + 1,)
    hulls: np.ndarray
    hull_offsets: np.ndarray  # int64 (G + 1,)

    def __len__(self) -> int:
        return int(self.offsets.shape[0] - 1)


def pack(gallery: Sequence) -> PackedGallery:
    """Pack templates (Template or PreparedTemplate) for repeated ``score_many`` calls."""
    ps = [prepare(g) for g in gallery]
    off = np.zeros(len(ps) + 1, dtype=np.int64)
    off[1:] = np.cumsum([p.count for p in ps])
    hoff = np.zeros(len(ps) + 1, dtype=np.int64)
    hoff[1:] = np.cumsum([p.hull.shape[0] for p in ps])

    def cat(name, shape, dtype):
        parts = [getattr(p, name) for p in ps]
        return np.ascontiguousarray(np.concatenate(parts)) if parts else np.zeros(shape, dtype)

    return PackedGallery(
        cat("x", (0,), np.float64),
        cat("y", (0,), np.float64),
        cat("theta", (0,), np.float64),
        cat("cos", (0,), np.float64),
        cat("sin", (0,), np.float64),
        cat("bits", (0, K.NWORDS), np.uint64),
        cat("mask", (0, K.NWORDS), np.uint64),
        cat("valid", (0,), np.bool_),
        cat("ones", (0,), np.int64),
        cat("cnt", (0,), np.int64),
        off,
        cat("hull", (0, 2), np.float64),
        hoff,
    )


def raw_similarity(f: np.ndarray) -> np.ndarray:
    """Raw similarity from features (rows of ``features``)."""
    f = np.atleast_2d(f)
    n, ssum, ova, ovb = f[:, 0], f[:, 1], f[:, 2], f[:, 3]
    overlap = np.maximum(np.maximum(0.5 * (ova + ovb), n), 1.0)
    return ssum * n / overlap


# Calibration: raw similarity -> 10*log10(1/FMR), fitted by bench/matcher_calibrate.py on pooled impostors
# (every pair of different fingers within each of the 8 FVC2002/2004 B sets; same-sensor impostors are the
# hard case): knots at the empirical impostor quantiles down to FMR ~ 0.3 %, then an exponential tail
# (score linear in raw) fitted to the 72 highest impostors, the more cautious of MLE and least squares.
CALIBRATION_SETS = "FVC2002 + FVC2004 DB1-4 B, within-set impostors pooled (23,040 pairs)"
_CAL_RAW = np.array([0.0, 0.3388, 0.5195, 0.7186, 0.9130, 1.0937, 1.2714, 1.4334, 1.5701, 1.7832, 1.9423])
_CAL_SCORE = np.arange(11) * 2.5  # 0, 2.5, ..., 25
_CAL_TAIL_SLOPE = 12.51  # score per raw unit beyond the last knot


def calibrate(raw: np.ndarray) -> np.ndarray:
    """Map raw similarities to scores ~ 10*log10(1/FMR) (monotonic non-decreasing, 0 at raw <= 0)."""
    raw = np.ascontiguousarray(raw, dtype=np.float64)
    return K.calibrate_many(raw.reshape(-1), _CAL_RAW, _CAL_SCORE, _CAL_TAIL_SLOPE).reshape(raw.shape)


def score(
    a: Template | PreparedTemplate, b: Template | PreparedTemplate, params: MatcherParams = DEFAULT_MATCHER
) -> float:
    """Similarity of two fingerprints, about 10*log10(1/FMR); 0 when nothing matches. One compiled call
    (comparison, raw similarity and calibration), the same arithmetic as ``score_many``."""
    pa = a if isinstance(a, PreparedTemplate) else prepare(a)
    pb = b if isinstance(b, PreparedTemplate) else prepare(b)
    return K.score_one(
        *_side(pa), *_side(pb), pa.cells, params._array, _CAL_RAW, _CAL_SCORE, _CAL_TAIL_SLOPE
    )  # fmt: skip


def score_many(
    probe: Template | PreparedTemplate,
    gallery: Sequence | PackedGallery,
    params: MatcherParams = DEFAULT_MATCHER,
) -> np.ndarray:
    """Scores of ``probe`` against every gallery item, in order (float64 array); one compiled loop."""
    p = prepare(probe)
    g = gallery if isinstance(gallery, PackedGallery) else pack(gallery)
    if len(g) == 0:
        return np.zeros(0)
    f = K.compare_many(
        *_side(p),
        g.x, g.y, g.theta, g.cos, g.sin, g.bits, g.mask, g.valid, g.ones, g.cnt,
        g.offsets, g.hulls, g.hull_offsets,
        p.cells, params._array,
    )  # fmt: skip
    return calibrate(raw_similarity(f))


def _minutia(p: PreparedTemplate, k: int) -> dict:
    """One prepared minutia in image coordinates (y down; direction counter-clockwise, degrees)."""
    return {
        "x": round(float(p.x[k]), 2),
        "y": round(float(-p.y[k]), 2),
        "direction_deg": round(math.degrees(float(p.theta[k])), 2),
    }


def explain(
    a: Template | PreparedTemplate, b: Template | PreparedTemplate, params: MatcherParams = DEFAULT_MATCHER
) -> dict:
    """The matcher's pairing of one comparison, JSON-ready: the score (same as ``score``), the four
    features and the raw similarity, the winning alignment of A onto B and the paired minutiae with
    their local similarity. Coordinates are image pixels at 500 ppi (y down); the alignment maps a point
    (x, y) of A to (m[0][0] x + m[0][1] y + m[0][2], m[1][0] x + m[1][1] y + m[1][2]) in B."""
    pa, pb = prepare(a), prepare(b)
    f, detail, sim = K.compare_detail(*_side(pa), *_side(pb), pa.cells, params._array)
    raw = float(raw_similarity(f)[0])
    rot, tx, ty = float(detail[0]), float(detail[1]), float(detail[2])
    c, s = math.cos(rot), math.sin(rot)
    pairs = []
    for k in range(pa.count):
        j = int(detail[3 + k])
        if j >= 0:
            pairs.append(
                {"a": _minutia(pa, k), "b": _minutia(pb, j), "similarity": round(float(sim[k, j]), 4)}
            )
    return {
        "score": float(calibrate(np.array([raw]))[0]),
        "raw_similarity": raw,
        "features": {
            "pairs": int(f[0]),
            "similarity_sum": float(f[1]),
            "a_inside_b": int(f[2]),
            "b_inside_a": int(f[3]),
        },
        "alignment": {
            "rotation_deg": round(math.degrees(rot), 3),  # counter-clockwise on the image
            "matrix": [[c, s, tx], [-s, c, -ty]],
        },
        "minutiae": {"a": pa.count, "b": pb.count},
        "paired": pairs,
        "params": params.as_dict(),
    }
