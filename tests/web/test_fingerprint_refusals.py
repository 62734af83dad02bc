"""A fingerprint file the engine cannot use is refused with the kind of its trouble and the values that say
it (too small, too many pixels or bytes, damaged, too few minutiae to search; more than ten prints, or finger
positions short of them): the API sends ``type`` and
``values`` (through the decoder's sandbox and the extraction workers), and the enrolment and identification
pages say it in the page's language at the print's box, not in the engine's English."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from crms.errors import ValidationError
from crms.fingerprint.images import MAX_BYTES, ImageError, decode
from tests.records._support import error_at, signed_in

CSRF = r'name="csrf_token" value="([^"]+)"'


def _png(width: int, height: int, value: int = 255) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((height, width), value, np.uint8)).save(buf, "PNG", dpi=(500, 500))
    return buf.getvalue()


def _damaged() -> bytes:
    """A PNG whose pixel data is cut off: the header reads, the pixels do not."""
    rng = np.random.default_rng(3)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (300, 300), np.uint8)).save(buf, "PNG")
    return buf.getvalue()[:2000]


def _detail(exc: ImageError) -> tuple[str, dict]:
    (detail,) = exc.details
    return detail["type"], detail["values"]


@pytest.mark.parametrize(
    ("data", "kind", "values"),
    [
        (_png(20, 40), "image_too_small", {"width": 20, "height": 40, "side": 32}),
        (_png(3001, 40), "image_too_many_pixels", {"width": 3001, "height": 40, "side": 3000}),
        (_damaged(), "image_undecodable", {"format": "PNG"}),
    ],
)
def test_a_file_the_decoder_refuses_names_its_kind_through_the_sandbox(data, kind, values):
    with pytest.raises(ImageError) as err:
        decode(data, "scan.png")  # in the decoder's worker process
    assert err.value.field == "image" and err.value.message.startswith("scan.png: ")
    found_kind, found = _detail(err.value)
    assert found_kind == kind and values.items() <= found.items(), found


def test_a_file_over_the_byte_limit_names_the_limit_in_mb():
    with pytest.raises(ImageError) as err:
        decode(b"\x89PNG\r\n\x1a\n" + bytes(MAX_BYTES), "scan.png")
    values = {"size": MAX_BYTES + 8, "limit": MAX_BYTES, "mb": 50}
    assert _detail(err.value) == ("image_too_many_bytes", values)


def test_a_probe_with_too_few_minutiae_names_the_count_and_the_floor():
    from crms.fingerprint import GalleryError, ProbeFinger, Template
    from crms.fingerprint.gallery import MIN_MINUTIAE, prepare_probes

    one = Template(300, 300, np.array([[50, 50, 0.5, 1, 60]], dtype=np.float32))
    with pytest.raises(GalleryError) as err:
        prepare_probes([ProbeFinger(one, 2, "probe 1")])
    assert _detail(err.value) == ("minutiae_too_few", {"count": 1, "needed": MIN_MINUTIAE})


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_the_identification_page_says_a_prints_trouble_in_urdu_at_its_box(app, db):
    """(The enrolment page's: tests/records/test_rule_kinds.py.)"""
    with signed_in(app, db, "fingerprint_examiner") as (c, _):
        c.cookies.set("crms_lang", "ur")
        for slot, image, said in (
            (1, _png(400, 400), "صرف 0 قابلِ استعمال منیوشیا ملے، کم از کم 3 درکار ہیں"),  # a blank capture
            (2, _damaged(), "PNG فائل خراب ہے یا پڑھی نہیں جا سکتی"),
        ):
            token = re.search(CSRF, c.get("/identify").text).group(1)
            form = {"csrf_token": token, "reason": "FIR 1/2026 check"}
            r = c.post("/identify", data=form, files={f"probe_{slot}": ("capture.png", image, "image/png")})
            assert r.status_code == 422, r.text[:300]
            shown = error_at(r.text, f"probe_{slot}")
            assert said in shown and 'lang="en"' not in shown, shown


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_the_api_sends_a_probes_kind_and_values(app, db):
    with signed_in(app, db, "fingerprint_examiner") as (c, api):
        for image, kind, values in (
            (_png(400, 400), "minutiae_too_few", {"count": 0, "needed": 3}),
            (_png(20, 40), "image_too_small", {"width": 20, "height": 40, "side": 32}),
        ):
            files = [("print", ("a.png", image, "image/png"))]
            r = c.post("/api/v1/identify", headers=api, files=files, data={"reason": "check"})
            assert r.status_code == 422, r.text
            (item,) = r.json()["errors"]
            assert item["type"] == kind and item["values"] == values, item
        files = [("print", (f"p{i}.png", _png(400, 400), "image/png")) for i in range(2)]
        r = c.post("/api/v1/identify", headers=api, files=files, data={"reason": "check", "position": ["1"]})
        assert r.status_code == 422, r.text
        (item,) = r.json()["errors"]
        assert item["type"] == "positions_count" and item["values"] == {"positions": 1, "prints": 2}, item


def test_more_than_ten_probes_are_refused_naming_the_count():
    """(The API's multipart parser refuses an eleventh file before the service: the CLI reaches this.)"""
    from crms.biometrics.identification import ProbeInput, probe_templates

    with pytest.raises(ValidationError) as err:
        probe_templates([ProbeInput(f"probe {i}", b"", 0) for i in range(11)])
    (detail,) = err.value.details
    assert detail["type"] == "probes_count" and detail["values"] == {"count": 11, "most": 10}
