"""Held-out check of the matcher's calibration and accuracy on SOCOFing, data the calibration never saw
(it was fitted on FVC B impostors): does a score threshold still mean the false-match rate it promises?

Extracts the Real prints of the first N subjects (and their Altered-Easy mates) at SOCOFing's true
resolution (about 170 ppi, see ../shared/data/fingerprints/SOCOFING.md; the files say 500), then scores
- every impostor pair among the Real prints (different subject or finger; DUPLICATES.tsv pairs left out):
  the share at or above 10 / 20 / 30 / 40 against the promised 10 / 1 / 0.1 / 0.01 %;
- every genuine pair (Real print against its Altered-Easy mate): FNMR at those thresholds.

.venv/bin/python bench/matcher_heldout.py [--subjects 150] [--dpi 170] [--cache DATA_DIR/cache/socofing]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from _cache import cache_dir  # noqa: E402  (bench/ is on sys.path when run as a script)

from crms.fingerprint import matcher  # noqa: E402
from crms.fingerprint.serialise import loads  # noqa: E402
from crms.fingerprint.workers import ExtractorPool  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "fingerprints" / "socofing"
THRESHOLDS = (10.0, 20.0, 30.0, 40.0)


def finger_key(name: str) -> str:
    """'12__M_Left_index_finger[_CR].png' -> '12__M_Left_index_finger'."""
    stem = Path(name).stem
    for suffix in ("_CR", "_Obl", "_Zcut"):
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def templates(files: list[Path], dpi: int, cache: Path, processes: int) -> dict[str, bytes]:
    cache.mkdir(parents=True, exist_ok=True)
    out: dict[str, bytes] = {}
    todo = []
    for f in files:
        c = cache / f"{f.parent.name}__{f.stem}__{dpi}.tpl"
        if c.exists():
            out[str(f)] = c.read_bytes()
        else:
            todo.append(f)
    if todo:
        t0 = time.time()
        with ExtractorPool(processes) as pool:
            for f, r in zip(todo, pool.map(todo, dpi), strict=True):
                if r.error:
                    print(f"{f.name}: {r.error}", file=sys.stderr)
                    continue
                (cache / f"{f.parent.name}__{f.stem}__{dpi}.tpl").write_bytes(r.template)
                out[str(f)] = r.template
        print(f"extracted {len(todo)} in {time.time() - t0:.0f} s", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=150)
    ap.add_argument("--dpi", type=int, default=170)
    ap.add_argument("--cache", type=Path, default=cache_dir("socofing"))
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if not DATA.exists():
        raise SystemExit(f"SOCOFing not found at {DATA} (../shared/data is absent)")

    def subject(p: Path) -> int:
        return int(p.name.split("__")[0])

    real = sorted(p for p in (DATA / "Real").glob("*.png") if subject(p) <= a.subjects)
    altered = sorted(p for p in (DATA / "Altered-Easy").glob("*.png") if subject(p) <= a.subjects)
    tpl = templates(real + altered, a.dpi, a.cache, a.processes)
    real = [p for p in real if str(p) in tpl]
    altered = [p for p in altered if str(p) in tpl]
    dup = set()
    with open(DATA / "DUPLICATES.tsv", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            dup.add((finger_key(row["file_a"]), finger_key(row["file_b"])))
            dup.add((finger_key(row["file_b"]), finger_key(row["file_a"])))

    prepared = {k: matcher.prepare(loads(v)) for k, v in tpl.items()}
    keys = [finger_key(p.name) for p in real]
    gallery = matcher.pack([prepared[str(p)] for p in real])
    key_arr = np.array(keys)
    impostor: list[np.ndarray] = []
    t0 = time.process_time()
    n_cmp = 0
    for i, p in enumerate(real[:-1]):
        s = matcher.score_many(prepared[str(p)], gallery)[i + 1 :]  # each unordered pair once
        n_cmp += len(real)
        later = key_arr[i + 1 :]
        keep = np.array([(keys[i], k) not in dup for k in later], dtype=bool) & (later != keys[i])
        impostor.append(s[keep])
    cpu = time.process_time() - t0
    imp = np.concatenate(impostor)
    by_key = {k: prepared[str(p)] for k, p in zip(keys, real, strict=True)}
    genuine = np.array(
        [
            matcher.score(by_key[finger_key(p.name)], prepared[str(p)])
            for p in altered
            if finger_key(p.name) in by_key
        ]
    )
    result = {
        "subjects": a.subjects,
        "dpi": a.dpi,
        "real": len(real),
        "impostor": int(imp.size),
        "genuine": int(genuine.size),
        "impostor_at_or_above_pct": {str(t): round(100 * float((imp >= t).mean()), 4) for t in THRESHOLDS},
        "promised_fmr_pct": {str(t): round(100 * 10 ** (-t / 10), 4) for t in THRESHOLDS},
        "genuine_below_pct": {str(t): round(100 * float((genuine < t).mean()), 2) for t in THRESHOLDS},
        "compare_us": round(1e6 * cpu / max(n_cmp, 1), 1),
        "load_average": float(Path("/proc/loadavg").read_text().split()[0]),
    }
    if a.json:
        print(json.dumps(result))
        return
    print(
        f"SOCOFing subjects 1..{a.subjects} at {a.dpi} ppi: {len(real)} real prints, "
        f"{imp.size} impostor pairs, "
        f"{genuine.size} genuine (real vs Altered-Easy)"
    )
    print("threshold  impostors >= (measured %)  promised FMR %  genuine below (FNMR %)")
    for t in THRESHOLDS:
        k = str(t)
        print(
            f"{t:9.0f}  {result['impostor_at_or_above_pct'][k]:24.4f}  "
            f"{result['promised_fmr_pct'][k]:14.4f}  "
            f"{result['genuine_below_pct'][k]:8.2f}"
        )
    print(f"score_many {result['compare_us']} us/comparison CPU, load {result['load_average']}")


if __name__ == "__main__":
    main()
