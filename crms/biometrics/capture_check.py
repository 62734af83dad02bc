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


def no_fingerprint(pixels) -> str | None:
    """Why the decoded image (uint8 gray-scale, any resolution) holds no fingerprint at all, or None.

    Blank is one uniform shade (an all-white, all-black or fully transparent scan, a lifted finger). A poor
    print, even one where the quality check finds no ridge area, is not refused: in a tenprint of ten files
    the other nine would be refused with it. It is stored and the officer warned (:func:`capture_quality`);
    enrolment then fails it if it yields too few minutiae (crms.biometrics.enrolment), and the page asks for
    it again."""
    if int(pixels.max()) - int(pixels.min()) <= 2:
        return f"no fingerprint in the image: it is blank (one uniform shade, {int(pixels.mean())} of 255)"
    return None
