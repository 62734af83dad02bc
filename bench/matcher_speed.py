"""Comparison speed of crms.fingerprint.matcher on cached FVC templates (one thread).

.venv/bin/python bench/matcher_speed.py [--templates DATA_DIR/cache/templates] [--repeat 3]

Per set: mean time of one comparison of two prepared templates over all pairs i<j (FVC protocol: 280
genuine, 2,880 impostor), measured two ways: ``score_many`` against a packed gallery (the compiled loop
alone) and ``score(a, b)`` one call at a time (adds Python call overhead); each over the genuine pairs,
the impostor pairs and all pairs; plus ``prepare`` per template. CPU time of this process
(time.process_time), so other load on the machine inflates it less than wall time would; the best of
``--repeat`` runs. Prints the load average.
"""

from __future__ import annotations

import argparse
import os
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


def _time_many(prep, pairs, repeat):
    """Mean CPU seconds per comparison with score_many: each probe against its packed partners."""
    by_probe: dict[int, list[int]] = {}
    for i, j in pairs:
        by_probe.setdefault(i, []).append(j)
    jobs = [(prep[i], matcher.pack([prep[j] for j in js])) for i, js in by_probe.items()]
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        for p, g in jobs:
            matcher.score_many(p, g)
        best = min(best, time.process_time() - t0)
    return best / len(pairs)


def _time_one(prep, pairs, repeat):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        for i, j in pairs:
            matcher.score(prep[i], prep[j])
        best = min(best, time.process_time() - t0)
    return best / len(pairs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--templates", default=str(cache_dir("templates")))
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    sets = sorted(p for p in Path(a.templates).glob("*/DB*_B") if len(list(p.glob("*.tpl"))) == 80)
    if not sets:
        sys.exit(f"no complete template sets under {a.templates}")
    warm = [load_template(f) for f in sorted(sets[0].glob("*.tpl"))[:3]]
    matcher.score_many(warm[0], warm[1:])  # compile / load the cached kernels
    matcher.score(warm[0], warm[1])
    rows = []
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for folder in sets:
        files = sorted(folder.glob("*.tpl"))
        temps = [load_template(f) for f in files]
        t0 = time.process_time()
        prep = [matcher.prepare(t) for t in temps]
        t_prep = (time.process_time() - t0) / len(prep)
        ii, jj, gen = ev.fvc_pairs([ev.finger_of(f.stem) for f in files])
        pairs = list(zip(ii, jj, strict=True))
        classes = {
            "genuine": [p for p, g in zip(pairs, gen, strict=True) if g],
            "impostor": [p for p, g in zip(pairs, gen, strict=True) if not g],
            "all": pairs,
        }
        many = {k: _time_many(prep, v, a.repeat) for k, v in classes.items()}
        one = {k: _time_one(prep, v, a.repeat) for k, v in classes.items()}
        rows.append([many[k] for k in classes] + [one[k] for k in classes])
        print(
            f"{folder.parent.name}/{folder.name}: {np.mean([p.count for p in prep]):.0f} minutiae"
            " | score_many µs/cmp gen/imp/all "
            + " / ".join(f"{1e6 * many[k]:.0f}" for k in classes)
            + " | score µs/call gen/imp/all "
            + " / ".join(f"{1e6 * one[k]:.0f}" for k in classes)
            + f" | prepare {1e3 * t_prep:.2f} ms",
            flush=True,
        )
    r = 1e6 * np.array(rows).mean(axis=0)
    print(
        f"mean of {len(rows)} sets: score_many gen/imp/all {r[0]:.0f} / {r[1]:.0f} / {r[2]:.0f} µs,"
        f" score {r[3]:.0f} / {r[4]:.0f} / {r[5]:.0f} µs"
    )
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
