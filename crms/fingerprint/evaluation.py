"""FVC-protocol evaluation: all pairs i<j of a set, genuine = same finger; EER, FMR100, FMR1000, ZeroFMR.

EER follows the FVC2000 definition (Maio et al. 2002), as in ../shared/data/fingerprints/PEERS.md:
t1 = max{t : FNMR(t) <= FMR(t)}, t2 = min{t : FNMR(t) >= FMR(t)}; [EERlow, EERhigh] is taken at
whichever of t1, t2 has the smaller FMR + FNMR, and EER is their mean. A comparison matches when
score >= t. All rates are fractions here; the CLI prints percent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_NAME = re.compile(r"^(?P<finger>.+)_(?P<impression>[^_]+)$")


@dataclass
class Metrics:
    genuine: int
    impostor: int
    eer: float
    eer_low: float
    eer_high: float
    fmr100: float
    fmr1000: float
    zerofmr: float


def _rates(gen: np.ndarray, imp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FMR(t) and FNMR(t) at every distinct score and one threshold above all (vectorised)."""
    g = np.sort(np.asarray(gen, dtype=np.float64))
    i = np.sort(np.asarray(imp, dtype=np.float64))
    if g.size == 0 or i.size == 0:
        raise ValueError("need at least one genuine and one impostor score")
    if not (np.all(np.isfinite(g)) and np.all(np.isfinite(i))):
        raise ValueError("scores must be finite numbers")
    t = np.unique(np.concatenate([g, i]))
    t = np.append(t, np.inf)  # a threshold no score reaches: FMR = 0, FNMR = 1
    fnmr = np.searchsorted(g, t, side="left") / g.size  # genuine scores below t
    fmr = (i.size - np.searchsorted(i, t, side="left")) / i.size  # impostor scores at or above t
    return t, fmr, fnmr


def lowest_fnmr_at(fmr: np.ndarray, fnmr: np.ndarray, max_fmr: float) -> float:
    ok = fmr <= max_fmr + 1e-12
    return float(fnmr[ok].min())  # the +inf threshold always qualifies


def compute_metrics(gen: np.ndarray, imp: np.ndarray) -> Metrics:
    t, fmr, fnmr = _rates(gen, imp)
    k1 = np.nonzero(fnmr <= fmr)[0]  # FNMR rises and FMR falls with t: the last such index is t1
    k2 = np.nonzero(fnmr >= fmr)[0]  # the first such index is t2 (the +inf threshold always qualifies)
    i2 = int(k2[0])
    if k1.size:
        i1 = int(k1[-1])
        if fmr[i1] + fnmr[i1] <= fmr[i2] + fnmr[i2]:
            low, high = fnmr[i1], fmr[i1]
        else:
            low, high = fmr[i2], fnmr[i2]
    else:
        low, high = fmr[i2], fnmr[i2]
    return Metrics(
        genuine=int(np.size(gen)),
        impostor=int(np.size(imp)),
        eer=float((low + high) / 2),
        eer_low=float(low),
        eer_high=float(high),
        fmr100=lowest_fnmr_at(fmr, fnmr, 0.01),
        fmr1000=lowest_fnmr_at(fmr, fnmr, 0.001),
        zerofmr=lowest_fnmr_at(fmr, fnmr, 0.0),
    )


def finger_of(path: str | Path) -> str:
    """The FINGER part of a ``FINGER_IMPRESSION.ext`` file name."""
    stem = Path(path).stem
    m = _NAME.match(stem)
    if not m:
        raise ValueError(f"{Path(path).name}: expected a name like FINGER_IMPRESSION.ext (e.g. 101_1.png)")
    return m.group("finger")


def fvc_pairs(fingers: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs i<j: index arrays (i, j) and a boolean genuine mask."""
    n = len(fingers)
    ii, jj = np.triu_indices(n, k=1)
    f = np.asarray(fingers)
    return ii, jj, f[ii] == f[jj]


def score_all_pairs(prepared: list, score_many) -> np.ndarray:
    """Scores of all pairs i<j in ``np.triu_indices`` order, one ``score_many`` call per probe."""
    n = len(prepared)
    out = []
    for i in range(n - 1):
        out.append(np.asarray(score_many(prepared[i], prepared[i + 1 :]), dtype=np.float64).reshape(-1))
    return np.concatenate(out) if out else np.zeros(0)


def compare_timed(prepared: list, score_many) -> tuple[np.ndarray, float]:
    """``score_all_pairs`` and its wall time, the compiled kernels warmed up first.

    The matcher's kernels are compiled (or loaded from numba's cache) on their first call; one untimed
    comparison of the first two templates makes sure that the time is comparison time only."""
    import time

    if len(prepared) >= 2:
        score_many(prepared[0], prepared[1:2])  # warm-up: compile or load the kernels, outside the clock
    t0 = time.perf_counter()
    scores = score_all_pairs(prepared, score_many)
    return scores, time.perf_counter() - t0


def evaluate_folder(folder: Path, dpi: float | str | None = None, processes: int | None = None) -> dict:
    """The FVC protocol on a folder of ``FINGER_IMPRESSION.ext`` images: the JSON-ready summary (rates in
    percent, their keys ending ``_percent``; mean extraction ms per image, mean comparison µs per pair with
    numba's compilation excluded). Raises ValueError with the reason when the folder cannot be evaluated or
    an image cannot be read."""
    from crms.fingerprint import matcher
    from crms.fingerprint.images import list_images
    from crms.fingerprint.serialise import loads
    from crms.fingerprint.workers import extract_many

    folder = Path(folder)
    files = list_images(folder)
    if len(files) < 2:
        raise ValueError(f"{folder}: need at least two images named FINGER_IMPRESSION.ext")
    fingers = [finger_of(f) for f in files]
    _, _, genuine = fvc_pairs(fingers)
    if not genuine.any() or genuine.all():
        raise ValueError(f"{folder}: need both genuine pairs (same FINGER) and impostor pairs")
    results = extract_many(files, dpi, processes)
    for r in results:
        if r.error:
            raise ValueError(r.error)
    prepared = [matcher.prepare(loads(r.template)) for r in results]
    scores, compare_s = compare_timed(prepared, matcher.score_many)
    m = compute_metrics(scores[genuine], scores[~genuine])
    return {
        "images": len(files),
        "genuine": m.genuine,
        "impostor": m.impostor,
        "eer_percent": round(100 * m.eer, 3),
        "fmr100_percent": round(100 * m.fmr100, 3),
        "fmr1000_percent": round(100 * m.fmr1000, 3),
        "zerofmr_percent": round(100 * m.zerofmr, 3),
        "extract_ms": round(float(np.mean([r.ms for r in results])), 1),
        "compare_us": round(compare_s / max(1, scores.size) * 1e6, 2),
        "resolution": resolution_summary(results),
    }


def resolution_summary(results: list) -> dict:
    """Resolutions used over a set of extractions: images per source (``caller``, ``file``, ``estimated``,
    ``default``) and the range of ppi of each."""
    out: dict = {}
    for r in results:
        e = out.setdefault(r.dpi_source, {"images": 0, "min_dpi": r.dpi, "max_dpi": r.dpi})
        e["images"] += 1
        e["min_dpi"], e["max_dpi"] = min(e["min_dpi"], r.dpi), max(e["max_dpi"], r.dpi)
    return out
