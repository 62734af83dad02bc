"""First stage of 1:N search: a fixed-length descriptor per finger and a compiled scan over all of them.

The descriptor is a soft 3-D histogram of the finger's minutia pairs, each pair seen from its first minutia
(rotation and translation invariant, like an MCC cylinder pooled over the whole print):

* distance between the two minutiae (``DIST_BINS`` bins from ``DMIN`` to ``DMAX`` pixels at 500 ppi);
* direction of the second minutia as seen from the first, relative to the first's direction (``PHI_BINS``);
* difference of the two minutia directions (``DTH_BINS``).

Every pair adds to its neighbouring bins by linear interpolation (so small distortions move weight between
bins instead of jumping). The histogram is square-rooted (Hellinger), L2-normalised and stored as uint8,
``DIMS`` bytes per finger; the scan is an integer dot product of the probe's descriptor with every
gallery row, in parallel over the cores. It is a coarse, global similarity: the scan only decides which
fingers are looked at again. Those (``RERANK`` times the survivors wanted) are re-ranked with the same pair
histogram in finer bins (``fine_descriptor``, ``fine_scores``: 8 x 24 x 24, computed from their minutiae on
the fly, so it takes no memory in the gallery), and only the best of that ranking go on to the full matcher
(``crms.fingerprint.matcher``). Finer bins separate mates from the rest better (a mate's pairs fall in the
same narrow bins, an impostor's spread out), at a cost in memory and scan time that only the few re-ranked
fingers pay.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

DIST_BINS = 6
PHI_BINS = 8
DTH_BINS = 8
DIMS = DIST_BINS * PHI_BINS * DTH_BINS  # 384 bytes per finger
DMIN = 8.0
DMAX = 160.0
# The re-ranking descriptor: the same pairs in finer bins (15 degrees, 8 distance steps), computed on the fly
# from the gallery's minutiae for the best of the coarse scan only, so it costs no memory per finger.
FINE_DIST_BINS = 8
FINE_ANGLE_BINS = 24
FINE_DIMS = FINE_DIST_BINS * FINE_ANGLE_BINS * FINE_ANGLE_BINS


@njit(cache=True)
def _pair_histogram(x, y, t, dist_bins, phi_bins, dth_bins):  # pragma: no cover - compiled
    n = x.shape[0]
    h = np.zeros(dist_bins * phi_bins * dth_bins)
    two_pi = 2.0 * math.pi
    dstep = (DMAX - DMIN) / (dist_bins - 1)
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            dx = x[j] - x[i]
            dy = y[j] - y[i]
            d = math.sqrt(dx * dx + dy * dy)
            if d < DMIN or d > DMAX:
                continue
            phi = (math.atan2(dy, dx) - t[i]) % two_pi
            dth = (t[j] - t[i]) % two_pi
            fd = (d - DMIN) / dstep
            fp = phi / two_pi * phi_bins - 0.5
            ft = dth / two_pi * dth_bins - 0.5
            d0 = int(math.floor(fd))
            p0 = int(math.floor(fp))
            t0 = int(math.floor(ft))
            wd1 = fd - d0
            wp1 = fp - p0
            wt1 = ft - t0
            for a in range(2):
                di = d0 + a
                if di < 0 or di >= dist_bins:
                    continue
                wa = wd1 if a == 1 else 1.0 - wd1
                for b in range(2):
                    pi = (p0 + b) % phi_bins
                    wb = wp1 if b == 1 else 1.0 - wp1
                    for c in range(2):
                        ti = (t0 + c) % dth_bins
                        wc = wt1 if c == 1 else 1.0 - wt1
                        h[(di * phi_bins + pi) * dth_bins + ti] += wa * wb * wc
    return h


@njit(cache=True)
def _histogram(x, y, t):  # pragma: no cover - compiled
    return _pair_histogram(x, y, t, DIST_BINS, PHI_BINS, DTH_BINS)


def descriptor(minutiae: np.ndarray) -> np.ndarray:
    """uint8 (DIMS,) descriptor of a finger from its minutiae (N, >=3: x, y, direction); all zero when the
    finger has fewer than 2 minutiae."""
    m = np.asarray(minutiae, dtype=np.float64).reshape(-1, minutiae.shape[-1] if minutiae.size else 5)
    h = _histogram(
        np.ascontiguousarray(m[:, 0]), np.ascontiguousarray(-m[:, 1]), np.ascontiguousarray(m[:, 2])
    )
    h = np.sqrt(h)
    norm = float(np.linalg.norm(h))
    if norm == 0.0:
        return np.zeros(DIMS, dtype=np.uint8)
    return np.clip(np.round(h / norm * 510.0), 0, 255).astype(np.uint8)  # x2: values are rarely over 0.5


@njit(cache=True, parallel=True)
def scan(probe, desc, select, out):  # pragma: no cover - compiled
    """out[g] = probe . desc[g] for rows with select[g] true, -1 elsewhere (probe and desc uint8)."""
    p = probe.astype(np.int32)
    for g in prange(desc.shape[0]):
        if not select[g]:
            out[g] = -1
            continue
        acc = 0
        row = desc[g]
        for k in range(row.shape[0]):
            acc += p[k] * np.int32(row[k])
        out[g] = acc


def top(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n highest scores (>= 0), best first (ties by index)."""
    ok = int(np.count_nonzero(scores >= 0))
    n = min(n, ok)
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    if n < scores.shape[0]:
        idx = np.argpartition(-scores, n - 1)[:n]
    else:
        idx = np.arange(scores.shape[0])
    idx = idx[scores[idx] >= 0]
    return idx[np.lexsort((idx, -scores[idx]))].astype(np.int64)


@njit(cache=True, parallel=True)
def _descriptors(x, y, t, off, out):  # pragma: no cover - compiled
    for g in prange(off.shape[0] - 1):
        b, e = off[g], off[g + 1]
        h = np.sqrt(_histogram(x[b:e], y[b:e], t[b:e]))
        norm = math.sqrt(np.sum(h * h))
        if norm == 0.0:
            continue
        for k in range(DIMS):
            out[g, k] = np.uint8(min(255.0, max(0.0, np.round(h[k] / norm * 510.0))))


def descriptors(x: np.ndarray, y_down: np.ndarray, theta: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``descriptor`` of many fingers at once (finger g owns rows offsets[g]:offsets[g+1]), in parallel."""
    out = np.zeros((offsets.shape[0] - 1, DIMS), dtype=np.uint8)
    _descriptors(*_columns(x, y_down, theta, offsets), out)
    return out


def _columns(x, y_down, theta, offsets) -> tuple[np.ndarray, ...]:
    """Many fingers' minutiae as the compiled loops take them: float64 x, y up, direction; int64 offsets."""
    return (
        np.ascontiguousarray(x, dtype=np.float64),
        -np.ascontiguousarray(y_down, dtype=np.float64),
        np.ascontiguousarray(theta, dtype=np.float64),
        np.ascontiguousarray(offsets, dtype=np.int64),
    )


def fine_descriptor(minutiae: np.ndarray) -> np.ndarray:
    """float64 (FINE_DIMS,) re-ranking descriptor of a finger (square-rooted, unit length; zero when it has
    fewer than 2 minutiae): the coarse descriptor's pair histogram in finer bins."""
    m = np.asarray(minutiae, dtype=np.float64).reshape(-1, minutiae.shape[-1] if minutiae.size else 5)
    h = np.sqrt(
        _pair_histogram(
            np.ascontiguousarray(m[:, 0]),
            np.ascontiguousarray(-m[:, 1]),
            np.ascontiguousarray(m[:, 2]),
            FINE_DIST_BINS,
            FINE_ANGLE_BINS,
            FINE_ANGLE_BINS,
        )
    )
    norm = float(np.linalg.norm(h))
    return h / norm if norm else h


@njit(cache=True, parallel=True)
def _fine_scores(probe, x, y, t, off, out):  # pragma: no cover - compiled
    for g in prange(off.shape[0] - 1):
        b, e = off[g], off[g + 1]
        h = np.sqrt(_pair_histogram(x[b:e], y[b:e], t[b:e], FINE_DIST_BINS, FINE_ANGLE_BINS, FINE_ANGLE_BINS))
        norm = math.sqrt(np.sum(h * h))
        out[g] = np.dot(h, probe) / norm if norm > 0.0 else 0.0


def fine_scores(
    probe: np.ndarray, x: np.ndarray, y_down: np.ndarray, theta: np.ndarray, offsets: np.ndarray
) -> np.ndarray:
    """Cosine of ``probe`` (a ``fine_descriptor``) with the fine descriptor of each finger g (the minutiae
    in rows offsets[g]:offsets[g+1]), in parallel: 0 (unrelated) to 1 (the same pair histogram)."""
    out = np.zeros(offsets.shape[0] - 1, dtype=np.float64)
    _fine_scores(np.ascontiguousarray(probe, dtype=np.float64), *_columns(x, y_down, theta, offsets), out)
    return out
