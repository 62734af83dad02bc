"""The quality of a print at capture time, so the officer can take a poor finger again at once (the
template itself is extracted later, in the background). Uses the engine's quality score and enrolment
check (crms.fingerprint.quality); nothing is stored."""

from __future__ import annotations

from crms import fingerprint as fp


def capture_quality(image: bytes, *, ppi: float | None = None) -> dict:
    """``{"score": 0-100, "ok": bool, "reason": str, "threshold": int}`` for one fingerprint image."""
    finger = fp.load_image(image, dpi=ppi)  # normalised to 500 ppi
    q = fp.assess_quality(finger.pixels)
    ok, reason = fp.check_enrolment(q)
    return {"score": q.score, "ok": ok, "reason": reason, "threshold": fp.DEFAULT_ENROL_THRESHOLD}
