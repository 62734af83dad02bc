"""Pictures for docs/: one master per class, and impressions plus latent-like prints of one finger.

  .venv/bin/python bench/synth_pictures.py [--seed 2026] [--out docs/img]

Writes synth_masters.png and synth_finger.png (each kept under 300 KB by scaling). Labels are drawn with
OpenCV's Hershey font, so the pictures depend on nothing outside the project.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from crms.fingerprint.synthesis import CLASSES, generate_master, render_impression, render_latent  # noqa: E402
from crms.fingerprint.synthesis.output import png_bytes  # noqa: E402

LIMIT = 300 * 1024


def label(img: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((26, img.shape[1]), 255, np.uint8)
    cv2.putText(bar, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 0, 1, cv2.LINE_AA)
    return np.vstack([bar, img])


def master_picture(m) -> np.ndarray:
    img = np.clip(235 - 170 * np.clip(m.ridges, 0, 1) * m.mask + 0 * m.mask, 0, 255).astype(np.uint8)
    img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    for x, y in m.singular_points.cores:
        cv2.circle(img, (int(x), int(y)), 7, (0, 0, 220), 2, cv2.LINE_AA)
    for x, y in m.singular_points.deltas:
        p = np.array([[x, y - 8], [x - 7, y + 5], [x + 7, y + 5]], np.int32)
        cv2.polylines(img, [p], True, (0, 160, 0), 2, cv2.LINE_AA)
    return img


def save(path: Path, img: np.ndarray) -> None:
    scale = 1.0
    while True:
        small = (
            img if scale == 1.0 else cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        )
        ok, buf = cv2.imencode(".png", small, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        if len(buf) <= LIMIT:
            path.write_bytes(buf.tobytes())
            print(f"{path}: {small.shape[1]}x{small.shape[0]}, {len(buf) // 1024} KB (scale {scale:.2f})")
            return
        scale *= 0.9


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    cv2.setNumThreads(1)
    rows = []
    for i, cls in enumerate(CLASSES):
        m = generate_master(a.seed, i, cls)
        pic = master_picture(m)
        bar = np.full((26, pic.shape[1], 3), 255, np.uint8)
        cv2.putText(
            bar, cls.replace("_", " "), (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA
        )
        rows.append(np.vstack([bar, pic]))
    save(a.out / "synth_masters.png", np.hstack(rows))

    m = generate_master(a.seed, 7, "left_loop")
    imps = [label(render_impression(m, k), f"impression {k + 1}") for k in range(5)]
    lats = [render_latent(m, k) for k in range(3)]
    lats = [
        label(cv2.resize(x, (288, 360), interpolation=cv2.INTER_AREA), f"latent {k + 1}")
        for k, x in enumerate(lats)
    ]
    h = max(t.shape[0] for t in imps + lats)
    pad = lambda t: np.vstack([t, np.full((h - t.shape[0], t.shape[1]), 255, np.uint8)])  # noqa: E731
    top = np.hstack([pad(t) for t in imps[:4]])
    bottom = np.hstack([pad(imps[4])] + [pad(t) for t in lats])
    sheet = np.vstack([top, np.full((8, top.shape[1]), 255, np.uint8), bottom])
    save(a.out / "synth_finger.png", sheet)
    assert png_bytes(render_impression(m, 0)) == png_bytes(render_impression(m, 0))


if __name__ == "__main__":
    main()
