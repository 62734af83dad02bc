"""Does the decision threshold keep its promise? False positives of tenprint and single-finger searches of
real persons against other real persons (SOCOFing Real: 600 subjects, ten fingers each).

    nice -n 10 .venv/bin/python bench/identify_fpir.py CACHE [--rule size] [--json-out FILE]
    nice -n 10 .venv/bin/python bench/identify_fpir.py CACHE --synthetic 300 [--processes 2]
    nice -n 10 .venv/bin/python bench/identify_fpir.py CACHE --fvc TEMPLATES

CACHE holds bench/identify_cache_socofing.py's templates (CACHE/<rule>/Real/<stem>.tpl). ``--synthetic N``
measures the demo's persons instead: the first N persons the demo draws (seed 1, all ten fingers at the
demo's difficulty, none of them a planted duplicate), extracted into CACHE/synthetic-demo/. ``--fvc`` adds,
for each FVC B set in TEMPLATES (bench/fp_cache_templates.py's folders), what a tenprint search would meet
if a CRO's impostors scored as that set's do (FVC has no persons: sums of ten of the set's impostor scores
drawn independently, which the measured correlation between positions allows). Every subject is
searched as deduplication searches a person: its enrolled fingers (positions known) against every other
subject, the decision threshold ``threshold_for_fpir(fpir, persons - 1, fingers)`` (the calibration's
model) and, again, the threshold a gallery of these persons takes (``decision_threshold`` with the impostor
profile the gallery measures of itself, as the gallery store does: ``Gallery.impostor_scores``). Reports:

* the impostor score model: every pair of different subjects, every position, by brute force
  (``matcher.score_many``): the share of single comparisons and of ten-finger sums reaching a score, against
  what the model (``impostor_sum_tail``) promises, and how much the ten fingers' impostor scores of one pair
  of subjects go together (mean correlation between positions);
* measured FPIR against the promised one, by brute force (every other subject's summed score) and through the
  production search (``Gallery.search``, the first stage on), tenprint and one finger at a time;
* the same estimate from the persons' own single-finger impostor scores (sums of ten independent draws),
  beside the measured FPIR, to show how far the estimate can be trusted;
* pairs of subjects that SOCOFing files twice (DUPLICATES.tsv, the same-finger pairs of SOCOFING.md, subjects
  596 / 598) are left out: a hit on them is the set's slip, not a false positive.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from identify_socofing import SAME_SUBJECTS, duplicates, parse  # noqa: E402

from crms.demo.builder import DEMO_DIFFICULTY, finger_png  # noqa: E402
from crms.fingerprint import gallery as G  # noqa: E402
from crms.fingerprint import matcher as M  # noqa: E402
from crms.fingerprint.impostors import PAIRS  # noqa: E402
from crms.fingerprint.impostors import profile_of as impostor_profile_of  # noqa: E402
from crms.fingerprint.serialise import load_template  # noqa: E402

FPIRS = (0.001, 0.01, 0.1)
SCORES = (10, 20, 30, 40)
SUMS = (40, 60, 80, 100, 120)


def share(hit: np.ndarray, promised: float) -> dict:
    """How many of the cases reach it, measured, beside what the model promises."""
    return {
        "promised": float(f"{promised:.4g}"),
        "measured": float(f"{np.mean(hit):.4g}"),
        "hits": int(np.sum(hit)),
    }


def profile_summary(profile) -> dict:
    """What the gallery measured of its impostors: pairs, median, and the shares reaching 10 and 20."""
    s = profile.scores
    return {
        "pairs": profile.pairs,
        "median": round(profile.median, 2),
        "share_at_or_above_10": round(float(np.mean(s >= 10)), 4),
        "share_at_or_above_20": round(float(np.mean(s >= 20)), 4),
    }


def _demo_png(job: tuple[int, int]) -> bytes:
    return finger_png(1, *job)


def synthetic(cache: Path, persons: int, processes: int) -> tuple[list[int], dict[tuple[int, int], object]]:
    """The demo's first ``persons`` persons' ten fingers, drawn and extracted once into ``cache``."""
    from concurrent.futures import ProcessPoolExecutor

    from crms.fingerprint.workers import ExtractorPool

    cache.mkdir(parents=True, exist_ok=True)
    jobs = [(i, p) for i in range(persons) for p in range(1, 11)]
    todo = [j for j in jobs if not (cache / f"{j[0]}_{j[1]}.tpl").exists()]
    t0 = time.time()
    with ProcessPoolExecutor(processes) as draw, ExtractorPool(processes) as extract:
        for n in range(0, len(todo), 50):
            chunk = todo[n : n + 50]
            for (i, p), r in zip(chunk, extract.map(list(draw.map(_demo_png, chunk)), 500), strict=True):
                if r.error:
                    raise SystemExit(f"person {i} finger {p}: {r.error}")
                (cache / f"{i}_{p}.tpl").write_bytes(r.template)
            print(f"synthetic: {n + len(chunk)}/{len(todo)} {time.time() - t0:.0f} s", flush=True)
    return list(range(persons)), {(i, p): load_template(cache / f"{i}_{p}.tpl") for i, p in jobs}


def estimated_fpir(single: np.ndarray, persons: int, fpir: float, draws: int = 2_000_000) -> float:
    """FPIR of a tenprint search among ``persons`` persons at the threshold promising ``fpir``, if each
    finger's impostor score were drawn independently from ``single``: 1 - (1 - P(sum of 10 >= t))^persons."""
    rng = np.random.default_rng(0)
    t = G.threshold_for_fpir(fpir, persons, 10)
    hits = 0
    for _ in range(draws // 200_000):
        hits += int(np.count_nonzero(rng.choice(single, size=(200_000, 10)).sum(axis=1) >= t))
    return float(f"{1 - (1 - hits / draws) ** persons:.4g}")


def fvc_sets(templates: Path) -> dict:
    """Each FVC B set's impostor scores (every pair of different fingers) and the tenprint FPIR they imply."""
    from fp_eval import SETS

    from crms.fingerprint import evaluation as ev

    out = {}
    for year, db, _dpi in SETS:
        files = sorted((templates / year / db).glob("*.tpl"))
        if not files:
            continue
        temps = [load_template(f) for f in files]
        finger = np.array([ev.finger_of(f.stem) for f in files])
        packed = M.pack(temps)
        scores = []
        for i, t in enumerate(temps[:-1]):
            sc = M.score_many(t, packed)
            scores.append(sc[i + 1 :][finger[i + 1 :] != finger[i]])
        single = np.concatenate(scores)
        out[f"{year}/{db}"] = {
            "impostor_pairs": int(single.size),
            "median": round(float(np.median(single)), 2),
            "at_or_above_10": float(f"{np.mean(single >= 10):.4g}"),
            "at_or_above_20": float(f"{np.mean(single >= 20):.4g}"),
            "tenprint_fpir_estimated": {str(f): estimated_fpir(single, 599, f) for f in FPIRS},
        }
        print(f"{year}/{db}", json.dumps(out[f"{year}/{db}"]), flush=True)
    return out


def load(real_dir: Path) -> tuple[list[int], dict[tuple[int, int], object]]:
    """Subjects, and (subject, position) -> template."""
    prints = {}
    for f in sorted(real_dir.glob("*.tpl")):
        subject, position, _key = parse(f.stem)
        prints[(subject, position)] = load_template(f)
    return sorted({s for s, _p in prints}), prints


def excluded_pairs(keys: set[str]) -> set[tuple[int, int]]:
    """Pairs of subjects (a < b) that share a finger filed twice."""
    out = {tuple(sorted(p)) for p in SAME_SUBJECTS}
    for a, bs in duplicates(keys).items():
        for b in bs:
            sa, sb = int(a.split("__")[0]), int(b.split("__")[0])
            if sa != sb:
                out.add((min(sa, sb), max(sa, sb)))
    return out


def brute_force(subjects, prints) -> tuple[np.ndarray, np.ndarray]:
    """scores[i, j, p]: subject i's finger at position p+1 against subject j's (NaN where either lacks a
    searchable print), and usable[i, p]."""
    n = len(subjects)
    idx = {s: i for i, s in enumerate(subjects)}
    scores = np.full((n, n, 10), np.nan)
    usable = np.zeros((n, 10), bool)
    for p in range(1, 11):
        rows = [s for s in subjects if (s, p) in prints and prints[(s, p)].count >= G.MIN_MINUTIAE]
        packed = M.pack([prints[(s, p)] for s in rows])
        cols = [idx[s] for s in rows]
        for s in rows:
            usable[idx[s], p - 1] = True
            scores[idx[s], cols, p - 1] = M.score_many(prints[(s, p)], packed)
    return scores, usable


def model_check(scores, usable, allowed) -> tuple[dict, np.ndarray]:
    """Impostor scores of different subjects against the calibration's model; and the single scores."""
    n = scores.shape[0]
    iu = np.triu_indices(n, 1)
    pair_ok = allowed[iu]
    single = scores[iu][pair_ok]  # (pairs, 10): the first subject's fingers as the probes
    both = usable[iu[0]][pair_ok] & usable[iu[1]][pair_ok]
    full = both.all(axis=1)
    flat = single[both]
    sums = single[full].sum(axis=1)
    corr = np.corrcoef(single[full], rowvar=False)
    off = corr[~np.eye(10, dtype=bool)]
    return {
        "pairs_of_subjects": int(pair_ok.sum()),
        "single_comparisons": int(flat.size),
        "single_median": round(float(np.median(flat)), 2),
        "single_at_or_above": {str(s): share(flat >= s, G.impostor_sum_tail(s, 1)) for s in SCORES},
        "tenprint_pairs": int(full.sum()),
        "tenprint_sum_median": round(float(np.median(sums)), 2),
        "tenprint_sum_at_or_above": {str(s): share(sums >= s, G.impostor_sum_tail(s, 10)) for s in SUMS},
        "mean_correlation_between_positions": round(float(off.mean()), 4),
    }, flat


def fpir_brute_force(scores, usable, allowed, profile=None) -> dict:
    """Each subject searched with all its usable fingers (tenprint) and with each finger alone."""
    n = scores.shape[0]
    persons = n - 1
    out: dict = {}

    def thresholds(f: float, ks: np.ndarray) -> np.ndarray:
        return np.array([G.decision_threshold(f, persons, int(k), profile)[0] for k in ks])

    ten_best, ten_k = [], []
    for i in range(n):
        k = int(usable[i].sum())
        if not k:
            continue
        s = np.nansum(np.where(usable[i][None, :], scores[i], np.nan), axis=1)
        s[~allowed[i]] = -np.inf
        ten_best.append(s.max())
        ten_k.append(k)
    ten_best, ten_k = np.array(ten_best), np.array(ten_k)
    out["tenprint"] = {
        "searches": len(ten_best),
        "fingers_mean": round(float(ten_k.mean()), 2),
        **{str(f): share(ten_best >= thresholds(f, ten_k), f) for f in FPIRS},
    }
    one = []
    for i in range(n):
        for p in range(10):
            if usable[i, p]:
                col = scores[i, :, p].copy()
                col[~allowed[i]] = -np.inf
                one.append(np.nanmax(col))
    one = np.array(one)
    t = {f: G.decision_threshold(f, persons, 1, profile)[0] for f in FPIRS}
    out["one_finger"] = {
        "searches": len(one),
        **{str(f): {"threshold": t[f], **share(one >= t[f], f)} for f in FPIRS},
    }
    return out


def gallery_of(prints) -> G.Gallery:
    g = G.Gallery(capacity=len(prints))
    g.insert_many((k, s, p, t) for k, ((s, p), t) in enumerate(sorted(prints.items())))
    return g


def fpir_search(g: G.Gallery, subjects, prints, allowed) -> dict:
    """The production search (first stage on), tenprint, as deduplication runs it, at the gallery's own
    threshold (its ``impostors`` profile, if any)."""
    idx = {s: i for i, s in enumerate(subjects)}
    best, thresholds, cpu = [], {f: [] for f in FPIRS}, 0.0
    for s in subjects:
        probes = [G.ProbeFinger(prints[(s, p)], p) for p in range(1, 11) if (s, p) in prints]
        probes = [q for q in probes if q.template.count >= G.MIN_MINUTIAE]
        if not probes:
            continue
        c0 = time.process_time()
        r = g.search(probes, top=6)
        cpu += time.process_time() - c0
        others = [c for c in r.candidates if c.person != s and allowed[idx[s], idx[c.person]]]
        best.append(others[0].score if others else -np.inf)
        for f in FPIRS:
            thresholds[f].append(G.decision_threshold(f, r.gallery_persons - 1, len(probes), g.impostors)[0])
    return {
        "searches": len(best),
        "cpu_s_per_search": round(cpu / max(1, len(best)), 4),
        **{str(f): share(np.array(best) >= np.array(thresholds[f]), f) for f in FPIRS},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cache", type=Path)
    ap.add_argument("--rule", default="size")
    ap.add_argument("--synthetic", type=int, default=0, help="the demo's first N persons instead of SOCOFing")
    ap.add_argument("--processes", type=int, default=2, help="drawing and extracting --synthetic prints")
    ap.add_argument("--fvc", type=Path, help="FVC B set templates: the tenprint FPIR their impostors imply")
    ap.add_argument("--json-out", type=Path)
    a = ap.parse_args()
    t0, c0 = time.time(), time.process_time()
    if a.synthetic:
        subjects, prints = synthetic(a.cache / "synthetic-demo", a.synthetic, a.processes)
        left_out: set = set()
    else:
        real_dir = a.cache / a.rule / "Real"
        subjects, prints = load(real_dir)
        if not prints:
            raise SystemExit(f"no templates under {real_dir}: run bench/identify_cache_socofing.py first")
        left_out = excluded_pairs({parse(f.stem)[2] for f in real_dir.glob("*.tpl")})
    idx = {s: i for i, s in enumerate(subjects)}
    allowed = ~np.eye(len(subjects), dtype=bool)
    for sa, sb in left_out:
        if sa in idx and sb in idx:
            allowed[idx[sa], idx[sb]] = allowed[idx[sb], idx[sa]] = False
    print(f"{len(subjects)} subjects, {len(prints)} prints, {len(left_out)} pairs left out", flush=True)
    scores, usable = brute_force(subjects, prints)
    out = {
        "set": f"demo persons (seed 1), difficulty {DEMO_DIFFICULTY}"
        if a.synthetic
        else f"SOCOFing Real, {a.rule}"
    }
    out |= {"subjects": len(subjects), "prints": len(prints), "pairs_left_out": len(left_out)}
    out["model"], single = model_check(scores, usable, allowed)
    n = len(subjects) - 1
    out["model"]["tenprint_fpir_estimated"] = {str(f): estimated_fpir(single, n, f) for f in FPIRS}
    print("model", json.dumps(out["model"]), flush=True)
    g = gallery_of(prints)
    for name, profile in (
        ("model", None),
        ("measured", impostor_profile_of(g.impostor_scores(PAIRS))),
    ):
        if profile is not None:
            out["profile"] = profile_summary(profile)
            print("profile", json.dumps(out["profile"]), flush=True)
        out[f"brute_force_{name}"] = fpir_brute_force(scores, usable, allowed, profile)
        print(f"brute_force_{name}", json.dumps(out[f"brute_force_{name}"]), flush=True)
        g.impostors = profile
        out[f"search_{name}"] = fpir_search(g, subjects, prints, allowed)
        print(f"search_{name}", json.dumps(out[f"search_{name}"]), flush=True)
    if a.fvc:
        out["fvc"] = fvc_sets(a.fvc)
    out["wall_s"] = round(time.time() - t0, 1)
    out["cpu_s"] = round(time.process_time() - c0, 1)
    out["load_1min_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps({k: out[k] for k in ("wall_s", "cpu_s", "load_1min_at_end")}))
    if a.json_out:
        a.json_out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
