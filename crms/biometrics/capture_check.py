"""A print at capture time: its resolution and quality, so the officer can take a poor finger again at once
(the template itself is extracted later, in the background). Uses the engine's quality score and
enrolment check (crms.fingerprint.quality) on the decoded image; nothing is stored."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from crms import fingerprint as fp
from crms.errors import rule_error

if TYPE_CHECKING:
    from crms.biometrics.enrolment import CaptureResolution, CheckedImage


def capture_quality(checked: CheckedImage, resolution: CaptureResolution) -> dict:
    """``{"score": 0-100, "ok", "reason": words, "problems": [{"code", ...}], "threshold", "ppi",
    "ppi_source", "ppi_reason"}`` of a checked image read at ``resolution``. ``problems`` are
    :func:`crms.fingerprint.enrolment_problems` (empty when ``ok``), for a page to say in its language."""
    q = fp.assess_quality(fp.resample(checked.pixels, resolution.ppi))  # the score's scale is 500 ppi
    problems = fp.enrolment_problems(q)
    return {
        "score": q.score,
        "ok": not problems,
        "reason": fp.enrolment_reason(q, problems),
        "problems": problems,
        "threshold": fp.DEFAULT_ENROL_THRESHOLD,
        "ppi": resolution.ppi,
        "ppi_source": resolution.source,
        "ppi_reason": resolution.reason,
    }


def check_capture(
    image: bytes, position: int, *, name: str | None = None, ppi: int | None = None
) -> tuple[CheckedImage, dict]:
    """Everything about a capture that needs no database, before its transaction: the image decoded in the
    sandbox and refused if blank (:func:`crms.biometrics.enrolment.check_image`), its resolution chosen and
    refused outside the gallery's range (:func:`~crms.biometrics.enrolment.capture_resolution`), and its
    :func:`capture_quality`. Pass the same ``ppi`` to :func:`~crms.biometrics.enrolment.capture`."""
    from crms.biometrics.enrolment import capture_resolution, check_image

    checked = check_image(image, position, name)
    return checked, capture_quality(checked, capture_resolution(checked, ppi))


def refuse_finger_twice(named: Iterable[tuple[int, str]], doing: str, *, field: str | None = None) -> None:
    """One print of each finger in one request (``doing``: "captured", "searched"; a search would count a
    finger twice against the same print): ``(position, name)`` pairs, unknown position 0 allowed any number of
    times. Refused (kind ``position_twice``) at the second, its message headed by its name as the message of
    any one print's trouble is, at ``field`` (default ``finger_<position>``)."""
    first: dict[int, str] = {}
    for position, name in named:
        if position and position in first:
            message = (
                f"{name}: finger position {position} is given twice ({first[position]} and {name}): "
                f"each finger is {doing} once"
            )
            at = field or f"finger_{position}"
            raise rule_error(at, "position_twice", message, position=position, first=first[position])
        first.setdefault(position, name)


def given_ppi(text: str | None) -> int | None:
    """A form's optional scanner resolution: None when empty, else a whole number of ppi within the
    gallery's range (:func:`crms.biometrics.enrolment.refuse_ppi_outside`)."""
    from crms.biometrics.enrolment import refuse_ppi_outside

    text = (text or "").strip()
    if not text:
        return None
    if not text.isdecimal() or len(text) > 5:  # any script's digits (Urdu ۵۰۰ too)
        message = f"ppi must be a whole number of pixels per inch, not {text[:20]!r}"
        raise rule_error("ppi", "ppi_not_number", message, value=text[:20])
    refuse_ppi_outside(int(text))
    return int(text)


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
