"""FVC-protocol evaluation of crms.fingerprint.matcher on cached templates, plus comparison timing.

.venv/bin/python bench/matcher_eval.py [--templates DATA_DIR/cache/templates] [--features OUT.npz]

Reads <templates>/<year>/<DBn_B>/<finger>_<impression>.tpl (written by bench/fp_cache_templates.py),
scores all pairs i<j of each set (280 genuine, 2,880 impostor) and prints EER, FMR100, FMR1000, ZeroFMR
per set and per year, FNMR@30 (the genuine pairs scoring under 30, the score the matcher's calibration puts
at FMR 0.1 %: one threshold for every set and every extractor, where FMR1000 takes each set's third
highest impostor score as its threshold), and the mean time of one comparison of two prepared templates
(one thread).
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


def load_set(folder: Path):
    files = sorted(folder.glob("*.tpl"))
    return [f.stem for f in files], [load_template(f) for f in files]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--templates", default=str(cache_dir("templates")))
    ap.add_argument("--features", default="", help="save raw features of all pairs to this .npz")
    a = ap.parse_args()
    base = Path(a.templates)
    sets = sorted(p for p in base.glob("*/DB*_B") if len(list(p.glob("*.tpl"))) == 80)
    if not sets:
        sys.exit(f"no complete template sets under {base}")
    saved = {}
    rows = []
    all_imp = []
    t_cmp = []
    for folder in sets:
        stems, temps = load_set(folder)
        t0 = time.perf_counter()
        prep = [matcher.prepare(t) for t in temps]
        t_prep = (time.perf_counter() - t0) / len(prep)
        fingers = [ev.finger_of(s) for s in stems]
        ii, jj, genuine = ev.fvc_pairs(fingers)
        t0 = time.perf_counter()
        feats = np.stack([matcher.features(prep[i], prep[j]) for i, j in zip(ii, jj, strict=True)])
        t_cmp.append((time.perf_counter() - t0) / len(ii))
        scores = matcher.calibrate(matcher.raw_similarity(feats))
        m = ev.compute_metrics(scores[genuine], scores[~genuine])
        at30 = float(np.mean(scores[genuine] < 30))  # 30: FMR 0.1 % by the calibration
        all_imp.append(scores[~genuine])
        name = f"{folder.parent.name}/{folder.name}"
        saved[name.replace("/", "_") + "_f"] = feats
        saved[name.replace("/", "_") + "_g"] = genuine
        rows.append((name, m, at30))
        print(
            f"{name}: EER {100 * m.eer:.2f}  FMR100 {100 * m.fmr100:.2f}  FMR1000 {100 * m.fmr1000:.2f}  "
            f"ZeroFMR {100 * m.zerofmr:.2f}  FNMR@30 {100 * at30:.2f}"
            f"  | prep {1000 * t_prep:.2f} ms, cmp {1e6 * t_cmp[-1]:.0f} µs"
            f"  | minutiae mean {np.mean([p.count for p in prep]):.0f}",
            flush=True,
        )
    for year in ("fvc2002", "fvc2004"):
        ms = [m for n, m, _ in rows if n.startswith(year)]
        fnmr = [f for n, _, f in rows if n.startswith(year)]
        if ms:
            print(
                f"mean {year} ({len(ms)} sets): EER {100 * np.mean([m.eer for m in ms]):.2f}  "
                f"FMR100 {100 * np.mean([m.fmr100 for m in ms]):.2f}  "
                f"FMR1000 {100 * np.mean([m.fmr1000 for m in ms]):.2f}  "
                f"ZeroFMR {100 * np.mean([m.zerofmr for m in ms]):.2f}  FNMR@30 {100 * np.mean(fnmr):.2f}"
            )
    imp = np.concatenate(all_imp)
    for s in (10, 20, 30, 40):
        print(
            f"within-set impostors scoring >= {s}: {100 * np.mean(imp >= s):.3f} %"
            f" (calibration: {10 ** (2 - s / 10):.3f} %)"
        )
    if a.features:
        np.savez(a.features, **saved)


if __name__ == "__main__":
    main()
