"""1:N accuracy on SOCOFing: gallery = socofing/Real (6,000 fingers), probes = socofing/Altered-Easy.

    nice -n 10 .venv/bin/python bench/identify_socofing.py CACHE [--rule size] [--survivors 150]
        [--brute-sample 1000] [--probes N] [--unknown-sample N] [--json-out FILE]

CACHE holds the templates of bench/identify_cache_socofing.py (CACHE/<rule>/<folder>/<stem>.tpl). Reports:

* finger-level identification, the finger position known (the search is position-aware) and unknown:
  rank-1 and rank-10 with the first stage on (the production search), ties counted against the probe;
* the same probes' ranks by brute force (``matcher.pack`` + ``score_many`` over every gallery finger of
  the allowed positions) on a seeded sample of ``--brute-sample`` probes, and the first stage's penetration;
* tenprint: all altered fingers of a subject (positions known) against the 600 subjects, rank-1;
* each figure twice: SOCOFing's duplicate captures (DUPLICATES.tsv and the pairs SOCOFING.md lists as the
  same finger filed twice) counted as non-mates, and left out (a candidate that is a duplicate of the
  probe's true finger or subject is skipped before ranking);
* CPU time (process, all threads) per search and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crms.fingerprint import gallery as G  # noqa: E402
from crms.fingerprint import matcher as M  # noqa: E402
from crms.fingerprint.serialise import load_template  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "fingerprints" / "socofing"
FINGERS = ["thumb", "index", "middle", "ring", "little"]
NAME = re.compile(r"^(\d+)__[MF]_(Left|Right)_(\w+?)_finger")
# SOCOFING.md: the same finger filed twice, found by matching (besides DUPLICATES.tsv)
SAME_FINGER = [
    ("528", "Left", "index", "528", "Left", "middle"),
    ("481", "Left", "ring", "481", "Left", "little"),
    ("113", "Right", "little", "113", "Right", "ring"),
    ("372", "Left", "little", "372", "Right", "little"),
    ("41", "Left", "ring", "41", "Left", "little"),
    ("460", "Left", "index", "92", "Left", "index"),
]
# found by bench/identify_fpir.py (scores 76-135, checked by eye): the 500 ppi captures of subject 590's left
# hand and of 297's left little finger are the left fingers of 596 / 598 at about 170 ppi
SAME_FINGER += [("590", "Left", f, s, "Left", f) for f in FINGERS for s in ("596", "598")]
SAME_FINGER += [("297", "Left", "little", s, "Left", "little") for s in ("596", "598")]
SAME_SUBJECTS = [(596, 598)]  # nearly all fingers match across the two subjects and across hands


def parse(stem: str) -> tuple[int, int, str]:
    m = NAME.match(stem)
    if not m:
        raise ValueError(stem)
    subject, hand, finger = int(m.group(1)), m.group(2), m.group(3)
    position = FINGERS.index(finger) + (1 if hand == "Right" else 6)
    return subject, position, f"{subject}__{hand}_{finger}"


def finger_key(subject: str, hand: str, finger: str) -> str:
    return f"{subject}__{hand}_{finger}"


def duplicates(real_keys: set[str]) -> dict[str, set[str]]:
    """finger key -> the finger keys that are the same capture or the same finger."""
    dup: dict[str, set[str]] = {}

    def link(a: str, b: str) -> None:
        dup.setdefault(a, set()).add(b)
        dup.setdefault(b, set()).add(a)

    for line in (DATA / "DUPLICATES.tsv").read_text().splitlines()[1:]:
        a, b, _how = line.split("\t")
        link(parse(Path(a).stem)[2], parse(Path(b).stem)[2])
    for s1, h1, f1, s2, h2, f2 in SAME_FINGER:
        link(finger_key(s1, h1, f1), finger_key(s2, h2, f2))
    for s1, s2 in SAME_SUBJECTS:
        for a in [k for k in real_keys if k.startswith(f"{s1}__")]:
            for b in [k for k in real_keys if k.startswith(f"{s2}__")]:
                link(a, b)
    return dup


def rank_of(cands: list[tuple[object, float]], mate, skip: set) -> int:
    """1 + candidates other than the mate (and not skipped) scoring at least the mate; 10**6 if absent."""
    mate_score = next((s for c, s in cands if c == mate), None)
    if mate_score is None:
        return 10**6
    return 1 + sum(1 for c, s in cands if c != mate and c not in skip and s >= mate_score)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cache", type=Path)
    ap.add_argument("--rule", default="size")
    ap.add_argument("--survivors", type=int, default=G.DEFAULT_SURVIVORS)
    ap.add_argument("--brute-sample", type=int, default=1000)
    ap.add_argument("--probes", type=int, default=0, help="at most this many probes (seeded sample; 0 = all)")
    ap.add_argument(
        "--unknown-sample", type=int, default=0, help="position-unknown searches of this many probes (0: all)"
    )
    ap.add_argument("--json-out", type=Path)
    a = ap.parse_args()
    t_start, c_start = time.time(), time.process_time()
    real_dir, alt_dir = a.cache / a.rule / "Real", a.cache / a.rule / "Altered-Easy"
    real = {}
    for f in sorted(real_dir.glob("*.tpl")):
        subject, position, key = parse(f.stem)
        real[key] = (subject, position, load_template(f))
    probes = []
    for f in sorted(alt_dir.glob("*.tpl")):
        subject, position, key = parse(f.stem)
        if key in real:
            probes.append((key, subject, position, load_template(f)))
    rng = np.random.default_rng(0)
    if a.probes and a.probes < len(probes):
        probes = [probes[i] for i in sorted(rng.choice(len(probes), a.probes, replace=False))]
    dup = duplicates(set(real))
    keys = sorted(real)
    index = {k: i for i, k in enumerate(keys)}
    print(f"gallery {len(keys)} fingers, {len(probes)} probes, rule {a.rule}", flush=True)

    # finger-level gallery: each finger its own candidate (person = finger index)
    fg = G.Gallery(capacity=len(keys))
    fg.insert_many((i, i, real[k][1], real[k][2]) for i, k in enumerate(keys))
    out: dict = {
        "gallery_fingers": len(keys),
        "probes": len(probes),
        "rule": a.rule,
        "survivors": a.survivors,
    }
    few = 0
    unknown_probes = probes
    if a.unknown_sample and a.unknown_sample < len(probes):
        pick = np.random.default_rng(1).choice(len(probes), a.unknown_sample, replace=False)
        unknown_probes = [probes[i] for i in sorted(pick)]
    for known in (True, False):
        ranks, ranks_left_out, pen, cpu, fails = [], [], [], 0.0, 0
        for key, _subject, position, t in probes if known else unknown_probes:
            c0 = time.process_time()
            try:
                r = fg.search(
                    [G.ProbeFinger(t, position if known else 0, key)], top=20, survivors=a.survivors
                )
            except G.GalleryError:
                fails += 1  # too few minutiae to search: a miss
                ranks.append(10**6)
                ranks_left_out.append(10**6)
                continue
            cpu += time.process_time() - c0
            cands = [(c.person, c.score) for c in r.candidates]
            mate = index[key]
            ranks.append(rank_of(cands, mate, set()))
            ranks_left_out.append(rank_of(cands, mate, {index[d] for d in dup.get(key, ())}))
            pen.append(r.penetration)
        few = fails
        tag = "position_known" if known else "position_unknown"
        r1 = np.array(ranks)
        r2 = np.array(ranks_left_out)
        counts = np.array([t.count for _k, _s, _p, t in (probes if known else unknown_probes)])
        by_count = {}
        for lo, hi in ((0, 5), (5, 10), (10, 15), (15, 20), (20, 10**6)):
            sel = (counts >= lo) & (counts < hi)
            if sel.any():
                label = f"{lo}-{hi - 1}" if hi < 10**6 else f"{lo}+"
                by_count[label] = {
                    "probes": int(sel.sum()),
                    "rank1": round(float(np.mean(r2[sel] <= 1)) * 100, 2),
                }
        out[tag] = {
            "rank1_dups_as_nonmates": round(float(np.mean(r1 <= 1)) * 100, 2),
            "rank10_dups_as_nonmates": round(float(np.mean(r1 <= 10)) * 100, 2),
            "rank1_dups_left_out": round(float(np.mean(r2 <= 1)) * 100, 2),
            "rank10_dups_left_out": round(float(np.mean(r2 <= 10)) * 100, 2),
            "penetration": round(float(np.mean(pen)), 5) if pen else None,
            "cpu_s_per_search": round(cpu / max(1, len(pen)), 4),
            "probes_not_searchable": fails,
            "probes": len(ranks),
            "rank1_dups_left_out_by_probe_minutiae": by_count,
        }
        print(tag, json.dumps(out[tag]), flush=True)

    # brute force on a sample: every gallery finger (of the probe's position when known), the same scores
    sample = sorted(rng.choice(len(probes), min(a.brute_sample, len(probes)), replace=False))
    by_pos = {p: [i for i, k in enumerate(keys) if real[k][1] == p] for p in range(1, 11)}
    packed_pos = {p: M.pack([real[keys[i]][2] for i in rows]) for p, rows in by_pos.items()}
    packed_all = M.pack([real[k][2] for k in keys])
    bf: dict = {}
    for known in (True, False) if sample else ():  # --brute-sample 0: no brute-force comparison
        agree, r_bf, r_s1, cpu = 0, [], [], 0.0
        for j in sample:
            key, _subject, position, t = probes[j]
            if t.count < G.MIN_MINUTIAE:
                continue
            c0 = time.process_time()
            rows = by_pos[position] if known else list(range(len(keys)))
            sc = M.score_many(t, packed_pos[position] if known else packed_all)
            cpu += time.process_time() - c0
            mate = index[key]
            skip = {index[d] for d in dup.get(key, ())}
            cands = sorted(zip(rows, sc.tolist(), strict=True), key=lambda x: -x[1])
            rb = rank_of(cands, mate, skip)
            r = fg.search([G.ProbeFinger(t, position if known else 0, key)], top=20, survivors=a.survivors)
            rs = rank_of([(c.person, c.score) for c in r.candidates], mate, skip)
            r_bf.append(rb)
            r_s1.append(rs)
            agree += (rb <= 1) == (rs <= 1)
        tag = "position_known" if known else "position_unknown"
        bf[tag] = {
            "sample": len(r_bf),
            "rank1_brute_force": round(float(np.mean(np.array(r_bf) <= 1)) * 100, 2),
            "rank1_first_stage": round(float(np.mean(np.array(r_s1) <= 1)) * 100, 2),
            "rank10_brute_force": round(float(np.mean(np.array(r_bf) <= 10)) * 100, 2),
            "rank10_first_stage": round(float(np.mean(np.array(r_s1) <= 10)) * 100, 2),
            "lost_by_first_stage": int(sum(1 for x, y in zip(r_bf, r_s1, strict=True) if x <= 1 < y)),
            "cpu_s_per_brute_force_search": round(cpu / max(1, len(r_bf)), 4),
        }
        print("brute_force", tag, json.dumps(bf[tag]), flush=True)
    out["brute_force_sample"] = bf

    # tenprint: subjects as persons, all their altered fingers with positions
    pg = G.Gallery(capacity=len(keys))
    pg.insert_many((i, real[k][0], real[k][1], real[k][2]) for i, k in enumerate(keys))
    by_subject: dict[int, list] = {}
    for key, subject, position, t in probes:
        if t.count >= G.MIN_MINUTIAE:
            by_subject.setdefault(subject, []).append(G.ProbeFinger(t, position, key))
    same = {}
    for s1, s2 in SAME_SUBJECTS:
        same.setdefault(s1, set()).add(s2)
        same.setdefault(s2, set()).add(s1)
    t_r, t_l, cpu = [], [], 0.0
    for subject, fs in sorted(by_subject.items()):
        c0 = time.process_time()
        r = pg.search(fs, top=10, survivors=a.survivors)
        cpu += time.process_time() - c0
        cands = [(c.person, c.score) for c in r.candidates]
        t_r.append(rank_of(cands, subject, set()))
        t_l.append(rank_of(cands, subject, same.get(subject, set())))
    out["tenprint"] = {
        "subjects": len(t_r),
        "rank1_dups_as_nonmates": round(float(np.mean(np.array(t_r) <= 1)) * 100, 2),
        "rank1_dups_left_out": round(float(np.mean(np.array(t_l) <= 1)) * 100, 2),
        "cpu_s_per_search": round(cpu / max(1, len(t_r)), 4),
    }
    print("tenprint", json.dumps(out["tenprint"]), flush=True)
    out["probes_below_min_minutiae"] = few
    out["bytes_per_finger"] = round(fg.bytes_per_finger(), 1)
    out["wall_s"] = round(time.time() - t_start, 1)
    out["cpu_s"] = round(time.process_time() - c_start, 1)
    out["load_1min_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out))
    if a.json_out:
        a.json_out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
