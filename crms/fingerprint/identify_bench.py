"""``crms bench identify``: search speed and memory of the 1:N gallery on synthetic templates.

Builds a gallery of N synthetic fingers (``synthetic_templates.bulk``: 10 positions per person, N/10
persons), then times (wall clock, median of ``repeats``) one-finger searches with the position unknown
(every finger searched) and ten-finger searches with positions known, and reports per stage the
comparisons per second per core (comparisons / process CPU time of the stage, all threads), and what the
gallery's store pays to measure its impostors (``Gallery.impostor_scores``, ``impostors.PAIRS`` pairs).
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np

from crms.fingerprint import gallery as G
from crms.fingerprint import synthetic_templates as S
from crms.fingerprint.impostors import PAIRS, profile_of


def build(fingers: int, seed: int = 0) -> G.Gallery:
    rng = np.random.default_rng(seed)
    q, counts = S.bulk(fingers, rng, distinct=min(2000, max(10, fingers // 10)))
    g = G.Gallery(capacity=fingers, minutiae_capacity=q.shape[0])
    keys = np.arange(fingers, dtype=np.int64)
    g.bulk_load(keys, keys // 10 + 1, (keys % 10 + 1).astype(np.int8), q, counts)
    return g


def run(fingers: int, repeats: int = 5, seed: int = 0, survivors: int = G.DEFAULT_SURVIVORS) -> dict:
    t0, c0 = time.perf_counter(), time.process_time()
    g = build(fingers, seed)
    build_s, build_cpu = time.perf_counter() - t0, time.process_time() - c0
    rng = np.random.default_rng(seed + 1)
    persons = max(1, fingers // 10)

    def probe_of(row: int, position: int) -> G.ProbeFinger:
        return G.ProbeFinger(S.impression(g.finger_template(row), rng), position, f"row{row}")

    g.search([probe_of(0, 0)], survivors=survivors)  # compile
    one, ten, s1, s2, c1, c2, pen1, pen10, hits1, hits10 = [], [], 0, 0, 0.0, 0.0, [], [], 0, 0
    cpu1, cpu10 = [], []
    for _ in range(repeats):
        row = int(rng.integers(0, g.rows))
        t, c = time.perf_counter(), time.process_time()
        r = g.search([probe_of(row, 0)], survivors=survivors)
        one.append(time.perf_counter() - t)
        cpu1.append(time.process_time() - c)
        hits1 += r.candidates[0].person == int(g.person[row])
        pen1.append(r.penetration)
        s1, s2, c1, c2 = (
            s1 + r.stage1_compared,
            s2 + r.stage2_compared,
            c1 + r.stage1_cpu_s,
            c2 + r.stage2_cpu_s,
        )
        person = int(rng.integers(0, persons))
        rows = [person * 10 + f for f in range(min(10, g.rows - person * 10))]
        probes10 = [probe_of(i, i % 10 + 1) for i in rows]
        t, c = time.perf_counter(), time.process_time()
        r = g.search(probes10, survivors=survivors)
        ten.append(time.perf_counter() - t)
        cpu10.append(time.process_time() - c)
        hits10 += r.candidates[0].person == person + 1
        pen10.append(r.penetration)
        s1, s2, c1, c2 = (
            s1 + r.stage1_compared,
            s2 + r.stage2_compared,
            c1 + r.stage1_cpu_s,
            c2 + r.stage2_cpu_s,
        )
    t, c = time.perf_counter(), time.process_time()  # what a gallery store pays to measure its impostors
    measured = profile_of(g.impostor_scores(PAIRS))
    impostors_s, impostors_cpu = time.perf_counter() - t, time.process_time() - c
    return {
        "fingers": fingers,
        "persons": persons,
        "impostors_measured_s": round(impostors_s, 3),
        "impostors_measured_cpu_s": round(impostors_cpu, 3),
        "impostor_pairs": measured.pairs if measured is not None else 0,
        "search_1_finger_s": round(statistics.median(one), 4),
        "search_10_fingers_s": round(statistics.median(ten), 4),
        "search_1_finger_cpu_s": round(statistics.median(cpu1), 4),
        "search_10_fingers_cpu_s": round(statistics.median(cpu10), 4),
        "bytes_per_finger": round(g.bytes_per_finger(), 1),
        "penetration": round(float(np.mean(pen1)), 6),
        "penetration_10_fingers": round(float(np.mean(pen10)), 6),
        "rank1_1_finger": hits1 / repeats,
        "rank1_10_fingers": hits10 / repeats,
        "stages": [
            {"name": "descriptor scan", "comparisons_per_s_per_core": round(s1 / max(c1, 1e-9))},
            {
                "name": "full match (cylinders + MCC matcher)",
                "comparisons_per_s_per_core": round(s2 / max(c2, 1e-9)),
            },
        ],
        "build_s": round(build_s, 1),
        "build_cpu_s": round(build_cpu, 1),
        "repeats": repeats,
        "cores": os.cpu_count(),
        "load_1min": round(os.getloadavg()[0], 2),
    }
