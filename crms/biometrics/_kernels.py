"""Numba kernels of the 1:1 matcher: MCC bit cylinders, local similarities, geometric consolidation.

All hot loops live here (``@njit(cache=True)``); ``crms.biometrics.matcher`` holds the API around them.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

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
NBITS = NS * NS * ND
NWORDS = (NBITS + 63) // 64


@intrinsic
def _popc(typingctx, x):
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


@njit(cache=True)
def _angle_diff(a, b):
    """a - b wrapped into [-pi, pi)."""
    d = a - b
    while d < -math.pi:
        d += 2.0 * math.pi
    while d >= math.pi:
        d -= 2.0 * math.pi
    return d


@njit(cache=True)
def _inside_dilated_hull(px, py, hull, omega):
    """True when (px, py) lies inside the convex polygon ``hull`` (counter-clockwise or clockwise)
    or within ``omega`` pixels of it."""
    h = hull.shape[0]
    if h == 0:
        return False
    if h == 1:
        return (px - hull[0, 0]) ** 2 + (py - hull[0, 1]) ** 2 <= omega * omega
    inside = h >= 3
    sign = 0.0
    best = 1e30
    for e in range(h):
        x0, y0 = hull[e, 0], hull[e, 1]
        x1, y1 = hull[(e + 1) % h, 0], hull[(e + 1) % h, 1]
        ex, ey = x1 - x0, y1 - y0
        cr = ex * (py - y0) - ey * (px - x0)
        if inside:
            if sign == 0.0:
                sign = cr
            elif cr * sign < 0.0:
                inside = False
        ll = ex * ex + ey * ey
        t = 0.0
        if ll > 0.0:
            t = ((px - x0) * ex + (py - y0) * ey) / ll
            t = min(1.0, max(0.0, t))
        dx, dy = x0 + t * ex - px, y0 + t * ey - py
        best = min(best, dx * dx + dy * dy)
    return inside or best <= omega * omega


@njit(cache=True)
def cylinders(x, y, theta, hull):
    """Bit cylinders, cell validity masks and cylinder validity for N minutiae.

    Bit index of cell (i, j, k) is (i * NS + j) * ND + k, packed little-endian into NWORDS uint64 words.
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
    for m in range(n):
        c, s = math.cos(theta[m]), math.sin(theta[m])
        nn = 0
        for t in range(n):
            if t != m and (x[t] - x[m]) ** 2 + (y[t] - y[m]) ** 2 <= reach * reach:
                nb[nn] = t
                nn += 1
        valid = 0
        for i in range(NS):
            for j in range(NS):
                ci = (i - (NS - 1) / 2.0) * ds
                cj = (j - (NS - 1) / 2.0) * ds
                if ci * ci + cj * cj > R * R:
                    continue
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
                    dth = _angle_diff(theta[m], theta[t])
                    for k in range(ND):
                        phi = -math.pi + (k + 0.5) * dd
                        a = _angle_diff(phi, dth)
                        gd = 0.5 * (math.erf((a + dd / 2) / sq) - math.erf((a - dd / 2) / sq))
                        contrib[k] += gs * gd
                for k in range(ND):
                    b = (i * NS + j) * ND + k
                    w, o = b >> 6, b & 63
                    mask[m, w] |= np.uint64(1) << np.uint64(o)
                    if contrib[k] > MU_PSI:
                        bits[m, w] |= np.uint64(1) << np.uint64(o)
        ok[m] = valid >= MIN_VC * incircle and nn >= MIN_M
    return bits, mask, ok, incircle * ND


@njit(cache=True)
def local_similarity(bits_a, mask_a, ok_a, th_a, bits_b, mask_b, ok_b, th_b, cells):
    """MCC bit similarity of every minutia pair (0 where not comparable). Symmetric by construction."""
    na, nb = bits_a.shape[0], bits_b.shape[0]
    w = bits_a.shape[1]
    out = np.zeros((na, nb), dtype=np.float32)
    min_common = MIN_ME * cells
    # per cylinder: set bits, valid cells, and whether every cell of the disc is valid ("full"): a full
    # side needs no masking, so most pairs need one or two popcounts per word instead of four
    ones_a, cnt_a, full_a = _row_counts(bits_a, mask_a, cells)
    ones_b, cnt_b, full_b = _row_counts(bits_b, mask_b, cells)
    ca_, sa_ = np.cos(th_a), np.sin(th_a)
    cb_, sb_ = np.cos(th_b), np.sin(th_b)
    for a in range(na):
        if not ok_a[a]:
            continue
        for b in range(nb):
            if not ok_b[b]:
                continue
            if ca_[a] * cb_[b] + sa_[a] * sb_[b] < COS_DELTA_THETA:
                continue
            px = 0
            if full_a[a] and full_b[b]:
                common, pa, pb = cells, ones_a[a], ones_b[b]
                for k in range(w):
                    px += _popc(bits_a[a, k] ^ bits_b[b, k])
            elif full_a[a]:
                common, pa, pb = cnt_b[b], 0, ones_b[b]
                for k in range(w):
                    ca = bits_a[a, k] & mask_b[b, k]
                    pa += _popc(ca)
                    px += _popc(ca ^ bits_b[b, k])
            elif full_b[b]:
                common, pa, pb = cnt_a[a], ones_a[a], 0
                for k in range(w):
                    cb = bits_b[b, k] & mask_a[a, k]
                    pb += _popc(cb)
                    px += _popc(bits_a[a, k] ^ cb)
            else:
                common, pa, pb = 0, 0, 0
                for k in range(w):
                    mab = mask_a[a, k] & mask_b[b, k]
                    ca = bits_a[a, k] & mab
                    cb = bits_b[b, k] & mab
                    common += _popc(mab)
                    pa += _popc(ca)
                    pb += _popc(cb)
                    px += _popc(ca ^ cb)
            if common < min_common or pa + pb == 0:
                continue
            out[a, b] = 1.0 - math.sqrt(px) / (math.sqrt(pa) + math.sqrt(pb))
    return out


@njit(cache=True)
def _row_counts(bits, mask, cells):
    n, w = bits.shape
    ones = np.zeros(n, dtype=np.int64)
    cnt = np.zeros(n, dtype=np.int64)
    for m in range(n):
        for k in range(w):
            ones[m] += _popc(bits[m, k])
            cnt[m] += _popc(mask[m, k])
    return ones, cnt, cnt == cells


# ---- geometric consolidation ----
# params: position tolerance (px), its growth per px of distance to the alignment centre (skin distortion),
# cos of the direction tolerance, hull margin (px), least local similarity of a pair, anchors,
# anchors refined, 1 = choose the refined alignment by support alone (overlap counted for the winner only)
DEFAULT_PARAMS = np.array([6.0, 0.05, math.cos(math.pi / 6), 8.0, 0.0, 8.0, 3.0, 1.0])


@njit(cache=True)
def _pair_up(
    xa,
    ya,
    ca,
    sa,
    xb,
    yb,
    cb,
    sb,
    sim,
    rot,
    tx,
    ty,
    cax,
    cay,
    cbx,
    cby,
    params,
    ia,
    ib,
    cost_a,
    cost_b,
    rb,
    xorder,
    xsorted,
):
    """Mutual-nearest pairing of A (moved by rotation ``rot`` and translation) with B.

    Tolerance grows with the distance to the alignment centres (cax, cay) in A and (cbx, cby) in B.
    Fills ia[k] = index in B (or -1); returns the number of pairs.
    """
    na, nb = xa.shape[0], xb.shape[0]
    tol0, slope, dcos, min_sim = params[0], params[1], params[2], params[4]
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
        tmax = tol0 + slope * 0.5 * (ra + rbmax)  # no B minutia outside u +- tmax can pair with k
        lo = np.searchsorted(xsorted, u - tmax)
        hi = np.searchsorted(xsorted, u + tmax, side="right")
        for q in range(lo, hi):
            j2 = xorder[q]
            d2 = (u - xb[j2]) ** 2 + (v - yb[j2]) ** 2
            tol = tol0 + slope * 0.5 * (ra + rb[j2])
            if d2 > tol * tol:
                continue
            if cu * cb[j2] + su * sb[j2] < dcos:
                continue
            if sim[k, j2] < min_sim:
                continue
            cost = d2 / (tol * tol)
            if cost < cost_a[k]:
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
def _count_inside(xa, ya, rot, tx, ty, hull, margin):
    c, s = math.cos(rot), math.sin(rot)
    n = 0
    for k in range(xa.shape[0]):
        u = c * xa[k] - s * ya[k] + tx
        v = s * xa[k] + c * ya[k] + ty
        if _inside_dilated_hull(u, v, hull, margin):
            n += 1
    return n


@njit(cache=True)
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


@njit(cache=True)
def consolidate(xa, ya, ta, hull_a, xb, yb, tb, hull_b, sim, params, out):
    """Geometric verification of the best local pairs.

    Each of the most similar minutia pairs in turn anchors a rigid alignment of A onto B; minutiae are
    paired up (mutual nearest). The anchors with the most local similarity in their pairs are refined:
    the rigid transform is refitted to the pairs (least squares) and the pairing repeated, twice.
    The refined alignment with the best support (similarity sum x pairs / overlap) wins; ``out``
    receives its pairs, sum of local similarity of the pairs, minutiae of A inside B's hull and of B
    inside A's hull.
    """
    na, nb = xa.shape[0], xb.shape[0]
    for q in range(4):
        out[q] = 0.0
    if na == 0 or nb == 0:
        return
    n_anchors = int(params[5])
    n_refine = int(params[6])
    margin = params[3]
    top_v = np.full(n_anchors, -1.0)
    top_a = np.full(n_anchors, -1, dtype=np.int64)
    top_b = np.full(n_anchors, -1, dtype=np.int64)
    for a in range(na):
        for b in range(nb):
            v = sim[a, b]
            if v <= 0.0 or v <= top_v[n_anchors - 1]:
                continue
            p = n_anchors - 1
            while p > 0 and top_v[p - 1] < v:
                top_v[p] = top_v[p - 1]
                top_a[p] = top_a[p - 1]
                top_b[p] = top_b[p - 1]
                p -= 1
            top_v[p] = v
            top_a[p] = a
            top_b[p] = b
    ca, sa = np.cos(ta), np.sin(ta)
    cb, sb = np.cos(tb), np.sin(tb)
    ia = np.empty(na, dtype=np.int64)
    ib = np.empty(nb, dtype=np.int64)
    cost_a = np.empty(na)
    cost_b = np.empty(nb)
    rb = np.empty(nb)
    xorder = np.argsort(xb)
    xsorted = xb[xorder]
    first = np.full(n_anchors, -1.0)
    for q in range(n_anchors):
        i, j = top_a[q], top_b[q]
        if i < 0:
            break
        rot = tb[j] - ta[i]
        c, s = math.cos(rot), math.sin(rot)
        tx = xb[j] - (c * xa[i] - s * ya[i])
        ty = yb[j] - (s * xa[i] + c * ya[i])
        _pair_up(
            xa,
            ya,
            ca,
            sa,
            xb,
            yb,
            cb,
            sb,
            sim,
            rot,
            tx,
            ty,
            xa[i],
            ya[i],
            xb[j],
            yb[j],
            params,
            ia,
            ib,
            cost_a,
            cost_b,
            rb,
            xorder,
            xsorted,
        )
        ssum = 0.0
        for k in range(na):
            if ia[k] >= 0:
                ssum += sim[k, ia[k]]
        first[q] = ssum
    order = np.argsort(-first)
    best = -1.0
    b_rot, b_tx, b_ty = 0.0, 0.0, 0.0
    for r in range(min(n_refine, n_anchors)):
        q = order[r]
        if first[q] < 0.0:
            break
        i, j = top_a[q], top_b[q]
        rot = tb[j] - ta[i]
        c, s = math.cos(rot), math.sin(rot)
        tx = xb[j] - (c * xa[i] - s * ya[i])
        ty = yb[j] - (s * xa[i] + c * ya[i])
        cax, cay, cbx, cby = xa[i], ya[i], xb[j], yb[j]
        n = 0
        for it in range(3):  # pair up, then refit on the pairs and pair up again, twice
            if it > 0:
                if n < 3:
                    break
                rot, tx, ty, cax, cay, cbx, cby = _refit(xa, ya, xb, yb, ia, n)
            n = _pair_up(
                xa,
                ya,
                ca,
                sa,
                xb,
                yb,
                cb,
                sb,
                sim,
                rot,
                tx,
                ty,
                cax,
                cay,
                cbx,
                cby,
                params,
                ia,
                ib,
                cost_a,
                cost_b,
                rb,
                xorder,
                xsorted,
            )
        ssum = 0.0
        for k in range(na):
            if ia[k] >= 0:
                ssum += sim[k, ia[k]]
        if params[7] > 0.0:  # select by support alone; overlap of the winner only
            crit = ssum * n
            if crit > best:
                best = crit
                out[0] = n
                out[1] = ssum
                b_rot, b_tx, b_ty = rot, tx, ty
            continue
        ova = _count_inside(xa, ya, rot, tx, ty, hull_b, margin)
        ci, si = math.cos(-rot), math.sin(-rot)
        ovb = _count_inside(xb, yb, -rot, -(ci * tx - si * ty), -(si * tx + ci * ty), hull_a, margin)
        crit = ssum * n / max(0.5 * (ova + ovb), n, 1.0)
        if crit > best:
            best = crit
            out[0] = n
            out[1] = ssum
            out[2] = ova
            out[3] = ovb
    if params[7] > 0.0 and best >= 0.0:
        out[2] = _count_inside(xa, ya, b_rot, b_tx, b_ty, hull_b, margin)
        ci, si = math.cos(-b_rot), math.sin(-b_rot)
        out[3] = _count_inside(
            xb, yb, -b_rot, -(ci * b_tx - si * b_ty), -(si * b_tx + ci * b_ty), hull_a, margin
        )


@njit(cache=True)
def compare(
    xa, ya, ta, bits_a, mask_a, ok_a, hull_a, xb, yb, tb, bits_b, mask_b, ok_b, hull_b, cells, params, out
):
    """Features of one comparison (see ``consolidate``); all zero when either side has no minutiae."""
    for q in range(4):
        out[q] = 0.0
    if xa.shape[0] == 0 or xb.shape[0] == 0:
        return
    sim = local_similarity(bits_a, mask_a, ok_a, ta, bits_b, mask_b, ok_b, tb, cells)
    consolidate(xa, ya, ta, hull_a, xb, yb, tb, hull_b, sim, params, out)


@njit(cache=True)
def compare_many(
    xa, ya, ta, bits_a, mask_a, ok_a, hull_a, x, y, t, bits, mask, ok, off, hulls, hoff, cells, params
):
    """Features of one probe against a packed gallery: item g owns rows off[g]:off[g+1] of the minutia
    arrays and rows hoff[g]:hoff[g+1] of ``hulls``."""
    g_n = off.shape[0] - 1
    feats = np.zeros((g_n, 4))
    for g in range(g_n):
        s, e = off[g], off[g + 1]
        hs, he = hoff[g], hoff[g + 1]
        compare(
            xa, ya, ta, bits_a, mask_a, ok_a, hull_a,
            x[s:e], y[s:e], t[s:e], bits[s:e], mask[s:e], ok[s:e], hulls[hs:he],
            cells, params, feats[g],
        )  # fmt: skip
    return feats
