"""Time per synthetic fingerprint: master generation, plain impressions and latent-like impressions.

One process, one OpenCV thread, numba compiled before timing. Reports wall-clock and CPU time per item.

  .venv/bin/python bench/synth_speed.py [--fingers 30] [--impressions 2] [--seed 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402

from crms.fingerprint.synthesis import generate_master, png_bytes, render_impression, render_latent  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fingers", type=int, default=30)
    ap.add_argument("--impressions", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    cv2.setNumThreads(1)
    render_impression(generate_master(a.seed, 10**6), 0)  # compile / load the numba kernels
    clocks = {k: [0.0, 0.0] for k in ("master", "impression", "latent", "png")}

    def timed(key, fn, *args):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn(*args)
        clocks[key][0] += time.perf_counter() - w0
        clocks[key][1] += time.process_time() - c0
        return out

    for i in range(a.fingers):
        m = timed("master", generate_master, a.seed, i)
        for k in range(a.impressions):
            img = timed("impression", render_impression, m, k)
            timed("png", png_bytes, img)
        timed("latent", render_latent, m, 0)
    n = {"master": a.fingers, "impression": a.fingers * a.impressions, "latent": a.fingers,
         "png": a.fingers * a.impressions}  # fmt: skip
    print(f"{a.fingers} fingers x {a.impressions} impressions, seed {a.seed}, one process, one thread")
    for key, (wall, cpu) in clocks.items():
        print(f"  {key:<11} {1000 * wall / n[key]:7.1f} ms wall  {1000 * cpu / n[key]:7.1f} ms CPU  per item")
    per_finger_cpu = (clocks["master"][1] + clocks["impression"][1] + clocks["png"][1]) / a.fingers
    per_image = per_finger_cpu / a.impressions
    print(
        f"  per finger with {a.impressions} impressions (PNG included): {1000 * per_finger_cpu:.0f} ms CPU, "
        f"i.e. {1000 * per_image:.0f} ms CPU per image"
    )
    print(
        f"  10,000 fingers x 2 impressions on 2 cores: about "
        f"{10_000 * (per_finger_cpu * 2 / a.impressions) / 2 / 60:.0f} min of CPU-bound work"
    )


if __name__ == "__main__":
    main()
