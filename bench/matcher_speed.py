"""Comparison speed of crms.biometrics.matcher on cached FVC templates (one thread).

.venv/bin/python bench/matcher_speed.py [--templates /work/cache/templates]

Per set: mean time of one comparison of two prepared templates over all pairs i<j, measured two ways:
``score_many`` against a packed gallery (the compiled loop alone) and ``score(a, b)`` one call at a time
(adds Python call overhead); plus ``prepare`` per template. CPU time of this process (time.process_time),
so other load on the machine inflates it less than wall time would.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crms.biometrics import matcher  # noqa: E402
from crms.biometrics.serialise import load_template  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--templates", default="/work/cache/templates")
    a = ap.parse_args()
    sets = sorted(p for p in Path(a.templates).glob("*/DB*_B") if len(list(p.glob("*.tpl"))) == 80)
    if not sets:
        sys.exit(f"no complete template sets under {a.templates}")
    warm = [load_template(f) for f in sorted(sets[0].glob("*.tpl"))[:3]]
    matcher.score_many(warm[0], warm[1:])  # compile / load the cached kernels
    matcher.score(warm[0], warm[1])
    rows = []
    for folder in sets:
        temps = [load_template(f) for f in sorted(folder.glob("*.tpl"))]
        t0 = time.process_time()
        prep = [matcher.prepare(t) for t in temps]
        t_prep = (time.process_time() - t0) / len(prep)
        packed = [matcher.pack(prep[i + 1 :]) for i in range(len(prep) - 1)]
        n = len(prep) * (len(prep) - 1) // 2
        t0 = time.process_time()
        for i in range(len(prep) - 1):
            matcher.score_many(prep[i], packed[i])
        t_many = (time.process_time() - t0) / n
        t0 = time.process_time()
        for i in range(len(prep) - 1):
            for j in range(i + 1, len(prep)):
                matcher.score(prep[i], prep[j])
        t_one = (time.process_time() - t0) / n
        mean_n = np.mean([p.count for p in prep])
        rows.append((t_many, t_one))
        print(
            f"{folder.parent.name}/{folder.name}: {mean_n:.0f} minutiae"
            f" | score_many {1e6 * t_many:.0f} µs/cmp"
            f" | score {1e6 * t_one:.0f} µs/call | prepare {1e3 * t_prep:.2f} ms"
        )
    r = np.array(rows)
    print(
        f"mean of {len(rows)} sets: score_many {1e6 * r[:, 0].mean():.0f} µs,"
        f" score {1e6 * r[:, 1].mean():.0f} µs"
    )


if __name__ == "__main__":
    main()
