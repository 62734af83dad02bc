"""A gallery's own impostor scores, and the decision threshold they call for.

The decision threshold (:func:`crms.fingerprint.gallery.threshold_for_fpir`) models each finger's impostor
score by the matcher's calibration (a share 10^(-s/10) of impostors reach s), fitted on pooled FVC sets, and
a search of k fingers by the sum of k independent such scores. A sum of ten fingers magnifies any excess of
one sensor's impostors over that calibration: where they reach 10 half as often again as it promises, a
threshold promising a 1 % false-positive identification rate delivers about 10 % (docs/BENCHMARKS.md, "Does
the decision threshold keep its promise?"). So a gallery measures its own impostors (random pairs of
fingers of one position and two different persons, scored as a search scores them) and its threshold is the
higher of the model's and the one these measured scores call for; it is never lowered below the model's.

:class:`ImpostorProfile` holds such a sample: up to the point where ``TAIL_COUNT`` of them lie higher, their
own distribution; beyond it, the calibration's slope (a tenfold fall every 10 points) from the share
measured there, since a sample of thousands says nothing of one in a million. The distribution of a sum of
k fingers is its k-fold convolution, on a grid of ``STEP`` points that rounds every score up (so the sum's
tail is, if anything, overstated, and the threshold errs on the side of fewer false cases).
"""

from __future__ import annotations

import math

import numpy as np

PAIRS = 10_000  # pairs of two persons' fingers of one position a gallery scores to measure its impostors
MIN_PAIRS = 500  # fewer measured pairs (eleven persons of ten fingers give 550): the model's threshold alone
TAIL_COUNT = 50  # measured impostors above the point where the calibration's slope takes over
STEP = 0.1  # grid of the sum's distribution, in score points
TOP = 250.0  # one finger's scores are counted up to here (a share of 10^-20 of impostors beyond the tail)


class ImpostorProfile:
    """The measured single-finger impostor scores of one gallery and the sums of k of them."""

    def __init__(self, scores) -> None:
        s = np.sort(np.asarray(scores, dtype=np.float64).ravel())
        s = np.clip(s[np.isfinite(s)], 0.0, TOP)
        if s.size < MIN_PAIRS:
            raise ValueError(f"{s.size} impostor scores, at least {MIN_PAIRS} needed")
        self.scores = s  # sorted, for keeping with the gallery's snapshot
        self.pairs = int(s.size)
        self.median = float(np.median(s))
        grid = np.arange(0.0, TOP + STEP, STEP)
        survival = 1.0 - np.searchsorted(s, grid, side="left") / s.size  # P(score >= grid point)
        hand = s[-TAIL_COUNT]
        beyond = grid > hand
        survival[beyond] = (TAIL_COUNT / s.size) * 10.0 ** (-(grid[beyond] - hand) / 10.0)
        survival = np.minimum.accumulate(survival)
        # the mass of [g - STEP, g) is put on g: every score rounded up to the grid (none below 0)
        self._mass = np.clip(np.concatenate([[0.0], survival[:-1] - survival[1:]]), 0.0, None)
        self._sums: dict[int, np.ndarray] = {}

    def _sum_survival(self, fingers: int) -> np.ndarray:
        """P(sum of ``fingers`` impostor scores >= i * STEP) for every i."""
        k = max(1, fingers)
        if k not in self._sums:
            n = self._mass.size * k
            size = 1 << (n - 1).bit_length()
            pmf = np.fft.irfft(np.fft.rfft(self._mass, size) ** k, size)[:n]
            pmf = np.clip(pmf, 0.0, None)
            self._sums[k] = np.minimum(1.0, np.cumsum(pmf[::-1])[::-1])
        return self._sums[k]

    def sum_tail(self, score: float, fingers: int = 1) -> float:
        """Chance that the summed scores of ``fingers`` impostor comparisons reach ``score``."""
        surv = self._sum_survival(fingers)
        i = max(0, math.ceil(score / STEP - 1e-9))
        return float(surv[i]) if i < surv.size else 0.0

    def measured_threshold(self, fpir: float, persons: int, fingers: int = 1) -> float:
        """The lowest score at which ``persons`` * P(sum >= score) is at most ``fpir``."""
        surv = self._sum_survival(fingers)
        ok = np.flatnonzero(max(1, persons) * surv <= fpir)
        return round(float(ok[0]) * STEP, 2) if ok.size else round(surv.size * STEP, 2)


def profile_of(scores) -> ImpostorProfile | None:
    """A profile of the measured scores, or None when they are too few to measure by."""
    n = int(np.count_nonzero(np.isfinite(np.asarray(scores, dtype=np.float64))))
    return ImpostorProfile(scores) if n >= MIN_PAIRS else None
