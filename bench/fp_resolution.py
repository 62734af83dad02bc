"""Error of the resolution estimate (crms.fingerprint.images.estimate_dpi) against known resolutions.

    .venv/bin/python bench/fp_resolution.py [--per-set 40] [--socofing 400]

Sets and their true resolutions: the 8 FVC B sets (FVC.md), SOCOFing Real and Altered-Easy (about 170
ppi for the 96 x 103 prints, about 480 for the 241 x 298 ones: SOCOFING.md; both figures come from the
ridge period measured on the images, so they are the reference the estimate is held to, not an
independent calibration) and the NIST reference prints (ten-print card and latent pair, 500 ppi).
Also says, per set, how the file's tag is judged (``plausible_tag``) and what ``load_image`` uses
when no resolution is given. Prints a Markdown table for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fp_eval import DATA  # noqa: E402
from fp_eval import SETS as FVC  # noqa: E402

from crms.fingerprint import images as im  # noqa: E402

SOCO_SMALL, SOCO_LARGE = 170.0, 480.0


def sets(per_set: int, socofing: int) -> list[tuple[str, float, list[Path]]]:
    out = []
    for year, db, dpi in FVC:
        files = im.list_images(DATA / year / db)
        out.append((f"{year} {db}", float(dpi), files[:: max(1, len(files) // per_set)][:per_set]))
    for folder in ("Real", "Altered-Easy"):
        files = im.list_images(DATA / "socofing" / folder)
        small, large = [], []
        for f in files:
            with open(f, "rb") as fh:
                head = fh.read(24)
            w, h = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")  # PNG IHDR
            (large if (w, h) == (241, 298) else small).append(f)
        step = max(1, len(small) // socofing)
        out.append((f"SOCOFing {folder} 96x103", SOCO_SMALL, small[::step][:socofing]))
        out.append((f"SOCOFing {folder} 241x298", SOCO_LARGE, large))
    nist = DATA / "nist_ansi_itl_reference"
    out.append(("NIST ten-print card + latent pair", 500.0, im.list_images(nist / "tenprint_card")
                + im.list_images(nist / "latent_match")))  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-set", type=int, default=40)
    ap.add_argument("--socofing", type=int, default=400, help="96x103 prints sampled per SOCOFing folder")
    a = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"shared data not found: {DATA}")
    print(f"load average {os.getloadavg()[0]:.1f} at start")
    print(
        "| set | true ppi | images | median estimate | median abs error | 95th pct abs error | max abs error "
        "| within 10 % | tag | resolution used without --dpi |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    all_err = []
    cpu = 0.0
    n_img = 0
    for name, truth, files in sets(a.per_set, a.socofing):
        est, used, tags = [], [], []
        for f in files:
            pixels, tag, _ = im.decode(f.read_bytes(), str(f))
            t0 = time.process_time()
            e = im.estimate_dpi(pixels)
            cpu += time.process_time() - t0
            n_img += 1
            est.append(e)
            dpi, how, _reason, _ = im.choose_dpi(pixels, tag, None)
            used.append((dpi, how))
            tags.append(tag)
        est_a = np.array(est)
        err = np.abs(est_a / truth - 1) * 100
        all_err.append(err)
        hows = sorted({h for _, h in used})
        used_err = np.abs(np.array([d for d, _ in used]) / truth - 1) * 100
        tag_txt = sorted({f"{t:g}" if t else "none" for t in tags})
        print(
            f"| {name} | {truth:g} | {len(files)} | {np.median(est_a):.0f} | {np.median(err):.1f} % "
            f"| {np.percentile(err, 95):.1f} % | {err.max():.1f} % | {(err <= 10).mean() * 100:.0f} % "
            f"| {'/'.join(tag_txt)} | {' + '.join(hows)}: median error {np.median(used_err):.1f} %, "
            f"max {used_err.max():.1f} % |"
        )
    e = np.concatenate(all_err)
    print(
        f"\nall: {e.size} images, median abs error {np.median(e):.1f} %, 95th percentile "
        f"{np.percentile(e, 95):.1f} %, within 10 %: {(e <= 10).mean() * 100:.1f} %; "
        f"estimate {cpu / max(1, n_img) * 1000:.1f} ms CPU per image; "
        f"load average {os.getloadavg()[0]:.1f} at end"
    )


if __name__ == "__main__":
    main()
