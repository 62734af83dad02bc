"""Orientation-field evidence for probes with few minutiae (issue 24 item 2): SOCOFing rank-1 by probe
minutia count before (minutiae score only) and after fusion, on a development half and a held-out half,
plus an FVC check of the orientation score alone (different impressions of the same finger).

    PYTHONPATH=. nice -n 19 .venv/bin/python bench/socofing_fewminutiae.py \
        [--dev 1-60] [--test 61-120] [--fuse-below 10] [--rule max|sum] [--fvc SETS] [--crop 128]

Templates: the same setting and cache as ``bench/socofing_rank1.py --dpi known`` (default LEADER
parameters; 170 ppi for the 96 x 103 prints, 500 for the 241 x 298 ones); missing ones are extracted.
Each half: every Altered-Easy probe of its subjects against every Real print of the same subjects
(closed set). The orientation comparisons run only for probes with fewer than ``--fuse-below`` minutiae
(the only ones fusion changes). Chosen on the development half only: the orientation calibration (its
impostor pairs: few-minutiae probes against other fingers) and, with ``--rule sum``, the calibration of
the summed score. The held-out half uses them unchanged. SOCOFing's known duplicate prints
(DUPLICATES.tsv) count as non-mates, as in socofing_rank1.py. Note: an Altered-Easy probe is a synthetic
alteration of the very Real image it is matched with, so any image-level evidence is easier there than
between two impressions; the FVC check measures the orientation score between real impressions.

FVC parts (``--fvc``, default FVC2002 DB1_B, DB3_B and FVC2004 DB2_B; the kernel was chosen on FVC2002
DB1_B): (1) the orientation score alone, every pair of the 80 images (EER; impostor and genuine rates
under the SOCOFing calibration and under one fitted on the set's own impostors); (2) a few-minutiae
emulation between different impressions (``--crop``): each image cut to a window around its foreground's
centroid is a probe against the other 79 whole images, rank-1 and impostor rates before and after fusion,
the orientation (and, with ``--rule sum``, the sum) calibration fitted on the first set's windows and
applied unchanged to the others.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from socofing_rank1 import BUCKETS, DATA, finger_key, subject  # noqa: E402

from crms.fingerprint import extract as ex  # noqa: E402
from crms.fingerprint import matcher  # noqa: E402
from crms.fingerprint import orientation_evidence as oe  # noqa: E402
from crms.fingerprint.images import list_images, load_image  # noqa: E402
from crms.fingerprint.serialise import dumps, loads  # noqa: E402

FVC = ROOT.parent / "shared" / "data" / "fingerprints"


def known_dpi(path: Path) -> float:
    """SOCOFING.md: 500 ppi for the 241 x 298 prints, 170 for the 96 x 103 ones (PNG width at byte 16)."""
    with open(path, "rb") as fh:
        head = fh.read(24)
    return 500.0 if int.from_bytes(head[16:20], "big") == 241 else 170.0


def template_cache(root: Path) -> Path:
    """socofing_rank1.py's cache folder for ``--dpi known`` with the default LEADER parameters."""
    leader_p = next(s.params for s in ex.CONFIGS[ex.DEFAULT_CONFIG].steps if s.name == "minutiae")
    return root / hashlib.sha1(f"known|{leader_p}".encode()).hexdigest()[:10]


def load_template(path: Path, cache: Path):
    out = cache / (path.parent.name + "__" + path.stem + ".tpl")
    if out.exists():
        return loads(out.read_bytes())
    t = ex.extract(load_image(path, known_dpi(path))).template
    out.write_bytes(dumps(t))
    return t


def parse_range(text: str) -> range:
    lo, hi = (int(x) for x in text.split("-"))
    return range(lo, hi + 1)


class Half:
    """One half of the subjects: probes, gallery, templates, minutiae scores, orientation evidence."""

    def __init__(self, subjects: range, cache: Path, fuse_below: int, p: oe.OrientationParams) -> None:
        keep = set(subjects)
        self.name = f"{subjects.start}-{subjects.stop - 1}"
        self.real = [f for f in list_images(DATA / "Real") if subject(f.name) in keep]
        self.probes = [f for f in list_images(DATA / "Altered-Easy") if subject(f.name) in keep]
        self.gallery_t = [load_template(f, cache) for f in self.real]
        self.probe_t = [load_template(f, cache) for f in self.probes]
        self.keys = np.array([finger_key(f.name) for f in self.real])
        self.mates = np.array([self.keys == finger_key(f.name) for f in self.probes])
        self.counts = np.array([t.count for t in self.probe_t])
        packed = matcher.pack(self.gallery_t)
        self.sm = np.array([matcher.score_many(t, packed) for t in self.probe_t])
        self.few = np.flatnonzero(self.counts < fuse_below)
        t0 = time.process_time()
        gallery_d = [describe(f, p) for f in self.real]
        probe_d = {i: describe(self.probes[i], p) for i in self.few}
        self.describe_cpu = (time.process_time() - t0) / (len(gallery_d) + len(probe_d))
        self.empty_gallery = sum(d.empty for d in gallery_d)
        self.empty_probes = sum(d.empty for d in probe_d.values())
        packed_o = oe.pack_fields(gallery_d, p)
        t0 = time.process_time()
        self.raw_o = np.zeros_like(self.sm)
        for i in self.few:
            self.raw_o[i] = oe.compare_many(probe_d[i], packed_o, p)
        self.compare_cpu = (time.process_time() - t0) / max(1, len(self.few) * len(gallery_d))

    def orientation_impostors(self) -> np.ndarray:
        return self.raw_o[self.few][~self.mates[self.few]]


def describe(path: Path, p: oe.OrientationParams, dpi: float | None = None) -> oe.OrientationDescriptor:
    img = load_image(path, dpi if dpi is not None else known_dpi(path), sandbox=False)
    return oe.describe_image(img.pixels, p)


def rank1(scores: np.ndarray, mates: np.ndarray) -> np.ndarray:
    """Per probe: the best-scoring gallery print is a mate and scores above 0."""
    best = np.argmax(scores, axis=1)
    return mates[np.arange(len(best)), best] & (scores.max(axis=1) > 0)


def bucket_table(h: Half, before: np.ndarray, after: np.ndarray, orient: np.ndarray) -> None:
    hb, ha, ho = rank1(before, h.mates), rank1(after, h.mates), rank1(orient, h.mates)
    print("| probe minutiae | probes | rank-1 before | rank-1 after | orientation alone |")
    print("|---|---:|---:|---:|---:|")
    for lo, hi in [*BUCKETS, (0, 10_000)]:
        sel = (h.counts >= lo) & (h.counts <= hi)
        if not sel.any():
            continue
        label = (
            "all"
            if (lo, hi) == (0, 10_000)
            else f"{lo}"
            if lo == hi
            else (f"{lo}+" if hi >= 10_000 else f"{lo}-{hi}")
        )
        few = sel[h.few]
        alone = f"{ho[h.few][few].mean() * 100:.1f} %" if few.any() else "-"
        print(
            f"| {label} | {int(sel.sum())} | {hb[sel].mean() * 100:.1f} % ({int(hb[sel].sum())}) | "
            f"{ha[sel].mean() * 100:.1f} % ({int(ha[sel].sum())}) | {alone} |"
        )


def impostor_rates(scores: np.ndarray, mates: np.ndarray) -> str:
    imp = scores[~mates]
    return " / ".join(f"{(imp >= x).mean() * 100:.3f} % ({int((imp >= x).sum())})" for x in (20, 30))


def fused_scores(h: Half, cal: oe.Calibration, f: oe.FusionParams, sum_cal: oe.Calibration | None) -> tuple:
    so = np.zeros_like(h.sm)
    so[h.few] = oe.calibrate(h.raw_o[h.few], cal)
    after = np.array([oe.fuse(h.sm[i], so[i], int(h.counts[i]), f, sum_cal) for i in range(len(h.sm))])
    return so, after


def report(h: Half, cal: oe.Calibration, f: oe.FusionParams, sum_cal: oe.Calibration | None) -> None:
    so, after = fused_scores(h, cal, f, sum_cal)
    print(
        f"\n### Subjects {h.name}: {len(h.probes)} Altered-Easy probes x {len(h.real)} Real prints; "
        f"{len(h.few)} probes with < {f.max_probe_minutiae} minutiae (empty orientation descriptors: "
        f"{h.empty_probes} of them, {h.empty_gallery} Real prints)\n"
    )
    orient = np.zeros_like(h.sm)
    orient[h.few] = so[h.few]
    bucket_table(h, h.sm, after, orient)
    print(
        f"\nimpostor scores >= 20 / >= 30, all probes ({int((~h.mates).sum())} pairs): before "
        f"{impostor_rates(h.sm, h.mates)}; after {impostor_rates(after, h.mates)}"
    )
    m = h.mates[h.few]
    print(
        f"impostor scores >= 20 / >= 30, probes with < {f.max_probe_minutiae} minutiae "
        f"({int((~m).sum())} pairs): minutiae {impostor_rates(h.sm[h.few], m)}; orientation "
        f"{impostor_rates(so[h.few], m)}; fused {impostor_rates(after[h.few], m)}"
    )
    print(
        f"CPU: orientation descriptor {h.describe_cpu * 1000:.1f} ms per image (load at 500 ppi, GMFS "
        f"mask, field); comparison {h.compare_cpu * 1e6:.0f} us per probe-gallery pair "
        f"({len(oe.DEFAULT_ORIENTATION.rotations_deg)} rotations, all shifts)"
    )


def eer(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """Equal error rate (threshold sweep over all observed values)."""
    th = np.unique(np.concatenate([genuine, impostor]))
    frr = np.searchsorted(np.sort(genuine), th, side="left") / genuine.size
    far = 1 - np.searchsorted(np.sort(impostor), th, side="left") / impostor.size
    k = int(np.argmin(np.abs(frr - far)))
    return float((frr[k] + far[k]) / 2)


def fvc_check(name: str, p: oe.OrientationParams, cal: oe.Calibration) -> None:
    folder = FVC / name
    files = list_images(folder)
    dpi = FVC_DPI.get(name, 500.0)
    t0 = time.process_time()
    ds = [describe(f, p, dpi) for f in files]
    d_cpu = (time.process_time() - t0) / len(ds)
    packed = oe.pack_fields(ds, p)
    t0 = time.process_time()
    raw = np.array([oe.compare_many(d, packed, p) for d in ds])
    c_cpu = (time.process_time() - t0) / raw.size
    finger = np.array([f.stem.split("_")[0] for f in files])
    iu = np.triu_indices(len(files), 1)
    same = (finger[:, None] == finger[None, :])[iu]
    sym = np.maximum(raw, raw.T)[iu]  # both directions searched; the better one counts
    gen, imp = sym[same], sym[~same]
    s_gen, s_imp = oe.calibrate(gen, cal), oe.calibrate(imp, cal)
    own = oe.fit_calibration(imp, f"{name} impostors", tail=20)
    o_gen, o_imp = oe.calibrate(gen, own), oe.calibrate(imp, own)
    print(
        f"\n### FVC check, {name} ({len(files)} images at {dpi:g} ppi; {gen.size} genuine and {imp.size} "
        f"impostor pairs, orientation score alone)\n"
    )
    print(
        f"EER {eer(gen, imp) * 100:.1f} %; raw genuine median {np.median(gen):.1f}, impostor median "
        f"{np.median(imp):.1f}, impostor max {imp.max():.1f}; empty descriptors {sum(d.empty for d in ds)}"
    )
    print(
        f"under the SOCOFing development calibration: impostors >= 20 / 30: "
        f"{(s_imp >= 20).mean() * 100:.2f} % / {(s_imp >= 30).mean() * 100:.2f} %; genuine >= 20: "
        f"{(s_gen >= 20).mean() * 100:.1f} %"
    )
    print(
        f"under a calibration fitted on these impostors: genuine >= 10 / 20: {(o_gen >= 10).mean() * 100:.1f}"
        f" % / {(o_gen >= 20).mean() * 100:.1f} % (impostors >= 10: {(o_imp >= 10).mean() * 100:.1f} %)"
    )
    print(f"CPU: descriptor {d_cpu * 1000:.1f} ms per image, comparison {c_cpu * 1e6:.0f} us per pair")


FVC_DPI = {"fvc2002/DB2_B": 569.0, "fvc2004/DB3_B": 512.0}


class CroppedFvc:
    """Few-minutiae probes from real impressions: each FVC image cut to a ``crop`` x ``crop`` window
    (pixels at 500 ppi) centred on its foreground's centroid, LEADER run on the window, compared with the
    79 other whole images of the set (7 mates). Full-image templates are kept under ``cache``."""

    def __init__(self, name: str, crop: int, cache: Path, p: oe.OrientationParams) -> None:
        from crms.fingerprint.images import FingerImage

        self.name = name
        files = list_images(FVC / name)
        dpi = FVC_DPI.get(name, 500.0)
        finger = np.array([f.stem.split("_")[0] for f in files])
        self.mates = (finger[:, None] == finger[None, :]) & ~np.eye(len(files), dtype=bool)
        self.other = ~np.eye(len(files), dtype=bool)
        gallery_t, gallery_d, probe_t, probe_d = [], [], [], []
        folder = cache / ("fvc_" + name.replace("/", "_"))
        folder.mkdir(parents=True, exist_ok=True)
        for f in files:
            img = load_image(f, dpi, sandbox=False)
            out = folder / (f.stem + ".tpl")
            if not out.exists():
                out.write_bytes(dumps(ex.extract(img).template))
            gallery_t.append(loads(out.read_bytes()))
            ctx: dict = {"image": img.pixels}
            ex.step_segment(ctx, ex.DEFAULT_SEGMENT)
            gallery_d.append(oe.describe(img.pixels, ctx["mask"], p))
            ys, xs = np.nonzero(ctx["mask"])
            h, w = img.pixels.shape
            y0 = int(np.clip(ys.mean() - crop / 2, 0, h - crop))
            x0 = int(np.clip(xs.mean() - crop / 2, 0, w - crop))
            window = np.ascontiguousarray(img.pixels[y0 : y0 + crop, x0 : x0 + crop])
            small = FingerImage(window, img.dpi, "caller", (crop, crop), img.format)
            probe_t.append(ex.extract(small).template)
            probe_d.append(oe.describe_image(window, p))
        self.counts = np.array([t.count for t in probe_t])
        packed = matcher.pack(gallery_t)
        self.sm = np.array([matcher.score_many(t, packed) for t in probe_t])
        packed_o = oe.pack_fields(gallery_d, p)
        self.raw_o = np.array([oe.compare_many(d, packed_o, p) for d in probe_d])
        self.sm[~self.other] = -1.0  # a window never meets its own image
        self.raw_o[~self.other] = -1.0

    def impostors(self, few: int) -> np.ndarray:
        sel = self.counts < few
        return self.raw_o[sel][~self.mates[sel] & self.other[sel]]


def fvc_fewminutiae(
    sets: list[str], crop: int, cache: Path, p: oe.OrientationParams, f: oe.FusionParams
) -> None:
    data = [CroppedFvc(name, crop, cache, p) for name in sets]
    cal = oe.fit_calibration(data[0].impostors(f.max_probe_minutiae), f"{sets[0]} window impostors", tail=20)
    sum_cal = None
    if f.rule == "sum":
        d0, few = data[0], data[0].counts < f.max_probe_minutiae
        sums = d0.sm + oe.calibrate(np.maximum(d0.raw_o, 0.0), cal)
        sum_cal = oe.fit_calibration(sums[few][~d0.mates[few] & d0.other[few]], "window sums", tail=20)
    print(
        f"\n### FVC few-minutiae emulation: {crop} x {crop} px windows as probes against the other whole "
        f"images; orientation{' and sum' if sum_cal else ''} calibrated on {sets[0]} (its rows are not "
        f"held out); fusion rule {f.rule}\n"
    )
    print(
        "| set | probe minutiae | probes | rank-1 before | rank-1 after "
        "| impostors >= 20 / 30 before | after |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for d in data:
        so = oe.calibrate(np.maximum(d.raw_o, 0.0), cal)
        after = np.array([oe.fuse(d.sm[i], so[i], int(d.counts[i]), f, sum_cal) for i in range(len(d.sm))])
        after[~d.other] = -1.0
        hb, ha = rank1(d.sm, d.mates), rank1(after, d.mates)
        for label, sel in (
            ("0-4", d.counts <= 4),
            ("5-9", (d.counts >= 5) & (d.counts <= 9)),
            (f"< {f.max_probe_minutiae}", d.counts < f.max_probe_minutiae),
            ("all", d.counts >= 0),
        ):
            if not sel.any():
                continue
            imp = d.other[sel] & ~d.mates[sel]
            rb = " / ".join(f"{(d.sm[sel][imp] >= x).mean() * 100:.2f} %" for x in (20, 30))
            ra = " / ".join(f"{(after[sel][imp] >= x).mean() * 100:.2f} %" for x in (20, 30))
            print(
                f"| {d.name} | {label} | {int(sel.sum())} | {hb[sel].mean() * 100:.1f} % | "
                f"{ha[sel].mean() * 100:.1f} % | {rb} | {ra} |"
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dev", default="1-60")
    ap.add_argument("--test", default="61-120")
    ap.add_argument("--fuse-below", type=int, default=10)
    ap.add_argument("--rule", default="max", choices=["max", "sum"])
    ap.add_argument(
        "--fvc",
        default="fvc2002/DB1_B,fvc2002/DB3_B,fvc2004/DB2_B",
        help="FVC sets, comma-separated ('' to skip); 2002 DB1_B tuned the kernel",
    )
    ap.add_argument("--crop", type=int, default=128, help="FVC window side for the few-minutiae emulation")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "crms-socofing-rank1")
    a = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"shared data not found: {DATA}")
    ex.set_threads(1)
    p = oe.DEFAULT_ORIENTATION
    cache = template_cache(a.cache)
    cache.mkdir(parents=True, exist_ok=True)
    print(f"orientation {p}\n")
    dev = Half(parse_range(a.dev), cache, a.fuse_below, p)
    cal = oe.fit_calibration(dev.orientation_impostors(), f"SOCOFing {dev.name} few-minutiae impostors")
    f = oe.FusionParams(max_probe_minutiae=a.fuse_below, rule=a.rule)
    sum_cal = None
    if a.rule == "sum":
        so, _ = fused_scores(dev, cal, oe.FusionParams(max_probe_minutiae=a.fuse_below, rule="max"), None)
        sums = (dev.sm + so)[dev.few][~dev.mates[dev.few]]
        sum_cal = oe.fit_calibration(sums, "sum of minutiae and orientation scores, development impostors")
    print(
        f"calibration ({cal.fitted_on}): raw knots {np.round(cal.raw, 1).tolist()} -> scores "
        f"{list(cal.score)}, tail {cal.tail_slope:.3f} per raw unit"
    )
    report(dev, cal, f, sum_cal)
    test = Half(parse_range(a.test), cache, a.fuse_below, p)
    report(test, cal, f, sum_cal)
    fvc_sets = [x for x in a.fvc.split(",") if x]
    for name in fvc_sets:
        fvc_check(name, p, cal)
    if fvc_sets and a.crop:
        fvc_fewminutiae(fvc_sets, a.crop, a.cache, p, f)


if __name__ == "__main__":
    main()
