"""Named, frozen parameters of the extraction steps and of the matcher.

pyfing's model: an algorithm is a function of its input and of one parameter object. Here every step of
an extraction pipeline and the matcher take such an object; it is a ``dataclass(frozen=True)``, so a
variant is made with :func:`dataclasses.replace` and nothing changes the parameters of an algorithm that
is cached and shared (the pyfing algorithm objects are cached per parameter object, which is hashable).
The defaults are the values the figures in docs/BENCHMARKS.md were measured with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np


@dataclass(frozen=True)
class PyfingParams:
    """A pyfing algorithm (``Gmfs``, ``Gbfoe``, ``Xsffe``, ``Gbfen``, ``Sbmex``) with the values of its
    ``<Name>Parameters`` that differ from pyfing's defaults. Images are always at 500 ppi here."""

    algorithm: str
    values: tuple[tuple[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"algorithm": self.algorithm, **dict(self.values)}


@dataclass(frozen=True)
class SegmentParams:
    """GMFS segmentation (pyfing ``GmfsParameters``): gradient magnitude averaged by a Gaussian of
    ``sigma``, thresholded at ``threshold`` times its ``percentile``, closed and opened."""

    sigma: float = 13 / 3
    percentile: float = 95
    threshold: float = 0.2
    closing_count: int = 6
    opening_count: int = 12

    def as_pyfing(self) -> PyfingParams:
        return PyfingParams(
            "Gmfs",
            (
                ("sigma", self.sigma),
                ("percentile", self.percentile),
                ("threshold", self.threshold),
                ("closing_count", self.closing_count),
                ("opening_count", self.opening_count),
                ("image_dpi", 500),
            ),
        )


@dataclass(frozen=True)
class LeaderParams:
    """LEADER end-to-end minutiae (pyfing ``LeaderParameters``), run in ONNX Runtime.

    ``crop_margin``: the network reads the foreground's bounding box widened by that many pixels, the
    window's edges on the network's grid (its minutiae are then those of the whole image but for a few
    near the window's edge, docs/BENCHMARKS.md); None runs it on the whole image (``leader_full``)."""

    minutia_quality_threshold: float = 0.6  # pyfing's default; see docs/BENCHMARKS.md
    type_threshold: float = 0.5
    input_size_multiple: int = 32  # the network's input sides are multiples of this (pyfing pads)
    crop_margin: int | None = 64
    # The network reads the image scaled by this factor (area interpolation; positions scaled back).
    network_scale: float = 1.0
    # LEADER's weights with a shipped adaptation's layers (``leader_weights.ADAPTED``), e.g. the network
    # retrained to read images scaled by 0.75; None: pyfing's weights as they are.
    adapted: str | None = None
    # Images enlarged from below ``low_res_below_dpi`` (their ridges blurred by the enlargement) take
    # ``low_res_threshold`` instead, when set: the network is less sure of their minutiae.
    low_res_threshold: float | None = 0.35  # bench/socofing_rank1.py; None: one threshold for all
    low_res_below_dpi: float = 350.0
    # A print left with fewer than ``min_minutiae`` minutiae at its threshold (an obliterated or small
    # print) is run again at ``fill_threshold`` and keeps its best ``min_minutiae`` down to that
    # quality: a few uncertain minutiae rank its mate better than too few to search with. Prints with
    # enough minutiae are untouched. None: no filling. 8: no FVC set worse, FVC2002 DB3 better, fewer
    # SOCOFing misses (docs/BENCHMARKS.md, "Few minutiae: filling"); 10 cost FVC2004 DB2 a genuine pair.
    min_minutiae: int | None = 8
    fill_threshold: float = 0.1

    def threshold_for(self, source_dpi: float | None) -> float:
        """The quality threshold for an image of this source resolution."""
        if (
            self.low_res_threshold is not None
            and source_dpi is not None
            and source_dpi < self.low_res_below_dpi
        ):
            return self.low_res_threshold
        return self.minutia_quality_threshold


@dataclass(frozen=True)
class QualityParams:
    """Print quality (:mod:`crms.fingerprint.quality`): blocks of ``block`` pixels at 500 ppi; a block's
    contrast is full at a gray-level deviation of ``full_contrast``; the score is full at a mean clarity
    of ``full_clarity`` over an area of ``full_area_mm2`` or more."""

    block: int = 16
    full_contrast: float = 40.0
    full_clarity: float = 0.9
    full_area_mm2: float = 150.0


@dataclass(frozen=True)
class TemplateParams:
    """From raw minutiae to a template: minutiae within ``border_px`` (pixels at 500 ppi) of the
    segmentation border are dropped; at most ``max_minutiae`` are kept (the best by quality)."""

    border_px: int = 6
    max_minutiae: int = 150


@dataclass(frozen=True)
class MatcherParams:
    """Geometric consolidation of the MCC matcher (see :mod:`crms.fingerprint.matcher`).

    The compiled kernels take these values as one float64 array in field order (``as_array``); the
    cylinder geometry itself (radius, cells, sigmas) is compiled in (``_kernels``' MCC constants)."""

    pair_tolerance_px: float = 6.0  # distance two aligned minutiae may be apart at the alignment centre
    tolerance_slope: float = 0.05  # ... growing by this many pixels per pixel from the centre
    min_direction_cos: float = math.cos(math.pi / 6)  # paired directions differ by at most 30 degrees
    hull_margin_px: float = 8.0  # a minutia counts as inside the other print's hull within this margin
    min_pair_similarity: float = 0.0  # pairs of lower local similarity are not paired
    anchors: int = 8  # most similar local pairs tried as alignment anchors
    refined: int = 3  # best anchor alignments refitted by least squares
    select_by_support: bool = True  # pick the winner by support alone; overlap of the winner only
    early_exit_below: float = 2.0  # no refinement when the best anchor pairs less similarity than this
    early_exit_after: int = 4  # ... checked after this many anchors (and after all of them)
    _array: np.ndarray = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        vals = [float(getattr(self, f.name)) for f in fields(self) if not f.name.startswith("_")]
        object.__setattr__(self, "_array", np.array(vals, dtype=np.float64))

    def as_array(self) -> np.ndarray:
        """The kernels' argument (a copy: the cached one is never handed out for changes)."""
        return self._array.copy()

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}


DEFAULT_MATCHER = MatcherParams()


def as_dict(p: Any) -> dict[str, Any]:
    """JSON-ready view of any parameter object above."""
    if hasattr(p, "as_dict"):
        return p.as_dict()
    return {f.name: getattr(p, f.name) for f in fields(p)}
