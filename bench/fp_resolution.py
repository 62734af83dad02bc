"""Error of the resolution estimate (crms.fingerprint.images.estimate_dpi) against known resolutions.

    .venv/bin/python bench/fp_resolution.py [--per-set 40] [--socofing 400]

Sets and their true resolutions: the 8 FVC B sets (FVC.md), SOCOFing Real and Altered-Easy (about 170
ppi for the 96 x 103 prints, about 480 for the 241 x 298 ones: SOCOFING.md; both figures come from the
ridge period measured on the images, so they are the reference the estimate is held to, not an
independent calibration) and the NIST reference prints (ten-print card and latent pair, 500 ppi).
Also says, per set, how the file's tag is judged (``plausible_tag``) and what ``load_image`` uses
when no resolution is given, and the lowest ridge clarity of the part the estimate reads (the estimate is
not made below ``MIN_ESTIMATE_CLARITY``). Then the same for synthetic prints washed out (blurred, a tenth of
their contrast), where the estimate must be refused. Prints Markdown tables for docs/BENCHMARKS.md.
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
    ap.add_argument("--washed", type=int, default=24, help="synthetic prints washed out")
    a = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"shared data not found: {DATA}")
    print(f"load average {os.getloadavg()[0]:.1f} at start")
    print(
        "| set | true ppi | images | median estimate | median abs error | 95th pct abs error | max abs error "
        "| within 10 % | lowest clarity | tag | resolution used without --dpi |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    all_err = []
    cpu = 0.0
    n_img = 0
    for name, truth, files in sets(a.per_set, a.socofing):
        est, used, tags, clarity = [], [], [], []
        for f in files:
            pixels, tag, _ = im.decode(f.read_bytes(), str(f))
            t0 = time.process_time()
            try:
                e = im.estimate_dpi(pixels)
            except im.ImageError:  # ridges too unclear to measure: counted as a 100 % error
                e = 2 * truth
            cpu += time.process_time() - t0
            n_img += 1
            est.append(e)
            clarity.append(im.ridge_clarity(pixels))
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
            f"| {min(clarity):.3f} | {'/'.join(tag_txt)} | {' + '.join(hows)}: median error "
            f"{np.median(used_err):.1f} %, max {used_err.max():.1f} % |"
        )
    e = np.concatenate(all_err)
    print(
        f"\nall: {e.size} images, median abs error {np.median(e):.1f} %, 95th percentile "
        f"{np.percentile(e, 95):.1f} %, within 10 %: {(e <= 10).mean() * 100:.1f} %; "
        f"estimate {cpu / max(1, n_img) * 1000:.1f} ms CPU per image; "
        f"load average {os.getloadavg()[0]:.1f} at end"
    )
    washed_out(a.washed)


def washed_out(n: int) -> None:
    """Synthetic prints (crms.fingerprint.synthesis) blurred by σ px to a tenth of their contrast: their
    ridge clarity, and what ``choose_dpi`` makes of them tagged 500 ppi and untagged."""
    import cv2

    from crms.fingerprint.synthesis import generate_master, render_impression

    print(f"\nwashed-out synthetic prints (threshold {im.MIN_ESTIMATE_CLARITY}):\n")
    print(
        "| blur σ (px) | prints | clarity min / median / max | estimate without the clarity check "
        "| tagged 500: used | untagged: used |"
    )
    print("|---:|---:|---|---|---|---|")
    prints = [render_impression(generate_master(seed=s, finger_index=s % 10), 0) for s in range(n)]
    for sigma in (0, 2, 4):
        c, raw, tagged, untagged = [], [], [], []
        for p in prints:
            x = cv2.GaussianBlur(p, (0, 0), sigma) if sigma else p
            x = (200 + x // 10).astype(np.uint8)
            c.append(im.ridge_clarity(x))
            raw.append(im.estimate_dpi(x, min_clarity=0))
            tagged.append(im.choose_dpi(x, 500.0, None))
            untagged.append(im.choose_dpi(x, None, None))

        def said(chosen: list) -> str:
            hows = sorted({h for _, h, _, _ in chosen})
            return ", ".join(
                f"{h} {sum(x[1] == h for x in chosen)} ({_span([x[0] for x in chosen if x[1] == h])})"
                for h in hows
            )

        print(f"| {sigma} | {n} | {min(c):.3f} / {np.median(c):.3f} / {max(c):.3f} | {_span(raw)} "
              f"| {said(tagged)} | {said(untagged)} |")  # fmt: skip


def _span(values: list[float]) -> str:
    return (
        f"{min(values):.0f} ppi" if min(values) == max(values) else f"{min(values):.0f}-{max(values):.0f} ppi"
    )


if __name__ == "__main__":
    main()
