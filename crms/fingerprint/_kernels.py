"""Numba kernels of the 1:1 matcher: MCC bit cylinders, local similarities, geometric consolidation.

All hot loops live here (``@njit(cache=True)``); ``crms.fingerprint.matcher`` holds the API around them.
Helpers called inside the hot loops are inlined (``inline="always"``): a call of a compiled function
that takes arrays costs reference-count updates on each of them, which dominated the pairing passes.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

from crms.fingerprint.params import DEFAULT_MATCHER

# ---- Minutia Cylinder-Code parameters (Cappelli, Ferrara, Maltoni 2010, bit version) ----
R = 70.0  # cylinder radius, pixels at 500 ppi
NS = 16  # cells along each side of the cylinder base
ND = 6  # angular layers
SIGMA_S = 28.0 / 3.0
SIGMA_D = 2.0 * math.pi / 9.0
MU_PSI = 0.01  # bit threshold of a cell's contribution
OMEGA = 50.0  # convex hull offset for cell validity
MIN_VC = 0.75  # a cylinder needs this fraction of its cells valid
MIN_M = 2  # ... and this many neighbours
MIN_ME = 0.6  # two cylinders compare only if this fraction of cells is valid in both
DELTA_THETA = math.pi / 2  # largest direction difference of two comparable minutiae
COS_DELTA_THETA = math.cos(DELTA_THETA) - 1e-9


def _disc_cells() -> int:
    """Cells of the NS x NS grid whose centre lies inside the cylinder's disc."""
    c, ds = (NS - 1) / 2.0, 2.0 * R / NS
    return sum(1 for i in range(NS) for j in range(NS) if ((i - c) ** 2 + (j - c) ** 2) * ds * ds <= R * R)


DISC = _disc_cells()  # 208 of the 256 cells of the grid
NBITS = DISC * ND  # only cells of the disc are stored (the others are never valid)
NWORDS = (NBITS + 63) // 64


@intrinsic
def _popc(typingctx, x):
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


@njit(cache=True, inline="always")
def _angle_diff(a, b):
    """a - b wrapped into [-pi, pi)."""
    d = a - b
    while d < -math.pi:
        d += 2.0 * math.pi
    while d >= math.pi:
        d -= 2.0 * math.pi
    return d


@njit(cache=True, inline="always")
def _inside_dilated_hull(px, py, hull, omega):
    """True when (px, py) lies inside the convex polygon ``hull`` (counter-clockwise or clockwise)
    or within ``omega`` pixels of it."""
    h = hull.shape[0]
    if h == 0:
        return False
    if h == 1:
        return (px - hull[0, 0]) ** 2 + (py - hull[0, 1]) ** 2 <= omega * omega
    if h >= 3:  # inside the polygon: every edge sees the point on the same side (no distances needed)
        sign = 0.0
        inside = True
        for e in range(h):
            x0, y0 = hull[e, 0], hull[e, 1]
            x1, y1 = hull[(e + 1) % h, 0], hull[(e + 1) % h, 1]
            cr = (x1 - x0) * (py - y0) - (y1 - y0) * (px - x0)
            if sign == 0.0:
                sign = cr
            elif cr * sign < 0.0:
                inside = False
                break
        if inside:
            return True
    best = 1e30
    for e in range(h):
        x0, y0 = hull[e, 0], hull[e, 1]
        x1, y1 = hull[(e + 1) % h, 0], hull[(e + 1) % h, 1]
        ex, ey = x1 - x0, y1 - y0
        ll = ex * ex + ey * ey
        t = 0.0
        if ll > 0.0:
            t = ((px - x0) * ex + (py - y0) * ey) / ll
            t = min(1.0, max(0.0, t))
        dx, dy = x0 + t * ex - px, y0 + t * ey - py
        best = min(best, dx * dx + dy * dy)
    return best <= omega * omega


@njit(cache=True)
def cylinders(x, y, theta, hull):
    """Bit cylinders, cell validity masks and cylinder validity for N minutiae.

    Only the DISC cells of the grid inside the disc are stored: bit index of cell (i, j, k) is
    d * ND + k where d counts the disc cells in row-major (i, j) order, packed little-endian into
    NWORDS uint64 words. The directional term of a neighbour, which depends only on the pair of
    minutiae, is computed once per neighbour (not once per cell); every cell then sums the same
    products in the same order.
    """
    n = x.shape[0]
    bits = np.zeros((n, NWORDS), dtype=np.uint64)
    mask = np.zeros((n, NWORDS), dtype=np.uint64)
    ok = np.zeros(n, dtype=np.bool_)
    ds = 2.0 * R / NS
    dd = 2.0 * math.pi / ND
    reach = R + 3.0 * SIGMA_S
    gs_norm = 1.0 / (SIGMA_S * math.sqrt(2.0 * math.pi))
    sq = math.sqrt(2.0) * SIGMA_D
    incircle = 0
    for i in range(NS):
        for j in range(NS):
            ci = i - (NS - 1) / 2.0
            cj = j - (NS - 1) / 2.0
            if (ci * ci + cj * cj) * ds * ds <= R * R:
                incircle += 1
    contrib = np.zeros(ND)
    nb = np.empty(n, dtype=np.int64)
    gdt = np.empty((n, ND))
    for m in range(n):
        c, s = math.cos(theta[m]), math.sin(theta[m])
        nn = 0
        for t in range(n):
            if t != m and (x[t] - x[m]) ** 2 + (y[t] - y[m]) ** 2 <= reach * reach:
                nb[nn] = t
                dth = _angle_diff(theta[m], theta[t])
                for k in range(ND):
                    phi = -math.pi + (k + 0.5) * dd
                    a = _angle_diff(phi, dth)
                    gdt[nn, k] = 0.5 * (math.erf((a + dd / 2) / sq) - math.erf((a - dd / 2) / sq))
                nn += 1
        valid = 0
        d = -1
        for i in range(NS):
            for j in range(NS):
                ci = (i - (NS - 1) / 2.0) * ds
                cj = (j - (NS - 1) / 2.0) * ds
                if ci * ci + cj * cj > R * R:
                    continue
                d += 1
                px = x[m] + c * ci - s * cj
                py = y[m] + s * ci + c * cj
                if not _inside_dilated_hull(px, py, hull, OMEGA):
                    continue
                valid += 1
                for k in range(ND):
                    contrib[k] = 0.0
                for q in range(nn):
                    t = nb[q]
                    d2 = (x[t] - px) ** 2 + (y[t] - py) ** 2
                    if d2 > 9.0 * SIGMA_S * SIGMA_S:
                        continue
                    gs = gs_norm * math.exp(-d2 / (2.0 * SIGMA_S * SIGMA_S))
                    for k in range(ND):
                        contrib[k] += gs * gdt[q, k]
                for k in range(ND):
                    b = d * ND + k
                    w, o = b >> 6, b & 63
                    mask[m, w] |= np.uint64(1) << np.uint64(o)
                    if contrib[k] > MU_PSI:
                        bits[m, w] |= np.uint64(1) << np.uint64(o)
        ok[m] = valid >= MIN_VC * incircle and nn >= MIN_M
    return bits, mask, ok, incircle * ND


@njit(cache=True, inline="always")
def _hull_chain(pts, first, stop, step, h):
    """One half of the monotone chain over pts[first:stop:step] into h; returns its length."""
    k = 0
    for i in range(first, stop, step):
        while (
            k >= 2
            and (
                (h[k - 1, 0] - h[k - 2, 0]) * (pts[i, 1] - h[k - 2, 1])
                - (h[k - 1, 1] - h[k - 2, 1]) * (pts[i, 0] - h[k - 2, 0])
            )
            <= 0
        ):
            k -= 1
        h[k, 0], h[k, 1] = pts[i, 0], pts[i, 1]
        k += 1
    return k


@njit(cache=True)
def convex_hull(x, y):
    """Convex hull of the points (x, y) as float64 (H, 2): points sorted by x then y, duplicates dropped,
    Andrew's monotone chain popping on a cross product <= 0 (collinear points left out); fewer than 3
    distinct points come back as they are."""
    n = x.shape[0]
    if n == 0:
        return np.zeros((0, 2))
    order = np.argsort(y, kind="mergesort")
    order = order[np.argsort(x[order], kind="mergesort")]
    pts = np.empty((n, 2))
    m = 0
    for i in range(n):
        px, py = x[order[i]], y[order[i]]
        if m > 0 and pts[m - 1, 0] == px and pts[m - 1, 1] == py:
            continue
        pts[m, 0], pts[m, 1] = px, py
        m += 1
    if m < 3:
        return pts[:m].copy()
    h = np.empty((2 * m, 2))
    out = np.empty((2 * m, 2))
    k = _hull_chain(pts, 0, m, 1, h)  # lower half, left to right
    lower = k
    out[: lower - 1] = h[: lower - 1]
    k = _hull_chain(pts, m - 1, -1, -1, h)  # upper half, right to left
    out[lower - 1 : lower - 1 + k - 1] = h[: k - 1]
    return out[: lower - 1 + k - 1].copy()


SQRT = np.sqrt(np.arange(NBITS + 1, dtype=np.float64))  # sqrt of every possible bit count


@njit(cache=True, inline="always")
def local_similarity(
    bits_a, mask_a, ok_a, ca_, sa_, ones_a, cnt_a, bits_b, mask_b, ok_b, cb_, sb_, ones_b, cnt_b, cells
):
    """MCC bit similarity of every minutia pair (0 where not comparable). Symmetric by construction.

    A pair is compared only when both cylinders are valid and the directions differ by at most
    DELTA_THETA; the comparable partners of each row are listed first (no unpredictable branch), then
    each pair is counted in one branch-free loop over the NWORDS words: set bits of each cylinder inside
    the other's valid cells, bits that differ there, and common valid cells (fewer than MIN_ME of the
    cells: not comparable, similarity 0). Square roots of the counts come from a table (same values).
    ``ones``/``cnt`` (``cylinder_counts``) are not needed here any more; the signature keeps them.
    """
    na, nb = bits_a.shape[0], bits_b.shape[0]
    out = np.zeros((na, nb), dtype=np.float32)
    min_common = MIN_ME * cells
    idx = np.empty(nb, dtype=np.int64)
    for a in range(na):
        if not ok_a[a]:
            continue
        m = 0
        for b in range(nb):
            idx[m] = b
            m += ok_b[b] & (ca_[a] * cb_[b] + sa_[a] * sb_[b] >= COS_DELTA_THETA)
        for q in range(m):
            b = idx[q]
            pa = 0
            pb = 0
            px = 0
            common = 0
            for k in range(NWORDS):
                ma = mask_a[a, k]
                mb = mask_b[b, k]
                c1 = bits_a[a, k] & mb
                c2 = bits_b[b, k] & ma
                pa += _popc(c1)
                pb += _popc(c2)
                px += _popc(c1 ^ c2)
                common += _popc(ma & mb)
            den = SQRT[pa] + SQRT[pb]
            if common >= min_common and den > 0.0:
                out[a, b] = 1.0 - SQRT[px] / den
    return out


@njit(cache=True)
def cylinder_counts(bits, mask):
    """Set bits and valid cells of each cylinder."""
    n, w = bits.shape
    ones = np.zeros(n, dtype=np.int64)
    cnt = np.zeros(n, dtype=np.int64)
    for m in range(n):
        for k in range(w):
            ones[m] += _popc(bits[m, k])
            cnt[m] += _popc(mask[m, k])
    return ones, cnt


# ---- geometric consolidation ----
# ``params``: the fields of crms.fingerprint.params.MatcherParams as one float64 array, in field order;
# the kernels read them by these names (see MatcherParams for what each one means).
P_TOL, P_SLOPE, P_DCOS, P_MARGIN, P_MIN_SIM = 0, 1, 2, 3, 4
P_ANCHORS, P_REFINED, P_BY_SUPPORT, P_EXIT_BELOW, P_EXIT_AFTER = 5, 6, 7, 8, 9
DEFAULT_PARAMS = DEFAULT_MATCHER.as_array()


GRID = 24.0  # cell side (px) of the grid over B's minutiae that the pairing searches (16-32 measure alike)
GRID_CELLS = 4096  # at most this many cells: the side doubles for prints spread far (malformed input)


@njit(cache=True)
def _grid(xs, ys):
    """Grid of square cells over the points (side GRID px, doubled until there are at most GRID_CELLS
    cells): cell (r, c) holds members[start[r * cols + c] : start[r * cols + c + 1]], in increasing index
    order. Cells of a row are consecutive, so a run of cells along x is one slice. A point's cell and a
    query's cells are both found by multiplying with 1 / side (monotonic: no point is missed).
    Returns (x0, y0, 1 / side, cols, rows, start, members)."""
    n = xs.shape[0]
    x0, y0 = xs.min(), ys.min()
    xr, yr = xs.max() - x0, ys.max() - y0
    step = GRID
    while (xr / step + 1.0) * (yr / step + 1.0) > GRID_CELLS:  # in floats: no overflow for any finite input
        step *= 2.0
    inv = 1.0 / step
    cols = int(xr * inv) + 1
    rows = int(yr * inv) + 1
    start = np.zeros(rows * cols + 1, dtype=np.int64)
    cell = np.empty(n, dtype=np.int64)
    for i in range(n):
        cell[i] = int((ys[i] - y0) * inv) * cols + int((xs[i] - x0) * inv)
        start[cell[i] + 1] += 1
    for c in range(rows * cols):
        start[c + 1] += start[c]
    fill = start[:-1].copy()
    members = np.empty(n, dtype=np.int64)
    for i in range(n):
        members[fill[cell[i]]] = i
        fill[cell[i]] += 1
    return x0, y0, inv, cols, rows, start, members


@njit(cache=True, inline="always")
def _pair_work(na, nb):
    """Scratch arrays of ``_pair_up`` (A of ``na``, B of ``nb`` minutiae): ia, ib, cost_a, cost_b, rb."""
    return (
        np.empty(na, dtype=np.int64),
        np.empty(nb, dtype=np.int64),
        np.empty(na),
        np.empty(nb),
        np.empty(nb),
    )


@njit(cache=True, inline="always")
def _pair_up(xa, ya, ca, sa, xb, yb, cb, sb, sim, rot, tx, ty, cax, cay, cbx, cby, params, work, grid):
    """Mutual-nearest pairing of A (moved by rotation ``rot`` and translation) with B.

    Tolerance grows with the distance to the alignment centres (cax, cay) in A and (cbx, cby) in B.
    Candidates come from the cells of B's grid (``_grid``) that the square u +- tmax, v +- tmax meets;
    equal costs go to the lower index of B, so the result does not depend on the order they are visited.
    ``work``: scratch arrays from ``_pair_work``; ``grid``: ``_grid`` of B.
    Fills ia[k] = index in B (or -1), ia = work[0]; returns the number of pairs.
    """
    ia, ib, cost_a, cost_b, rb = work
    g_x0, g_y0, g_inv, g_cols, g_rows, g_start, g_members = grid
    na, nb = xa.shape[0], xb.shape[0]
    tol0, slope, dcos, min_sim = params[P_TOL], params[P_SLOPE], params[P_DCOS], params[P_MIN_SIM]
    c, s = math.cos(rot), math.sin(rot)
    for k in range(na):
        ia[k] = -1
        cost_a[k] = 1e30
    rbmax = 0.0
    for j2 in range(nb):
        ib[j2] = -1
        cost_b[j2] = 1e30
        rb[j2] = math.sqrt((xb[j2] - cbx) ** 2 + (yb[j2] - cby) ** 2)
        rbmax = max(rbmax, rb[j2])
    for k in range(na):
        u = c * xa[k] - s * ya[k] + tx
        v = s * xa[k] + c * ya[k] + ty
        ra = math.sqrt((xa[k] - cax) ** 2 + (ya[k] - cay) ** 2)
        cu = c * ca[k] - s * sa[k]  # direction of k after rotation
        su = s * ca[k] + c * sa[k]
        tmax = tol0 + slope * 0.5 * (ra + rbmax)  # no B minutia outside u +- tmax, v +- tmax pairs with k
        fc0 = (u - tmax - g_x0) * g_inv
        fc1 = (u + tmax - g_x0) * g_inv
        fr0 = (v - tmax - g_y0) * g_inv
        fr1 = (v + tmax - g_y0) * g_inv
        if not (fc1 >= 0.0 and fc0 < g_cols and fr1 >= 0.0 and fr0 < g_rows):
            continue  # outside B's grid (or NaN)
        c0 = int(fc0) if fc0 > 0.0 else 0
        c1 = int(fc1) if fc1 < g_cols - 1 else g_cols - 1
        r0 = int(fr0) if fr0 > 0.0 else 0
        r1 = int(fr1) if fr1 < g_rows - 1 else g_rows - 1
        for r in range(r0, r1 + 1):
            base = r * g_cols
            for q in range(g_start[base + c0], g_start[base + c1 + 1]):
                j2 = g_members[q]
                d2 = (u - xb[j2]) ** 2 + (v - yb[j2]) ** 2
                tol = tol0 + slope * 0.5 * (ra + rb[j2])
                if d2 > tol * tol:
                    continue
                if cu * cb[j2] + su * sb[j2] < dcos:
                    continue
                if sim[k, j2] < min_sim:
                    continue
                cost = d2 / (tol * tol)
                if cost < cost_a[k] or (cost == cost_a[k] and j2 < ia[k]):  # ties: the lower index
                    cost_a[k] = cost
                    ia[k] = j2
                if cost < cost_b[j2]:
                    cost_b[j2] = cost
                    ib[j2] = k
    n = 0
    for k in range(na):
        j2 = ia[k]
        if j2 >= 0 and ib[j2] == k:
            n += 1
        else:
            ia[k] = -1
    return n


@njit(cache=True)
def _pair_up_py(xa, ya, ca, sa, xb, yb, cb, sb, sim, rot, tx, ty, cax, cay, cbx, cby, params):
    """``_pair_up`` on its own (for tests): the index in B paired with each minutia of A, or -1."""
    work = _pair_work(xa.shape[0], xb.shape[0])
    _pair_up(
        xa, ya, ca, sa, xb, yb, cb, sb, sim, rot, tx, ty, cax, cay, cbx, cby, params, work, _grid(xb, yb)
    )
    return work[0]


@njit(cache=True, inline="always")
def _count_inside(xa, ya, rot, tx, ty, hull, margin):
    c, s = math.cos(rot), math.sin(rot)
    n = 0
    for k in range(xa.shape[0]):
        u = c * xa[k] - s * ya[k] + tx
        v = s * xa[k] + c * ya[k] + ty
        if _inside_dilated_hull(u, v, hull, margin):
            n += 1
    return n


@njit(cache=True, inline="always")
def _refit(xa, ya, xb, yb, ia, n):
    """Least-squares rigid transform of the pairs: rotation, translation, centroids in A and B."""
    sax = 0.0
    say = 0.0
    sbx = 0.0
    sby = 0.0
    for k in range(xa.shape[0]):
        if ia[k] >= 0:
            sax += xa[k]
            say += ya[k]
            sbx += xb[ia[k]]
            sby += yb[ia[k]]
    cax, cay, cbx, cby = sax / n, say / n, sbx / n, sby / n
    dot = 0.0
    crs = 0.0
    for k in range(xa.shape[0]):
        j2 = ia[k]
        if j2 >= 0:
            ux, uy = xa[k] - cax, ya[k] - cay
            vx, vy = xb[j2] - cbx, yb[j2] - cby
            dot += ux * vx + uy * vy
            crs += ux * vy - uy * vx
    rot = math.atan2(crs, dot)
    c, s = math.cos(rot), math.sin(rot)
    return rot, cbx - (c * cax - s * cay), cby - (s * cax + c * cay), cax, cay, cbx, cby


@njit(cache=True, inline="always")
def _before(v1, a1, b1, v2, a2, b2):
    """Order of the anchor list: higher similarity first; equal similarities by a key that swapping A
    and B leaves alone (a + b, then min(a, b)), so that score(a, b) == score(b, a) even then."""
    if v1 != v2:
        return v1 > v2
    if a1 + b1 != a2 + b2:
        return a1 + b1 < a2 + b2
    if min(a1, b1) != min(a2, b2):
        return min(a1, b1) < min(a2, b2)
    return a1 < a2


@njit(cache=True, inline="always")
def _top_pairs(sim, n):
    """The n most similar minutia pairs with positive similarity, in ``_before`` order: values, row and
    column indices (index -1 where fewer than n). One well-predicted test per pair: a value below the
    n-th best so far (the list starts at 0) is skipped at once."""
    na, nb = sim.shape
    top_v = np.zeros(n)
    top_a = np.full(n, -1, dtype=np.int64)
    top_b = np.full(n, -1, dtype=np.int64)
    last = 0.0  # top_v[n - 1]
    for a in range(na):
        for b in range(nb):
            v = sim[a, b]
            if v < last:
                continue
            if v == last and (v <= 0.0 or not _before(v, a, b, v, top_a[n - 1], top_b[n - 1])):
                continue
            p = n - 1
            while p > 0 and _before(v, a, b, top_v[p - 1], top_a[p - 1], top_b[p - 1]):
                top_v[p] = top_v[p - 1]
                top_a[p] = top_a[p - 1]
                top_b[p] = top_b[p - 1]
                p -= 1
            top_v[p] = v
            top_a[p] = a
            top_b[p] = b
            last = top_v[n - 1]
    return top_v, top_a, top_b


@njit(cache=True)
def top_pairs(sim, n):
    """``_top_pairs`` on its own (for tests)."""
    return _top_pairs(sim, n)


@njit(cache=True, inline="always")
def _anchor_alignment(xa, ya, ta, xb, yb, tb, i, j):
    """Rigid transform (rotation, tx, ty) that lays minutia i of A onto minutia j of B."""
    rot = tb[j] - ta[i]
    c, s = math.cos(rot), math.sin(rot)
    return rot, xb[j] - (c * xa[i] - s * ya[i]), yb[j] - (s * xa[i] + c * ya[i])


@njit(cache=True, inline="always")
def _paired_similarity(sim, ia):
    """Sum of the local similarities of the pairs (ia[k] = index in B paired with k, or -1)."""
    ssum = 0.0
    for k in range(ia.shape[0]):
        if ia[k] >= 0:
            ssum += sim[k, ia[k]]
    return ssum


@njit(cache=True, inline="always")
def _overlaps(xa, ya, hull_a, xb, yb, hull_b, rot, tx, ty, margin):
    """Minutiae of A (moved onto B) inside B's hull, and of B (moved back onto A) inside A's hull."""
    ova = _count_inside(xa, ya, rot, tx, ty, hull_b, margin)
    ci, si = math.cos(-rot), math.sin(-rot)
    ovb = _count_inside(xb, yb, -rot, -(ci * tx - si * ty), -(si * tx + ci * ty), hull_a, margin)
    return ova, ovb


@njit(cache=True, inline="always")
def _keep_detail(detail, rot, tx, ty, ia):
    detail[0], detail[1], detail[2] = rot, tx, ty
    for k in range(ia.shape[0]):
        detail[3 + k] = ia[k]


@njit(cache=True, inline="always")
def consolidate(xa, ya, ta, ca, sa, hull_a, xb, yb, tb, cb, sb, hull_b, sim, params, out, detail):
    """Geometric verification of the best local pairs.

    Each of the most similar minutia pairs in turn anchors a rigid alignment of A onto B; minutiae are
    paired up (mutual nearest). The anchors with the most local similarity in their pairs are refined:
    the rigid transform is refitted to the pairs (least squares) and the pairing repeated, twice.
    The refined alignment with the best support (similarity sum x pairs / overlap) wins; ``out``
    receives its pairs, sum of local similarity of the pairs, minutiae of A inside B's hull and of B
    inside A's hull. Early exit (``P_EXIT_BELOW``, ``P_EXIT_AFTER``): when the best anchor alignment's
    sum of local similarity is below the first after the first P_EXIT_AFTER anchors (the rest are then
    skipped) or after all of them, nothing is refined and that alignment, as it is, gives the features.
    ``detail``: empty, or 3 + len(A) floats that receive the winning alignment (rotation, tx, ty; A onto
    B, y-up) and, for each minutia of A, the index in B it is paired with (-1: none).
    """
    na, nb = xa.shape[0], xb.shape[0]
    for q in range(4):
        out[q] = 0.0
    if na == 0 or nb == 0:
        return
    n_anchors = int(params[P_ANCHORS])
    n_refine = int(params[P_REFINED])
    margin = params[P_MARGIN]
    keep = detail.shape[0] > 0
    top_v, top_a, top_b = _top_pairs(sim, n_anchors)
    work = _pair_work(na, nb)
    ia = work[0]  # the pairing of the last _pair_up
    grid = _grid(xb, yb)
    first = np.full(n_anchors, -1.0)
    first_ia = np.empty((n_anchors, na), dtype=np.int64)  # pairing of each anchor's alignment
    first_n = np.zeros(n_anchors, dtype=np.int64)
    exit_below, n_early = params[P_EXIT_BELOW], int(params[P_EXIT_AFTER])
    best_first = -1.0
    for q in range(n_anchors):
        if q == n_early and best_first < exit_below:
            break  # the first anchors found no alignment worth refining: the rest are less similar still
        i, j = top_a[q], top_b[q]
        if i < 0:
            break
        rot, tx, ty = _anchor_alignment(xa, ya, ta, xb, yb, tb, i, j)
        first_n[q] = _pair_up(
            xa, ya, ca, sa, xb, yb, cb, sb, sim, rot, tx, ty, xa[i], ya[i], xb[j], yb[j], params, work, grid
        )
        first_ia[q] = ia
        ssum = _paired_similarity(sim, ia)
        first[q] = ssum
        best_first = max(best_first, ssum)
    order = np.argsort(-first)
    best = -1.0
    b_rot, b_tx, b_ty = 0.0, 0.0, 0.0
    n_iter = 2
    if best_first < exit_below:  # clearly no mate: the best anchor's alignment as it is, unrefined
        n_refine, n_iter = 1, 0
    for r in range(min(n_refine, n_anchors)):
        q = order[r]
        if first[q] < 0.0:
            break
        i, j = top_a[q], top_b[q]
        rot, tx, ty = _anchor_alignment(xa, ya, ta, xb, yb, tb, i, j)
        cax, cay, cbx, cby = xa[i], ya[i], xb[j], yb[j]
        n = first_n[q]  # the anchor's own pairing, from its first pass
        for k in range(na):
            ia[k] = first_ia[q, k]
        for _ in range(n_iter):  # refit on the pairs and pair up again, twice
            if n < 3:
                break
            rot, tx, ty, cax, cay, cbx, cby = _refit(xa, ya, xb, yb, ia, n)
            n = _pair_up(
                xa, ya, ca, sa, xb, yb, cb, sb, sim, rot, tx, ty, cax, cay, cbx, cby, params, work, grid
            )
        ssum = _paired_similarity(sim, ia)
        if params[P_BY_SUPPORT] > 0.0:  # select by support alone; overlap of the winner only
            crit = ssum * n
            if crit > best:
                best = crit
                out[0] = n
                out[1] = ssum
                b_rot, b_tx, b_ty = rot, tx, ty
                if keep:
                    _keep_detail(detail, rot, tx, ty, ia)
            continue
        ova, ovb = _overlaps(xa, ya, hull_a, xb, yb, hull_b, rot, tx, ty, margin)
        crit = ssum * n / max(0.5 * (ova + ovb), n, 1.0)
        if crit > best:
            best = crit
            out[0] = n
            out[1] = ssum
            out[2] = ova
            out[3] = ovb
            if keep:
                _keep_detail(detail, rot, tx, ty, ia)
    if params[P_BY_SUPPORT] > 0.0 and best >= 0.0:
        out[2], out[3] = _overlaps(xa, ya, hull_a, xb, yb, hull_b, b_rot, b_tx, b_ty, margin)


@njit(cache=True)
def compare(
    xa, ya, ta, ca, sa, bits_a, mask_a, ok_a, ones_a, cnt_a, hull_a,
    xb, yb, tb, cb, sb, bits_b, mask_b, ok_b, ones_b, cnt_b, hull_b,
    cells, params, out,
):  # fmt: skip
    """Features of one comparison (see ``consolidate``); all zero when either side has no minutiae.
    Per side: coordinates, direction and its cosine and sine, cylinders (bits, mask, validity, set bits,
    valid cells), convex hull."""
    for q in range(4):
        out[q] = 0.0
    if xa.shape[0] == 0 or xb.shape[0] == 0:
        return
    sim = local_similarity(
        bits_a, mask_a, ok_a, ca, sa, ones_a, cnt_a, bits_b, mask_b, ok_b, cb, sb, ones_b, cnt_b, cells
    )
    consolidate(xa, ya, ta, ca, sa, hull_a, xb, yb, tb, cb, sb, hull_b, sim, params, out, np.empty(0))


@njit(cache=True)
def compare_detail(
    xa, ya, ta, ca, sa, bits_a, mask_a, ok_a, ones_a, cnt_a, hull_a,
    xb, yb, tb, cb, sb, bits_b, mask_b, ok_b, ones_b, cnt_b, hull_b,
    cells, params,
):  # fmt: skip
    """``compare`` that also returns the winning alignment and pairing (see ``consolidate``'s ``detail``)
    and the local similarity matrix: (features, detail, sim). Same arithmetic, for traces."""
    out = np.zeros(4)
    na, nb = xa.shape[0], xb.shape[0]
    detail = np.full(3 + na, -1.0)
    detail[0], detail[1], detail[2] = 0.0, 0.0, 0.0
    if na == 0 or nb == 0:
        return out, detail, np.zeros((na, nb), dtype=np.float32)
    sim = local_similarity(
        bits_a, mask_a, ok_a, ca, sa, ones_a, cnt_a, bits_b, mask_b, ok_b, cb, sb, ones_b, cnt_b, cells
    )
    consolidate(xa, ya, ta, ca, sa, hull_a, xb, yb, tb, cb, sb, hull_b, sim, params, out, detail)
    return out, detail, sim


@njit(cache=True)
def compare_many(
    xa, ya, ta, ca, sa, bits_a, mask_a, ok_a, ones_a, cnt_a, hull_a,
    x, y, t, c, s, bits, mask, ok, ones, cnt, off, hulls, hoff,
    cells, params,
):  # fmt: skip
    """Features of one probe against a packed gallery: item g owns rows off[g]:off[g+1] of the minutia
    arrays and rows hoff[g]:hoff[g+1] of ``hulls``."""
    g_n = off.shape[0] - 1
    feats = np.zeros((g_n, 4))
    for g in range(g_n):
        b, e = off[g], off[g + 1]
        hs, he = hoff[g], hoff[g + 1]
        compare(
            xa, ya, ta, ca, sa, bits_a, mask_a, ok_a, ones_a, cnt_a, hull_a,
            x[b:e], y[b:e], t[b:e], c[b:e], s[b:e], bits[b:e], mask[b:e], ok[b:e], ones[b:e], cnt[b:e],
            hulls[hs:he],
            cells, params, feats[g],
        )  # fmt: skip
    return feats


@njit(cache=True, inline="always")
def raw_from_features(f):
    """Raw similarity from the features of ``compare`` (see ``matcher.raw_similarity``)."""
    overlap = max(max(0.5 * (f[2] + f[3]), f[0]), 1.0)
    return f[1] * f[0] / overlap


@njit(cache=True)
def calibrate_one(raw, cal_raw, cal_score, tail_slope):
    """Raw similarity -> score: the calibration table, linear beyond its last knot, never below 0."""
    if raw > cal_raw[-1]:
        s = cal_score[-1] + (raw - cal_raw[-1]) * tail_slope
    else:
        s = np.interp(raw, cal_raw, cal_score)
    return max(s, 0.0)


@njit(cache=True)
def calibrate_many(raw, cal_raw, cal_score, tail_slope):
    out = np.empty(raw.shape[0])
    for i in range(raw.shape[0]):
        out[i] = calibrate_one(raw[i], cal_raw, cal_score, tail_slope)
    return out


@njit(cache=True)
def score_one(
    xa, ya, ta, ca, sa, bits_a, mask_a, ok_a, ones_a, cnt_a, hull_a,
    xb, yb, tb, cb, sb, bits_b, mask_b, ok_b, ones_b, cnt_b, hull_b,
    cells, params, cal_raw, cal_score, tail_slope,
):  # fmt: skip
    """Calibrated score of one comparison (``compare``, raw similarity, calibration) in one call."""
    out = np.zeros(4)
    compare(
        xa, ya, ta, ca, sa, bits_a, mask_a, ok_a, ones_a, cnt_a, hull_a,
        xb, yb, tb, cb, sb, bits_b, mask_b, ok_b, ones_b, cnt_b, hull_b,
        cells, params, out,
    )  # fmt: skip
    return calibrate_one(raw_from_features(out), cal_raw, cal_score, tail_slope)
