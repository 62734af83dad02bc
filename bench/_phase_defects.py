"""A ridge pattern's minutiae as the singular points of its phase, and a pattern with close pairs removed.

Used by the synthetic-set benches to ask whether fewer minutiae would make synthetic impostors score like
real ones. A ridge pattern is locally ``cos(phase)`` with the phase rising across the ridges; a ridge
ending or fork is a point around which the phase winds by ±2π (Larkin and Fletcher, *A coherent framework
for fingerprint analysis: are fingerprints holograms?*, 2007). Two of opposite winding cancel:
subtracting ``w · arg((z - z1) / (z - z2))`` from the phase near them leaves the pattern without either
(the 2π jump of that term lies on the segment between them, where ``cos`` does not see it), and tapering
the term to nothing a few periods away leaves the rest as it was.

The direction across the ridges is known only modulo π, and turning it round turns the phase into its
negative: each step below compares directions and flips the phase where they disagree.
"""

from __future__ import annotations

import numba
import numpy as np

from crms.fingerprint.synthesis.ridges import _bilinear  # the growth's own sampling

TAPS = 7  # half-length of the complex Gabor across the ridges (pixels)


@numba.njit  # no cache: tests load bench modules under names numba cannot find again
def _phase(img, cos_t, sin_t, period, region):
    """Phase of a complex Gabor across the ridges (along (-sin θ, cos θ)) at the local period."""
    h, w = img.shape
    out = np.zeros((h, w), np.float32)
    for y in range(h):
        for x in range(w):
            if not region[y, x]:
                continue
            nx = -sin_t[y, x]
            ny = cos_t[y, x]
            omega = 2.0 * np.pi / period[y, x]
            sigma = 0.5 * period[y, x]
            re = 0.0
            im = 0.0
            for t in range(-TAPS, TAPS + 1):
                v = _bilinear(img, x + t * nx, y + t * ny) * np.exp(-0.5 * (t / sigma) ** 2)
                re += v * np.cos(omega * t)
                im -= v * np.sin(omega * t)
            out[y, x] = np.arctan2(im, re)
    return out


def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2.0 * np.pi) - np.pi


def normals(orientation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The direction across the ridges, (-sin θ, cos θ), of a ridge orientation field θ (radians)."""
    return -np.sin(orientation).astype(np.float32), np.cos(orientation).astype(np.float32)


def local_phase(
    ridges: np.ndarray, orientation: np.ndarray, period: np.ndarray, region: np.ndarray
) -> np.ndarray:
    """The pattern's phase (radians, float32) inside ``region``, rising along :func:`normals`."""
    return _phase(
        np.ascontiguousarray(ridges, np.float32),
        np.cos(orientation).astype(np.float32),
        np.sin(orientation).astype(np.float32),
        np.ascontiguousarray(period, np.float32),
        np.ascontiguousarray(region, np.bool_),
    )


def phase_defects(phase: np.ndarray, orientation: np.ndarray, valid: np.ndarray) -> dict[str, np.ndarray]:
    """Points where the phase winds: x, y (centres of 2 × 2 pixel squares all ``valid``), winding (+1 or -1,
    counted along x then y, the way ``atan2(y, x)`` rises, with the normal at x, y as its sense) and
    that normal (nx, ny)."""
    nx, ny = normals(orientation)
    corners = ((slice(None, -1), slice(None, -1)), (slice(None, -1), slice(1, None)))
    corners += ((slice(1, None), slice(1, None)), (slice(1, None), slice(None, -1)))
    first = corners[0]
    aligned = []
    for c in corners:  # each corner's phase in the sense of the square's first corner
        agree = nx[c] * nx[first] + ny[c] * ny[first] >= 0
        aligned.append(np.where(agree, phase[c], -phase[c]))
    turn = sum(_wrap(aligned[(k + 1) % 4] - aligned[k]) for k in range(4))
    winding = np.rint(turn / (2.0 * np.pi)).astype(int)
    inside = np.logical_and.reduce([valid[c] for c in corners])
    ys, xs = np.nonzero((winding != 0) & inside)
    return {
        "x": xs + 0.5,
        "y": ys + 0.5,
        "winding": winding[ys, xs],
        "nx": nx[first][ys, xs],
        "ny": ny[first][ys, xs],
    }


def opposite_pairs(
    found: dict[str, np.ndarray], period: np.ndarray, max_periods: float
) -> list[tuple[int, int]]:
    """Pairs of defects of opposite winding at most ``max_periods`` ridge periods apart, nearest first."""
    x, y, w = found["x"], found["y"], found["winding"]
    agree = np.outer(found["nx"], found["nx"]) + np.outer(found["ny"], found["ny"]) >= 0
    w_in_first = np.where(agree, w[None, :], -w[None, :])  # b's winding in a's sense
    dist = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    dist /= period[y.astype(int), x.astype(int)][:, None]
    a, b = np.nonzero(np.triu(w_in_first == -w[:, None], 1) & (dist <= max_periods))
    order = np.argsort(dist[a, b], kind="stable")
    return [(int(a[k]), int(b[k])) for k in order]


def annihilate(
    ridges: np.ndarray,
    orientation: np.ndarray,
    period: np.ndarray,
    mask: np.ndarray,
    singular: np.ndarray,
    max_periods: float,
) -> tuple[np.ndarray, int, int]:
    """``ridges`` with opposite pairs of defects up to ``max_periods`` apart removed, nearest pairs first,
    each defect in one pair at most; a pair is left where its window (the pair and 3 periods around it)
    holds one of the flow's ``singular`` points (x, y rows) or a turn of the flow by more than 70°.
    Returns the pattern (float32 in [-1, 1]), the defects found and the pairs removed."""
    phase = local_phase(ridges, orientation, period, mask > 0.05)
    found = phase_defects(phase, orientation, mask > 0.3)
    nx, ny = normals(orientation)
    h, w = ridges.shape
    shift = np.zeros((h, w), np.float32)
    touched = np.zeros((h, w), bool)
    used = np.zeros(len(found["x"]), bool)
    removed = 0
    for a, b in opposite_pairs(found, period, max_periods):
        if used[a] or used[b]:
            continue
        xa, ya, xb, yb = found["x"][a], found["y"][a], found["x"][b], found["y"][b]
        p = float(period[int(ya), int(xa)])
        mx, my = (xa + xb) / 2.0, (ya + yb) / 2.0
        r_in = np.hypot(xa - xb, ya - yb) / 2.0 + 0.5 * p
        r_out = r_in + 2.5 * p
        if len(singular) and np.min(np.hypot(singular[:, 0] - mx, singular[:, 1] - my)) < r_out:
            continue
        y0, y1 = int(max(0, my - r_out - 1)), int(min(h, my + r_out + 2))
        x0, x1 = int(max(0, mx - r_out - 1)), int(min(w, mx + r_out + 2))
        wy, wx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        r = np.hypot(wx - mx, wy - my)
        agree = nx[y0:y1, x0:x1] * found["nx"][a] + ny[y0:y1, x0:x1] * found["ny"][a]
        if np.min(np.abs(agree[r < r_out])) < 0.35:
            continue
        t = np.clip((r_out - r) / (r_out - r_in), 0.0, 1.0)
        t = t * t * (3.0 - 2.0 * t)
        term = found["winding"][a] * np.angle(
            ((wx - xa) + 1j * (wy - ya)) / ((wx - xb) + 1j * (wy - yb) + 1e-9)
        )
        shift[y0:y1, x0:x1] += (np.sign(agree) * t * term).astype(np.float32)
        touched[y0:y1, x0:x1] |= r < r_out
        used[a] = used[b] = True
        removed += 1
    out = np.where(touched, np.clip(1.6 * np.cos(phase - shift), -1.0, 1.0), ridges)
    return out.astype(np.float32), len(found["x"]), removed


def annihilated_master(master, max_periods: float):
    """A synthetic master with opposite pairs of minutiae removed, then two growth iterations over the
    whole finger to give the mended windows the same ridge profile as the rest."""
    import dataclasses

    import cv2

    from crms.fingerprint.synthesis.ridges import grow_ridges

    sp = master.singular_points
    singular = np.vstack([sp.cores, sp.deltas]) if len(sp.cores) + len(sp.deltas) else np.zeros((0, 2))
    out, _, _ = annihilate(
        master.ridges, master.orientation, master.period, master.mask, singular, max_periods
    )
    region = cv2.dilate((master.mask > 0.02).astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    return dataclasses.replace(master, ridges=grow_ridges(out, master.orientation, master.period, region, 2))
