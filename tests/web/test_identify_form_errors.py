"""The identification form says what is wrong with one print once, in that print's box (its number in the
legend, the finger image's label in the summary), whatever the service names: the print's field (an
unreadable file) or only its message (too few minutiae, a finger given twice)."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from tests.records._support import signed_in

CSRF = r'name="csrf_token" value="([^"]+)"'


def _png(value: int = 255) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((400, 400), value, np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _errors(html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", m) for m in re.findall(r'<p class="error"[^>]*>(.*?)</p>', html, re.S)]


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("slot", "content", "said"),
    [
        (1, b"hello, not an image", "not a supported image"),
        (3, _png(), "usable minutiae"),  # a blank capture: the engine names the print in its message only
    ],
)
def test_an_error_about_one_print_is_shown_once_in_its_box(app, db, slot, content, said):
    with signed_in(app, db, "fingerprint_examiner") as (c, _):
        token = re.search(CSRF, c.get("/identify").text).group(1)
        form = {"csrf_token": token, "reason": "FIR 1/2026 check"}
        r = c.post("/identify", data=form, files={f"probe_{slot}": ("capture.png", content, "image/png")})
        assert r.status_code == 422, r.text[:300]
        at_slot = re.search(rf'<p class="error" id="e-probe_{slot}" role="alert">(.*?)</p>', r.text, re.S)
        assert at_slot and said in at_slot.group(1) and "Finger image" in at_slot.group(1)
        assert f"probe {slot}:" not in at_slot.group(1)  # the box's legend numbers it
        shown = _errors(r.text)
        assert sum(said in e for e in shown) == 2, shown  # in its box and in the summary above the form
        assert not any("probe_" in e or "minutiae:" in e for e in shown), shown
        if slot > 1:  # a print under "More fingers": that part of the form is open
            assert re.search(r"<details open>\s*<summary>More fingers", r.text)
