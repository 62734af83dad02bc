"""Print quality: a local quality map and a 0-100 score on the NFIQ 2 scale, with an enrolment check.

This is not NFIQ 2 itself (no NIST model is used): it is a transparent score built from the same kind of
features NFIQ 2 uses (foreground area, orientation certainty of the ridge flow, ridge/valley contrast),
mapped to 0-100 so that thresholds read like NFIQ 2 ones (good optical prints ~50-80, poor ones < 20).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crms.fingerprint.params import QualityParams

DEFAULT_QUALITY = QualityParams()
BLOCK = DEFAULT_QUALITY.block  # pixels at 500 ppi
FULL_AREA_MM2 = DEFAULT_QUALITY.full_area_mm2  # a plain impression of this area or more is "complete"
DEFAULT_ENROL_THRESHOLD = 20
MIN_CLARITY = 0.45  # below this mean local quality the ridges are called unclear


@dataclass
class QualityResult:
    score: int  # 0-100
    local: np.ndarray  # float32 (H/BLOCK, W/BLOCK) in [0, 1]; 0 = background
    area_mm2: float
    clarity: float  # mean local quality over the foreground, 0-1


def simple_mask(pixels: np.ndarray) -> np.ndarray:
    """Foreground mask from the local gradient energy (used when no segmentation step ran)."""
    import cv2

    img = pixels.astype(np.float32)
    gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
    energy = cv2.boxFilter(gx * gx + gy * gy, -1, (BLOCK * 2 + 1, BLOCK * 2 + 1))
    thr = 0.15 * float(np.percentile(energy, 95))
    mask = (energy > thr).astype(np.uint8) * 255
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((BLOCK, BLOCK), np.uint8))


def local_quality(
    pixels: np.ndarray, mask: np.ndarray | None = None, p: QualityParams = DEFAULT_QUALITY
) -> np.ndarray:
    """Per-block quality in [0, 1]: orientation coherence x contrast, zero outside the mask."""
    import cv2

    block = p.block
    if mask is None:
        mask = simple_mask(pixels)
    img = pixels.astype(np.float32)
    gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
    h, w = img.shape
    bh, bw = h // block, w // block
    if bh == 0 or bw == 0:
        return np.zeros((max(bh, 1), max(bw, 1)), np.float32)

    def blocks(a: np.ndarray) -> np.ndarray:
        return a[: bh * block, : bw * block].reshape(bh, block, bw, block).mean(axis=(1, 3))

    # Smooth the structure tensor over 2x2 blocks for a stabler coherence.
    gxx, gyy, gxy = (cv2.blur(a, (block * 2, block * 2)) for a in (gx * gx, gy * gy, gx * gy))
    gxx, gyy, gxy = blocks(gxx), blocks(gyy), blocks(gxy)
    coh = np.sqrt((gxx - gyy) ** 2 + 4 * gxy**2) / np.maximum(gxx + gyy, 1e-6)
    std = np.sqrt(np.maximum(blocks(img * img) - blocks(img) ** 2, 0))
    contrast = np.clip(std / p.full_contrast, 0, 1)
    fg = blocks((mask > 0).astype(np.float32)) > 0.5
    q = np.clip(coh, 0, 1) * contrast
    return np.where(fg, q, 0).astype(np.float32)


def assess(
    pixels: np.ndarray, mask: np.ndarray | None = None, dpi: float = 500.0, p: QualityParams = DEFAULT_QUALITY
) -> QualityResult:
    """Quality of a 500 ppi print (``dpi`` is only used to convert the area to mm²)."""
    local = local_quality(pixels, mask, p)
    fg = local > 0
    px_mm = dpi / 25.4
    area = float(fg.sum()) * p.block * p.block / (px_mm * px_mm)
    clarity = float(local[fg].mean()) if fg.any() else 0.0
    # Clarity dominates; a small area caps the score (partial prints carry fewer minutiae).
    area_factor = min(1.0, area / p.full_area_mm2) ** 0.5
    score = int(round(100 * min(1.0, clarity / p.full_clarity) * area_factor))
    return QualityResult(score=max(0, min(100, score)), local=local, area_mm2=area, clarity=clarity)


def enrolment_problems(q: QualityResult, threshold: int = DEFAULT_ENROL_THRESHOLD) -> list[dict]:
    """Why a print may not be enrolled, as data a page can put in the officer's language: an empty list
    when ``q.score`` meets ``threshold``, else one or more of ``{"code": "small_area", "area_mm2",
    "want_mm2"}``, ``{"code": "unclear_ridges", "clarity", "want"}`` and, when neither applies,
    ``{"code": "low_quality"}``."""
    if q.score >= threshold:
        return []
    problems: list[dict] = []
    if q.area_mm2 < FULL_AREA_MM2 * 0.5:
        problems.append(
            {"code": "small_area", "area_mm2": round(q.area_mm2), "want_mm2": round(FULL_AREA_MM2)}
        )
    if q.clarity < MIN_CLARITY:
        problems.append({"code": "unclear_ridges", "clarity": round(q.clarity, 2), "want": MIN_CLARITY})
    return problems or [{"code": "low_quality"}]


def problem_text(problem: dict) -> str:
    """One of :func:`enrolment_problems` in English words."""
    code = problem["code"]
    if code == "small_area":
        return f"small fingerprint area ({problem['area_mm2']:.0f} mm², want {problem['want_mm2']:.0f})"
    if code == "unclear_ridges":
        return f"unclear ridges (clarity {problem['clarity']:.2f}, want {problem['want']:.2f} or more)"
    return "overall quality too low"


def enrolment_reason(q: QualityResult, problems: list[dict], threshold: int = DEFAULT_ENROL_THRESHOLD) -> str:
    """In words, the verdict of ``problems`` (:func:`enrolment_problems` of ``q`` at ``threshold``)."""
    if not problems:
        return f"quality {q.score} meets the enrolment threshold {threshold}"
    reasons = "; ".join(problem_text(p) for p in problems)
    return f"quality {q.score} is below the enrolment threshold {threshold}: {reasons}"


def check_enrolment(q: QualityResult, threshold: int = DEFAULT_ENROL_THRESHOLD) -> tuple[bool, str]:
    """Whether a print may be enrolled; when not, the reason in words (:func:`enrolment_problems`)."""
    problems = enrolment_problems(q, threshold)
    return not problems, enrolment_reason(q, problems, threshold)
