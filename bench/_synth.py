"""What the synthetic-set benches share: a command line of named variants, and how dense minutiae lie."""

from __future__ import annotations

import argparse

import numpy as np


def hull_density(xy: np.ndarray) -> float | None:
    """Minutiae per 10,000 px² of their convex hull (None for fewer than three)."""
    import cv2

    if len(xy) < 3:
        return None
    area = cv2.contourArea(cv2.convexHull(np.ascontiguousarray(xy, dtype=np.float32)))
    return len(xy) / max(area, 1.0) * 10_000


def variant_args(doc: str, variants: dict, masters: int) -> tuple[argparse.Namespace, list[str]]:
    """The options --masters, --variants (names joined by commas; all by default) and --processes, and the
    variants named, each one of ``variants`` (else the program exits naming the ones it knows)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--masters", type=int, default=masters)
    ap.add_argument("--variants", default=",".join(variants))
    ap.add_argument("--processes", type=int, default=2)
    a = ap.parse_args()
    names = [v.strip() for v in a.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in variants]
    if unknown:
        raise SystemExit(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(variants)}")
    return a, names
