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


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_one_finger_chosen_for_two_prints_is_said_in_urdu_by_the_fingers_name(app, db):
    """Two boxes both marked right thumb: the second box says so in the page's language, naming the finger
    (the API names the kind, the position and the first print)."""
    from crms.fingerprint.synthesis import generate_master, png_bytes, render_impression

    image = png_bytes(render_impression(generate_master(seed=4, finger_index=0), 0))
    with signed_in(app, db, "fingerprint_examiner") as (c, api):
        c.cookies.set("crms_lang", "ur")
        token = re.search(CSRF, c.get("/identify").text).group(1)
        form = {"csrf_token": token, "reason": "FIR 1/2026 check", "position_1": "1", "position_2": "1"}
        files = {"probe_1": ("a.png", image, "image/png"), "probe_2": ("b.png", image, "image/png")}
        r = c.post("/identify", data=form, files=files)
        assert r.status_code == 422, r.text[:300]
        box = re.search(r'<p class="error" id="e-probe_2" role="alert">(.*?)</p>', r.text, re.S)
        assert box and "دایاں انگوٹھا کسی اور نشان کے لیے بھی چنی گئی ہے" in box.group(1), r.text[:3000]
        assert 'lang="en"' not in box.group(1)
        files = [("print", ("a.png", image, "image/png")), ("print", ("b.png", image, "image/png"))]
        r = c.post("/api/v1/identify", headers=api, files=files,
                   data={"position": ["1", "1"], "reason": "check"})  # fmt: skip
        assert r.status_code == 422, r.text
        (item,) = r.json()["errors"]
        assert item["type"] == "position_twice" and item["values"] == {"position": 1, "first": "a.png"}
