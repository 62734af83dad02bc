"""Per-stage cost of one comparison in crms.fingerprint.matcher on cached FVC templates (one thread).

.venv/bin/python bench/matcher_profile.py [--templates DATA_DIR/cache/templates] [--repeat 1]

For every complete set: all pairs i<j (280 genuine, 2,880 impostor), each run in one compiled loop
(no Python per pair) three ways: the local-similarity matrix alone; the comparison without the refined
alignments (anchor passes only); the full comparison. CPU time of this process (time.process_time), mean
per comparison, split into genuine and impostor pairs and over all pairs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from _cache import cache_dir  # noqa: E402  (bench/ is on sys.path when run as a script)

from crms.fingerprint import _kernels as K  # noqa: E402
from crms.fingerprint import evaluation as ev  # noqa: E402
from crms.fingerprint import matcher  # noqa: E402
from crms.fingerprint.serialise import load_template  # noqa: E402


@njit(cache=False)
def _side(g, i):
    s, e = g.off[i], g.off[i + 1]
    return (
        g.x[s:e], g.y[s:e], g.theta[s:e], g.cos[s:e], g.sin[s:e], g.bits[s:e], g.mask[s:e], g.valid[s:e],
        g.ones[s:e], g.cnt[s:e], g.hulls[g.hoff[i] : g.hoff[i + 1]],
    )  # fmt: skip


@njit(cache=False)
def _run(g, ii, jj, stage, params):
    """stage 0: local similarity only; 1: full compare with the given params. Returns a checksum."""
    out = np.zeros(4)
    acc = 0.0
    for q in range(ii.shape[0]):
        a = _side(g, ii[q])
        b = _side(g, jj[q])
        if stage == 0:
            sim = K.local_similarity(
                a[5], a[6], a[7], a[3], a[4], a[8], a[9], b[5], b[6], b[7], b[3], b[4], b[8], b[9], g.cells
            )
            acc += sim.sum()
        else:
            K.compare(*a, *b, g.cells, params, out)
            acc += out[0]
    return acc


def packed_set(prep):
    p = matcher.pack(prep)
    return (
        p.x, p.y, p.theta, p.cos, p.sin, p.bits, p.mask, p.valid, p.ones, p.cnt,
        p.offsets, p.hulls, p.hull_offsets, prep[0].cells,
    )  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--templates", default=str(cache_dir("templates")))
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()
    sets = sorted(p for p in Path(a.templates).glob("*/DB*_B") if len(list(p.glob("*.tpl"))) == 80)
    if not sets:
        sys.exit(f"no complete template sets under {a.templates}")
    from collections import namedtuple

    G = namedtuple("G", "x y theta cos sin bits mask valid ones cnt off hulls hoff cells")
    no_refine = matcher.PARAMS.copy()
    no_refine[6] = 0.0
    totals = []
    for folder in sets:
        files = sorted(folder.glob("*.tpl"))
        prep = [matcher.prepare(load_template(f)) for f in files]
        g = G(*packed_set(prep))
        ii, jj, gen = ev.fvc_pairs([ev.finger_of(f.stem) for f in files])
        ii, jj = np.asarray(ii, np.int64), np.asarray(jj, np.int64)
        _run(g, ii[:2], jj[:2], 0, matcher.PARAMS)  # compile
        _run(g, ii[:2], jj[:2], 1, matcher.PARAMS)
        row = []
        for cls in (gen, ~gen, np.ones_like(gen)):
            ci, cj = ii[cls], jj[cls]
            t = []
            for stage, params in ((0, matcher.PARAMS), (1, no_refine), (1, matcher.PARAMS)):
                t0 = time.process_time()
                for _ in range(a.repeat):
                    _run(g, ci, cj, stage, params)
                t.append(1e6 * (time.process_time() - t0) / (a.repeat * len(ci)))
            row.append(t)
        totals.append(row)
        name = f"{folder.parent.name}/{folder.name}"
        print(
            f"{name} ({np.mean([p.count for p in prep]):.0f} min.): "
            + " | ".join(
                f"{lab} lss {r[0]:.1f} anchors {r[1] - r[0]:.1f} refine {r[2] - r[1]:.1f} total {r[2]:.1f}"
                for lab, r in zip(("gen", "imp", "all"), row, strict=True)
            ),
            flush=True,
        )
    m = np.mean(np.array(totals), axis=0)
    for lab, r in zip(("genuine", "impostor", "all pairs"), m, strict=True):
        print(
            f"mean of {len(sets)} sets, {lab}: lss {r[0]:.1f} µs, anchor passes {r[1] - r[0]:.1f} µs,"
            f" refinement {r[2] - r[1]:.1f} µs, total {r[2]:.1f} µs"
        )
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
