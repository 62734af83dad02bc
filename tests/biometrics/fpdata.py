"""Fingerprint test helpers: synthetic prints generated in code, and the shared data sets."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

SHARED_FP = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fingerprints"


def synthetic_print(width: int = 300, height: int = 360, period: float = 9.0, seed: int = 0) -> np.ndarray:
    """A finger-like pattern: curved ridges of the given period inside an elliptical pad, on white."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    cx, cy = width / 2, height * 0.55
    r = np.hypot(xx - cx, yy - cy) + 3 * np.sin(xx / 57.0 + seed) + 2 * np.cos(yy / 49.0)
    ridges = np.cos(2 * np.pi * r / period)
    pad = ((xx - cx) / (width * 0.42)) ** 2 + ((yy - height / 2) / (height * 0.46)) ** 2 <= 1
    img = np.where(pad, 128 - 100 * ridges, 255) + rng.normal(0, 6, size=ridges.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def encode(pixels: np.ndarray, fmt: str, dpi: float | None = None) -> bytes:
    import wsq  # noqa: F401
    from PIL import Image

    buf = io.BytesIO()
    kw = {"dpi": (dpi, dpi)} if dpi else {}
    Image.fromarray(pixels).save(buf, fmt, **kw)
    return buf.getvalue()


def fvc(year: str, db: str, name: str) -> Path:
    p = SHARED_FP / year / db / name
    if not p.exists():
        pytest.skip(f"shared data set not available: {p} (needs ../shared/data beside the project)")
    return p


def matcher_or_skip():
    try:
        from crms.fingerprint import matcher
    except ImportError:
        pytest.skip("crms.fingerprint.matcher is not available yet")
    return matcher
