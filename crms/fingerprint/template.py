"""The fingerprint template: minutiae at 500 ppi, plus what the matcher derives from them.

Minutiae are a float32 array of shape (N, 5): x, y (pixels at 500 ppi, origin top-left),
direction (radians in [0, 2*pi), the ridge direction pointing away from the minutia, ISO 19794-2
convention: counter-clockwise from the positive x axis with y pointing down the image),
type (0 = other/unknown, 1 = ridge ending, 2 = bifurcation) and quality (0-100).
Serialisation lives in crms.fingerprint.serialise; matcher precomputation in crms.fingerprint.matcher.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MINUTIA_OTHER, MINUTIA_ENDING, MINUTIA_BIFURCATION = 0, 1, 2


@dataclass
class Template:
    width: int  # image width in pixels at 500 ppi
    height: int  # image height in pixels at 500 ppi
    minutiae: np.ndarray  # float32 (N, 5): x, y, direction, type, quality
    quality: int = 0  # 0-100, NFIQ 2 scale, of the print the template came from
    dpi: int = 500  # always 500 once normalised; kept for the record
    extras: dict = field(default_factory=dict)  # e.g. the matcher's precomputed data (not serialised)

    def __post_init__(self) -> None:
        m = np.asarray(self.minutiae, dtype=np.float32)
        if m.size == 0:
            m = m.reshape(0, 5)
        if m.ndim != 2 or m.shape[1] != 5:
            raise ValueError(f"minutiae must have shape (N, 5), got {m.shape}")
        self.minutiae = m

    @property
    def count(self) -> int:
        return int(self.minutiae.shape[0])
