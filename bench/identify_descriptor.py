"""How well the 1:N first stage's pair-histogram descriptor ranks a mate, for several bin layouts.

    nice -n 10 .venv/bin/python bench/identify_descriptor.py --fvc FVC_CACHE --socofing SOCOFING_CACHE \
        [--bins 6x8x8,6x16x16,8x24x24]

FVC_CACHE: templates of the eight FVC B sets (bench/fp_cache_templates.py:
CACHE/<year>/<set>/<finger>_<n>.tpl); closed sets of the 80 fingers, each impression in turn as the
gallery and the other seven as probes.
SOCOFING_CACHE: bench/identify_cache_socofing.py's cache (rule "size"); each Altered-Easy probe against the
Real prints of its finger position, SOCOFing's duplicate captures left out.

Per layout (distance bins x direction bins x direction-difference bins, the ranges of
``crms.fingerprint.prefilter``): the mate's rank as a fraction of the gallery searched (mean), and how many
mates fall below the best 25 %, 10 %, 5 % and 2 %. 6x8x8 is the gallery's stored descriptor, 8x24x24 the one
the search re-ranks with.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from identify_socofing import duplicates, parse  # noqa: E402

from crms.fingerprint import prefilter as P  # noqa: E402
from crms.fingerprint.serialise import load_template  # noqa: E402


def describe(minutiae: np.ndarray, bins: tuple[int, int, int]) -> np.ndarray:
    m = np.asarray(minutiae, dtype=np.float64)
    x, y, t = (np.ascontiguousarray(v) for v in (m[:, 0], -m[:, 1], m[:, 2]))
    h = np.sqrt(P._pair_histogram(x, y, t, *bins))
    norm = float(np.linalg.norm(h))
    return h / norm if norm else h


def summary(fractions: list[float]) -> dict:
    f = np.array(fractions)
    out = {"searches": int(f.shape[0]), "mean_rank_fraction": round(float(f.mean()), 4)}
    for cut in (0.25, 0.10, 0.05, 0.02):
        out[f"below_{int(cut * 100)}pct"] = int(np.sum(f > cut))
    return out


def fvc(cache: Path, bins: tuple[int, int, int]) -> dict:
    tpl = {}
    for f in cache.rglob("*.tpl"):
        finger, impression = f.stem.split("_")
        tpl[(f"{f.parent.parent.name}/{f.parent.name}/{finger}", int(impression))] = load_template(f)
    fingers = sorted({k[0] for k in tpl})
    fractions = []
    for g in range(1, 9):
        gallery = np.stack([describe(tpl[(f, g)].minutiae, bins) for f in fingers])
        for i, f in enumerate(fingers):
            for n in range(1, 9):
                if n != g and (f, n) in tpl:
                    sc = gallery @ describe(tpl[(f, n)].minutiae, bins)
                    fractions.append((int(np.sum(sc > sc[i])) + 1) / len(fingers))
    return summary(fractions)


def socofing(cache: Path, bins: tuple[int, int, int]) -> dict:
    real = {}
    for f in sorted((cache / "size" / "Real").glob("*.tpl")):
        _subject, position, key = parse(f.stem)
        real[key] = (position, load_template(f))
    keys = sorted(real)
    index = {k: i for i, k in enumerate(keys)}
    dup = duplicates(set(real))
    positions = np.array([real[k][0] for k in keys])
    gallery = np.stack([describe(real[k][1].minutiae, bins) for k in keys])
    fractions = []
    for f in sorted((cache / "size" / "Altered-Easy").glob("*.tpl")):
        _subject, position, key = parse(f.stem)
        t = load_template(f)
        if key not in real or t.count < 3:
            continue
        rows = np.flatnonzero(positions == position)
        skip = {index[d] for d in dup.get(key, ()) if d in index}
        sc = gallery[rows] @ describe(t.minutiae, bins)
        mate = sc[int(np.flatnonzero(rows == index[key])[0])]
        others = np.array([r not in skip for r in rows])
        fractions.append((int(np.sum((sc > mate) & others)) + 1) / rows.shape[0])
    return summary(fractions)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fvc", type=Path)
    ap.add_argument("--socofing", type=Path)
    ap.add_argument("--bins", default="6x8x8,6x16x16,8x24x24")
    a = ap.parse_args()
    for layout in a.bins.split(","):
        bins = tuple(int(v) for v in layout.split("x"))
        row = {"bins": layout}
        if a.fvc:
            row["fvc"] = fvc(a.fvc, bins)
        if a.socofing:
            row["socofing"] = socofing(a.socofing, bins)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
