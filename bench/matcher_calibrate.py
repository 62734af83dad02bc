"""Fit the matcher's calibration (raw similarity -> 10*log10(1/FMR)) on a pooled impostor distribution.

.venv/bin/python bench/matcher_calibrate.py [--templates DATA_DIR/cache/templates]

Impostors: every pair of templates of different fingers within each complete cached FVC B set, all sets
pooled, so no single set decides the table (same-sensor impostors are the hard case; with --cross, pairs
across sets are added too: they score lower, so they would make the table over-confident). Knots are the
empirical impostor quantiles at FMR = 10^(-s/10) for s = 0, 2.5, 5, ... while at least 50
impostors lie above; beyond the last knot the tail is exponential (the flatter of the maximum-likelihood
and least-squares fits to the excesses over it), which makes the score linear in the raw similarity
there. Prints the constants to paste into crms/fingerprint/matcher.py and checks the fit against the
deepest empirical points.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from _cache import cache_dir  # noqa: E402  (bench/ is on sys.path when run as a script)

from crms.fingerprint import evaluation as ev  # noqa: E402
from crms.fingerprint import matcher  # noqa: E402
from crms.fingerprint.serialise import load_template  # noqa: E402

# Fingers that appear in two sets: every impression of FVC2002 DB3_B finger 108 matches every impression
# of FVC2004 DB3_B finger 102 (raw 5-12, far above all within-set impostors), on two different sensors:
# the same volunteer's finger, so those cross-set pairs are genuine and left out of the impostors.
SAME_FINGER = [{"fvc2002/DB3_B/108", "fvc2004/DB3_B/102"}]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--templates", default=str(cache_dir("templates")))
    ap.add_argument("--step", type=float, default=2.5)
    ap.add_argument("--min-above", type=int, default=50)
    ap.add_argument("--cross", action="store_true", help="add impostor pairs across sets")
    a = ap.parse_args()
    sets = sorted(p for p in Path(a.templates).glob("*/DB*_B") if len(list(p.glob("*.tpl"))) == 80)
    if not sets:
        sys.exit(f"no complete template sets under {a.templates}")
    prep, finger = [], []
    for folder in sets:
        for f in sorted(folder.glob("*.tpl")):
            prep.append(matcher.prepare(load_template(f)))
            finger.append(f"{folder.parent.name}/{folder.name}/{ev.finger_of(f.stem)}")
    finger = np.array(finger)
    t0 = time.time()
    raws = []
    for i in range(len(prep) - 1):
        others = [
            j
            for j in range(i + 1, len(prep))
            if finger[j] != finger[i]
            and {finger[i], finger[j]} not in SAME_FINGER
            and (a.cross or finger[j].rsplit("/", 1)[0] == finger[i].rsplit("/", 1)[0])
        ]
        if not others:
            continue
        f = np.stack([matcher.features(prep[i], prep[j]) for j in others])
        raws.append(matcher.raw_similarity(f))
    imp = np.sort(np.concatenate(raws))
    n = imp.size
    print(f"{len(sets)} sets, {len(prep)} templates, {n} impostor pairs in {time.time() - t0:.0f} s")
    knots_r, knots_s = [0.0], [0.0]
    s = a.step
    while 10 ** (-s / 10) * n >= a.min_above:
        r = float(np.quantile(imp, 1 - 10 ** (-s / 10), method="higher"))
        if r > knots_r[-1] + 1e-9:
            knots_r.append(r)
            knots_s.append(s)
        s += a.step
    u, su = knots_r[-1], knots_s[-1]
    exc = imp[imp > u] - u
    beta = float(exc.mean())
    slope_mle = 10 / np.log(10) / beta
    # the highest few impostors lie above an exponential tail; a least-squares line through the empirical
    # log-survival of all excesses weighs them in, and the flatter (more cautious) of the two slopes is kept
    ex = np.sort(exc)
    surv_db = su + 10 * np.log10(ex.size / (ex.size - np.arange(ex.size)))
    slope_ls = float(np.sum(ex * (surv_db - su)) / np.sum(ex * ex))
    slope = min(slope_mle, slope_ls)
    print(f"tail slope: exponential MLE {slope_mle:.3f}, least squares {slope_ls:.3f}; kept {slope:.3f}")
    print("_CAL_RAW = np.array([" + ", ".join(f"{r:.4f}" for r in knots_r) + "])")
    print("_CAL_SCORE = np.array([" + ", ".join(f"{v:.1f}" for v in knots_s) + "])")
    print(f"_CAL_TAIL_SLOPE = {slope:.4f}  # score per raw unit beyond the last knot ({exc.size} excesses)")
    for k in (20, 10, 5, 2, 1):
        if k <= n:
            r = imp[n - k]
            pred = su + slope * (r - u)
            print(
                f"  empirical: {k} of {n} impostors >= {r:.4f} -> {10 * np.log10(n / k):.1f}; fit {pred:.1f}"
            )


if __name__ == "__main__":
    main()
