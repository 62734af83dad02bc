"""End to end: ten finger images in, candidate list out, extraction included (the ten extracted in parallel
by a warm pool of 2 extraction processes), against a synthetic gallery of N fingers plus the person's own
enrolment.

    nice -n 10 .venv/bin/python bench/identify_e2e.py [--fingers 100000] [--repeats 3]

The person's prints are demo fingers (crms.demo.builder.finger_png): impression 0 enrolled, impression 1 as
the probe. Prints wall time of extraction and of the search, and CPU time of this process and the workers.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crms.demo.builder import finger_png  # noqa: E402
from crms.fingerprint import gallery as G  # noqa: E402
from crms.fingerprint.identify_bench import build  # noqa: E402
from crms.fingerprint.serialise import loads  # noqa: E402
from crms.fingerprint.workers import ExtractorPool  # noqa: E402


def cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fingers", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    g = build(a.fingers)
    person = 10**7
    enrolled = [finger_png(9, 0, pos, 0) for pos in range(1, 11)]
    probes = [finger_png(9, 0, pos, 1) for pos in range(1, 11)]
    with ExtractorPool(2) as pool:
        pool.warm()
        res = [f.result() for f in [pool.submit(b, 500) for b in enrolled]]
        g.insert_many((10**8 + i, person, i + 1, loads(r.template)) for i, r in enumerate(res))
        ext, srch, tot, cpus, ok = [], [], [], [], 0
        for _ in range(a.repeats):
            t0, c0 = time.perf_counter(), cpu()
            out = [f.result() for f in [pool.submit(b, 500) for b in probes]]
            t1 = time.perf_counter()
            r = g.search([G.ProbeFinger(loads(x.template), i + 1, f"f{i + 1}") for i, x in enumerate(out)])
            t2 = time.perf_counter()
            ext.append(t1 - t0)
            srch.append(t2 - t1)
            tot.append(t2 - t0)
            cpus.append(cpu() - c0)
            ok += r.candidates[0].person == person
    print(
        json.dumps(
            {
                "gallery_fingers": len(g),
                "extract_10_s": round(statistics.median(ext), 3),
                "search_10_s": round(statistics.median(srch), 3),
                "end_to_end_s": round(statistics.median(tot), 3),
                "cpu_s": round(statistics.median(cpus), 2),
                "rank1": ok / a.repeats,
                "load_1min": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
