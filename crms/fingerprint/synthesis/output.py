"""Writing synthetic prints: PNG at 500 ppi (the resolution recorded in the file) with FVC file names."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

SYNTH_DPI = 500


def fvc_name(finger: int, impression: int) -> str:
    """FVC naming, ``FINGER_IMPRESSION.png``, both numbered from 1 (finger 1, impression 1 is ``1_1.png``)."""
    if finger < 1 or impression < 1:
        raise ValueError("FVC finger and impression numbers start at 1")
    return f"{finger}_{impression}.png"


def png_bytes(image: np.ndarray, dpi: int = SYNTH_DPI) -> bytes:
    """Encode a uint8 gray image as PNG with its resolution in the pHYs chunk. Same pixels, same bytes."""
    if image.dtype != np.uint8 or image.ndim != 2:
        raise ValueError("image must be a 2-D uint8 array")
    buf = io.BytesIO()
    Image.fromarray(image, mode="L").save(buf, format="PNG", dpi=(dpi, dpi), optimize=False)
    return buf.getvalue()


def write_png(path: Path, image: np.ndarray, dpi: int = SYNTH_DPI) -> None:
    """Write ``image`` to ``path`` atomically (a temporary file renamed into place)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(png_bytes(image, dpi))
    tmp.replace(path)
