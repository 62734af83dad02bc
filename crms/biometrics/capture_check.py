"""The quality of a print at capture time, so the officer can take a poor finger again at once (the
template itself is extracted later, in the background). Uses the engine's quality score and enrolment
check (crms.fingerprint.quality); nothing is stored."""

from __future__ import annotations

from crms.fingerprint.images import TARGET_DPI, decode, resample
from crms.fingerprint.quality import DEFAULT_ENROL_THRESHOLD, assess, check_enrolment


def capture_quality(image: bytes, *, ppi: float | None = None) -> dict:
    """``{"score": 0-100, "ok": bool, "reason": str, "threshold": int}`` for one fingerprint image."""
    pixels, file_dpi, _ = decode(image)
    dpi = float(ppi or file_dpi or TARGET_DPI)
    if abs(dpi - TARGET_DPI) > 1:
        pixels = resample(pixels, dpi)
    q = assess(pixels)
    ok, reason = check_enrolment(q)
    return {"score": q.score, "ok": ok, "reason": reason, "threshold": DEFAULT_ENROL_THRESHOLD}
