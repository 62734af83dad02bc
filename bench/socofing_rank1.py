"""SOCOFing closed-set identification, brute force: each Altered-Easy probe against every Real print of
the same subjects; rank-1 overall and by the probe's minutia count.

    .venv/bin/python bench/socofing_rank1.py [--subjects 100] [--first 1] [--dpi known|default|N]
        [--threshold 0.6] [--low-res-threshold T] [--also 0.5,0.4,0.3] [--cache DIR]

``--dpi known``: 170 ppi for the 96 x 103 prints and 500 for the 241 x 298 ones (SOCOFING.md);
``default``: what ``load_image`` chooses without a resolution (the file's tag 500 where the ridges agree,
else the estimate). ``--threshold`` is LEADER's minutia quality threshold; ``--low-res-threshold`` the one
used for images enlarged from below 350 ppi (LeaderParams.low_res_threshold). Templates are kept per
setting under ``--cache`` (default: a folder under the system's temporary directory). ``--also``: the
same run for higher low-resolution thresholds too, by dropping the minutiae of enlarged prints (source
below 350 ppi) under each (what the network gives with that threshold: its minutiae do not depend on
the threshold, only which are kept; directions may differ by float rounding, about 1e-8 rad).
CPU time and the load average are printed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crms.fingerprint import extract as ex  # noqa: E402
from crms.fingerprint import matcher  # noqa: E402
from crms.fingerprint.images import list_images, load_image  # noqa: E402
from crms.fingerprint.serialise import dumps, loads  # noqa: E402
from crms.fingerprint.template import Template  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "fingerprints" / "socofing"
BUCKETS = [(0, 0), (1, 4), (5, 9), (10, 14), (15, 19), (20, 29), (30, 10_000)]


def finger_key(name: str) -> str:
    stem = Path(name).stem
    for suffix in ("_CR", "_Obl", "_Zcut"):
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def subject(name: str) -> int:
    return int(name.split("__")[0])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=100)
    ap.add_argument("--first", type=int, default=1, help="first subject number")
    ap.add_argument("--dpi", default="default")
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("--low-res-threshold", type=float, default=-1.0, help="-1: the configuration's own")
    ap.add_argument("--also", default="", help="low-resolution thresholds emulated from the same run")
    ap.add_argument(
        "--fill",
        default="",
        help="K:FLOOR[,K:FLOOR]: also emulate keeping the best K minutiae down to quality FLOOR for prints "
        "left with fewer than K (with the first --also threshold, or the run's own)",
    )
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "crms-socofing-rank1")
    a = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"shared data not found: {DATA}")
    ex.set_threads(1)
    base = ex.CONFIGS[ex.DEFAULT_CONFIG]
    steps = list(base.steps)
    for i, s in enumerate(steps):
        if s.name == "minutiae":
            p = s.params
            if a.threshold is not None:
                p = replace(p, minutia_quality_threshold=a.threshold)
            if a.low_res_threshold >= 0:
                p = replace(p, low_res_threshold=a.low_res_threshold or None)
            if a.fill:  # the emulated rules start from templates that were not filled
                p = replace(p, min_minutiae=None)
            steps[i] = replace(s, params=p)
    config = "bench"
    ex.CONFIGS[config] = replace(base, steps=tuple(steps))
    leader_p = next(s.params for s in steps if s.name == "minutiae")
    tag = hashlib.sha1(f"{a.dpi}|{leader_p}".encode()).hexdigest()[:10]
    cache = a.cache / tag
    cache.mkdir(parents=True, exist_ok=True)
    keep = set(range(a.first, a.first + a.subjects))
    real = [f for f in list_images(DATA / "Real") if subject(f.name) in keep]
    probes = [f for f in list_images(DATA / "Altered-Easy") if subject(f.name) in keep]
    loads_ = [os.getloadavg()[0]]
    cpu = 0.0
    n_ex = 0
    dpis: dict[str, int] = {}

    def template(f: Path):
        nonlocal cpu, n_ex
        out = cache / (f.parent.name + "__" + f.stem + ".tpl")
        if out.exists():
            return loads(out.read_bytes())
        if a.dpi == "known":
            with open(f, "rb") as fh:
                head = fh.read(24)
            w = int.from_bytes(head[16:20], "big")
            dpi: float | str | None = 500.0 if w == 241 else 170.0
        elif a.dpi == "default":
            dpi = None
        else:
            dpi = float(a.dpi)
        t0 = time.process_time()
        img = load_image(f, dpi)
        t = ex.extract(img, config).template
        cpu += time.process_time() - t0
        n_ex += 1
        dpis[img.dpi_source] = dpis.get(img.dpi_source, 0) + 1
        out.write_bytes(dumps(t))
        return t

    gallery = [template(f) for f in real]
    loads_.append(os.getloadavg()[0])
    probe_t = [template(f) for f in probes]
    loads_.append(os.getloadavg()[0])
    keys = np.array([finger_key(f.name) for f in real])
    also = [float(x) for x in a.also.split(",") if x]
    for thr in [None, *also]:
        report(a, leader_p, thr, real, probes, gallery, probe_t, keys, cpu, n_ex, dpis, loads_)
    for kf in [x for x in a.fill.split(",") if x]:
        k, floor = kf.split(":")
        fill = (int(k), float(floor))
        thr = also[0] if also else None
        report(a, leader_p, thr, real, probes, gallery, probe_t, keys, cpu, n_ex, dpis, loads_, fill)


def _filtered(t, thr: float | None, fill: tuple[int, float] | None = None):
    """The template as extracted with quality threshold ``thr`` for enlarged prints; with ``fill`` =
    (k, floor), a print left with fewer than k minutiae keeps its best k down to quality ``floor``."""
    if (thr is None or t.dpi >= 350) and fill is None:
        return t
    q = t.minutiae[:, 4]
    own = thr if thr is not None and t.dpi < 350 else -1.0
    keep = q >= own * 100 - 1e-3
    if fill is not None and keep.sum() < fill[0]:  # the engine's rule (step_to_template)
        keep = ex.fill_keep(q, own, fill[0], fill[1])
    m = t.minutiae[keep]
    return Template(t.width, t.height, m, quality=t.quality, dpi=t.dpi)


def report(
    a, leader_p, thr, real, probes, gallery, probe_t, keys, cpu, n_ex, dpis, loads_, fill=None
) -> None:
    gallery = [_filtered(t, thr, fill) for t in gallery]
    probe_t = [_filtered(t, thr, fill) for t in probe_t]
    packed = matcher.pack(gallery)
    t0 = time.process_time()
    hits, counts, impostors = [], [], []
    for f, t in zip(probes, probe_t, strict=True):
        s = matcher.score_many(t, packed)
        mate = keys == finger_key(f.name)
        hits.append(keys[int(np.argmax(s))] == finger_key(f.name) and s.max() > 0)
        counts.append(t.count)
        impostors.append(s[~mate])
    match_cpu = time.process_time() - t0
    imp = np.concatenate(impostors)
    hits_a, counts_a = np.array(hits), np.array(counts)
    g_counts = np.array([t.count for t in gallery])
    print(
        f"SOCOFing subjects {a.first}-{a.first + a.subjects - 1}: {len(probes)} Altered-Easy probes x "
        f"{len(real)} Real prints, "
        f"dpi {a.dpi}, LEADER {leader_p}"
        + ("" if thr is None else f", low-resolution threshold {thr}")
        + ("" if fill is None else f", fill to {fill[0]} minutiae down to {fill[1]}")
    )
    print(
        f"rank-1 {hits_a.mean() * 100:.2f} % ({int(hits_a.sum())}/{hits_a.size}); probes with < 10 minutiae: "
        f"{int((counts_a < 10).sum())}, with none: {int((counts_a == 0).sum())}; Real prints with < 10: "
        f"{int((g_counts < 10).sum())}; median minutiae probe {np.median(counts_a):.0f}, "
        f"Real {np.median(g_counts):.0f}"
    )
    print(
        f"impostor scores (probe against every other finger, {imp.size} pairs) at or above 10/20/30/40: "
        + " / ".join(f"{(imp >= x).mean() * 100:.3f} %" for x in (10, 20, 30, 40))
        + " (the calibration promises 10 / 1 / 0.1 / 0.01 %)"
    )
    print("| probe minutiae | probes | rank-1 |\n|---|---:|---:|")
    for lo, hi in BUCKETS:
        sel = (counts_a >= lo) & (counts_a <= hi)
        if sel.any():
            label = f"{lo}" if lo == hi else (f"{lo}+" if hi >= 10_000 else f"{lo}-{hi}")
            print(f"| {label} | {int(sel.sum())} | {hits_a[sel].mean() * 100:.1f} % |")
    print(
        f"extraction {cpu / max(1, n_ex) * 1000:.0f} ms CPU per image ({n_ex} extracted, rest from cache; "
        f"resolution sources {dpis}); matching {match_cpu:.1f} s CPU; load average "
        f"{min(loads_):.1f}-{max(loads_):.1f}"
    )


if __name__ == "__main__":
    main()
