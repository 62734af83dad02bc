"""Quality of the synthetic set against the project's own fingerprint engine.

Generates N fingers x K impressions (default 100 x 8, seed 2026) with ``crms synth fingers``, extracts
templates with the project's extractor (cached, so a rerun only matches), reports minutiae per print, and
the EER / FMR100 / FMR1000 of the project's matcher under the FVC protocol (all pairs i<j) on the synthetic
set beside FVC2002 DB4_B and FVC2004 DB4_B (made with SFinGe), extracted the same way, and how the impostor
scores sit against the matcher's calibration (fitted on real prints: a score of 20 is promised to 1 % of
impostors, 30 to 0.1 %): their median and the shares at 20 and 30 or more. And how each set's minutiae and
ridges lie: set bits of a minutia's MCC cylinder (its neighbours within 70 px), minutiae per 10,000 px² of
their convex hull, the ridge period of the images (the project's estimator, first 100 images) and their
product, minutiae per 10,000 px of ridge; the same for FVC's real DB1-DB3 B sets.

  .venv/bin/python bench/synth_quality.py [--work DATA_DIR/cache/synth_quality] [--fingers 100]
      [--impressions 8] [--difficulty D] [--no-reference]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from _cache import cache_dir  # noqa: E402  (bench/ is on sys.path when run as a script)
from _synth import hull_density  # noqa: E402

from crms.fingerprint import evaluation as ev  # noqa: E402
from crms.fingerprint.images import list_images  # noqa: E402

FVC = ROOT.parent / "shared" / "data" / "fingerprints"
REFERENCE_SETS = {"FVC2002 DB4_B": FVC / "fvc2002" / "DB4_B", "FVC2004 DB4_B": FVC / "fvc2004" / "DB4_B"}


def templates_for(name: str, images: Path, cache: Path, processes: int) -> tuple[list[Path], dict]:
    """Extract (or reuse) one template per image; returns the template paths and extraction figures."""
    from crms.fingerprint.workers import ExtractorPool

    files = list_images(images)
    cache.mkdir(parents=True, exist_ok=True)
    todo = [f for f in files if not (cache / (f.stem + ".tpl")).exists()]
    stats_file = cache / "extract_stats.json"
    stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    if todo:
        t0 = time.time()
        with ExtractorPool(processes) as pool:
            for start in range(0, len(todo), 40):
                chunk = todo[start : start + 40]
                for f, r in zip(chunk, pool.map(chunk, 500), strict=True):
                    if r.error:
                        raise SystemExit(f"{f}: {r.error}")
                    (cache / (f.stem + ".tpl")).write_bytes(r.template)
                    stats[f.stem] = {"minutiae": r.minutiae, "ms": r.ms, "quality": r.quality}
                stats_file.write_text(json.dumps(stats))
                print(
                    f"  {name}: {start + len(chunk)}/{len(todo)} extracted, {time.time() - t0:.0f} s",
                    flush=True,
                )
    return [cache / (f.stem + ".tpl") for f in files], stats


def template_cache(work: Path, folder: Path) -> Path:
    """Where a set's templates are kept between runs."""
    return work / "templates" / f"{folder.parent.name}_{folder.name}"


def layout(images: Path, templates: list, prepared: list) -> dict:
    """Where a set's minutiae lie and how wide its ridges are (medians)."""
    bits, density = [], []
    for t, p in zip(templates, prepared, strict=True):
        bits += p.ones[p.valid].tolist()
        if (d := hull_density(t.minutiae[:, :2])) is not None:
            density.append(d)
    period = ridge_period(images)
    return {
        "cylinder_set_bits": float(np.median(bits)),
        "minutiae_per_10k_px2": round(float(np.median(density)), 2),
        "ridge_period_px": period,
        # a ridge's length per unit of area is about 1 / its period: minutiae per 10,000 px of ridge
        "minutiae_per_10k_px_of_ridge": round(float(np.median(density)) * period, 1),
    }


def ridge_period(images: Path) -> float:
    """Median ridge period in pixels of a folder's first 100 images (the project's estimator)."""
    import cv2

    from crms.fingerprint.images import estimate_ridge_period

    files = list_images(images)[:100]
    return round(float(np.median([estimate_ridge_period(cv2.imread(str(f), 0)) for f in files])), 2)


def evaluate(tpl_paths: list[Path], prepared: list) -> dict:
    from crms.fingerprint import matcher

    fingers = [ev.finger_of(p.name.replace(".tpl", ".png")) for p in tpl_paths]
    _, _, genuine = ev.fvc_pairs(fingers)
    scores = ev.score_all_pairs(prepared, matcher.score_many)
    m = ev.compute_metrics(scores[genuine], scores[~genuine])
    impostors = scores[~genuine]
    return {
        "genuine": m.genuine,
        "impostor": m.impostor,
        "eer": round(100 * m.eer, 2),
        "fmr100": round(100 * m.fmr100, 2),
        "fmr1000": round(100 * m.fmr1000, 2),
        "impostor_median": round(float(np.median(impostors)), 1),
        "impostors_at_20_percent": round(100 * float((impostors >= 20).mean()), 2),
        "impostors_at_30_percent": round(100 * float((impostors >= 30).mean()), 3),
    }


def main() -> None:
    from crms.fingerprint import matcher
    from crms.fingerprint.serialise import loads

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=cache_dir("synth_quality"))
    ap.add_argument("--fingers", type=int, default=100)
    ap.add_argument("--impressions", type=int, default=8)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--difficulty", type=float, default=0.0)
    ap.add_argument("--no-reference", action="store_true", help="skip the FVC DB4_B sets")
    a = ap.parse_args()
    tag = f"synth_{a.fingers}x{a.impressions}_seed{a.seed}" + (f"_d{a.difficulty:g}" if a.difficulty else "")
    synth = a.work / tag
    if not (synth / "manifest.csv").exists():
        t0 = time.time()
        subprocess.run(
            [str(ROOT / ".venv" / "bin" / "crms"), "synth", "fingers", "--count", str(a.fingers),
             "--impressions", str(a.impressions), "--seed", str(a.seed), "--out", str(synth),
             "--jobs", str(a.processes), "--difficulty", str(a.difficulty)],
            check=True,
        )  # fmt: skip
        print(f"generated {a.fingers * a.impressions} impressions in {time.time() - t0:.0f} s")
    sets = {f"synthetic {a.fingers}x{a.impressions} (seed {a.seed}, difficulty {a.difficulty:g})": synth}
    if not a.no_reference:
        sets.update({k: v for k, v in REFERENCE_SETS.items() if v.is_dir()})
    report = {}
    for name, folder in sets.items():
        tpls, stats = templates_for(name, folder, template_cache(a.work, folder), a.processes)
        stems = [p.stem for p in tpls]
        minutiae = np.array([stats[s]["minutiae"] for s in stems if s in stats], dtype=float)
        row = {
            "images": len(tpls),
            "minutiae_mean": round(float(minutiae.mean()), 1) if minutiae.size else None,
            "minutiae_p10_p90": [float(np.percentile(minutiae, 10)), float(np.percentile(minutiae, 90))]
            if minutiae.size
            else None,
            "share_30_80": round(float(((minutiae >= 30) & (minutiae <= 80)).mean()), 3)
            if minutiae.size
            else None,
        }
        templates = [loads(p.read_bytes()) for p in tpls]  # read and prepared once for both
        prepared = [matcher.prepare(t) for t in templates]
        row["metrics"] = evaluate(tpls, prepared)
        row["layout"] = layout(folder, templates, prepared)
        report[name] = row
        print(name, json.dumps(row), flush=True)
    if not a.no_reference:  # how real prints' minutiae and ridges lie, for comparison (FVC's DB1-DB3 B sets)
        report["layout of real prints"] = real = {}
        for folder in sorted(FVC.glob("fvc200[24]/DB[123]_B")):
            name = f"{folder.parent.name} {folder.name}"
            tpls, _ = templates_for(name, folder, template_cache(a.work, folder), a.processes)
            templates = [loads(p.read_bytes()) for p in tpls]
            real[name] = layout(folder, templates, [matcher.prepare(t) for t in templates])
        print("layout of real prints", json.dumps(real), flush=True)
    (a.work / f"report_{tag}.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
