"""The rules whose English message is built from values carry their kind and values (crms.errors.RULE_KINDS,
or Pydantic's kinds with a limit): an API client reads ``type`` and ``values``, and the pages say them in
the page's language - a CNIC of the wrong length, a phone that is no number, a reason too short, a username,
phone, FIR or document already taken. A fingerprint file's trouble ("probe 1: not a supported image ...") is
said in Urdu at its box too."""

from __future__ import annotations

import html
import re

import pytest

from crms.access.audit import require_reason
from crms.access.users import check_password_rules
from crms.errors import ValidationError
from crms.records.cnic import parse_cnic
from crms.records.phones import parse_phone

from ._support import case_data, person_data, signed_in

CSRF = r'name="csrf_token" value="([^"]+)"'


def _detail(exc_info) -> dict:
    (detail,) = exc_info.value.details
    return detail


@pytest.mark.parametrize(
    ("text", "kind", "values"),
    [
        ("54400-12345-67", "cnic_digits", {"found": 12}),
        ("94400-1234567-3", "cnic_province", {"found": "9"}),
        ("54400-123456x-3", "cnic_characters", {"char": "x"}),
    ],
)
def test_a_wrong_cnic_names_its_kind_and_what_was_found(text, kind, values):
    with pytest.raises(ValidationError) as err:
        parse_cnic(text)
    detail = _detail(err)
    assert detail["type"] == kind and detail["values"] == values and detail["field"] == "cnic"
    assert err.value.message.startswith("CNIC ")  # the English words stay as they were


def test_a_phone_a_reason_and_a_password_name_their_kind():
    with pytest.raises(ValidationError) as err:
        parse_phone("12")
    assert _detail(err)["type"] == "phone_invalid" and _detail(err)["values"] == {"phone": "12"}
    with pytest.raises(ValidationError) as err:
        require_reason("FIR")
    assert _detail(err) == {"field": "reason", "message": "reason must be at least 4 characters",
                            "type": "string_too_short", "limit": 4}  # fmt: skip
    with pytest.raises(ValidationError) as err:
        check_password_rules("short")
    assert _detail(err)["type"] == "string_too_short" and _detail(err)["limit"] == 10


def test_the_api_says_which_fir_and_which_document_are_taken(client, make_user):
    _, sho = make_user("sho", unit="BA/QTA/QUETTA")
    body = case_data(fir_number="77", registered_on="2024-05-01")
    assert client.post("/api/v1/cases", json=body, headers=sho).status_code == 201
    r = client.post("/api/v1/cases", json=body, headers=sho)
    assert r.status_code == 409, r.text
    (item,) = r.json()["errors"]
    assert item["type"] == "fir_taken" and item["field"] == "fir_number"
    assert item["values"]["fir"] == "77/2024" and isinstance(item["values"]["case"], int)
    assert "is already registered" in item["message"]

    _, op = make_user("cro_operator")
    person = person_data(documents=[{"doc_type": "CNIC", "number": "54400-7654321-3"}])
    first = client.post("/api/v1/persons", json=person, headers=op)
    assert first.status_code == 201, first.text
    r = client.post("/api/v1/persons", json=person, headers=op)
    assert r.status_code == 409, r.text
    (item,) = r.json()["errors"]
    assert item["type"] == "document_taken"
    assert item["values"] == {
        "document": "CNIC",
        "number": "54400-7654321-3",
        "person": first.json()["person"]["id"],
    }


def test_the_api_says_which_username_and_phone_are_taken(client, make_user):
    _, admin = make_user("administrator")
    body = {"username": "sms_k", "role": "sms_officer", "unit": "BA/QTA", "phone": "0300 7654321",
            "pin": "2468"}  # fmt: skip
    assert client.post("/api/v1/users", json=body, headers=admin).status_code == 201
    r = client.post("/api/v1/users", json=body, headers=admin)
    assert r.status_code == 409 and r.json()["errors"][0]["type"] == "username_taken", r.text
    r = client.post("/api/v1/users", json=body | {"username": "sms_l"}, headers=admin)
    assert r.status_code == 409, r.text
    (item,) = r.json()["errors"]
    assert item["field"] == "phone" and item["type"] == "phone_taken"
    assert item["values"] == {"phone": "+923007654321"}
    assert item["message"] == "phone +923007654321 is registered to another user"


def _error(page: str, field: str) -> str:
    m = re.search(rf'<p class="error" id="e-{field}" role="alert">(.*?)</p>', page, re.S)
    assert m, f"no error shown at {field}"
    return html.unescape(m.group(1))


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_the_pages_say_a_wrong_cnic_and_a_taken_fir_in_urdu(app, db):
    with signed_in(app, db, "cro_operator") as (c, _):
        c.cookies.set("crms_lang", "ur")
        token = re.search(CSRF, c.get("/persons/new").text).group(1)
        form = {"csrf_token": token, "given_name_en": "Abdul Rauf", "gender": "M", "cnic": "54400-12345-67"}
        r = c.post("/persons/new", data=form)
        assert r.status_code == 422, r.text[:300]
        shown = _error(r.text, "cnic")
        assert "شناختی کارڈ نمبر 13 ہندسوں کا ہوتا ہے، 12 کا نہیں" in shown and 'lang="en"' not in shown
        c.cookies.set("crms_lang", "en")
        assert "A CNIC has 13 digits, not 12" in _error(c.post("/persons/new", data=form).text, "cnic")
    with signed_in(app, db, "sho", unit="BA/QTA/QUETTA") as (c, _):
        c.cookies.set("crms_lang", "ur")
        token = re.search(CSRF, c.get("/cases/new").text).group(1)
        form = {"csrf_token": token, **case_data(fir_number="78", registered_on="2024-05-01")}
        assert c.post("/cases/new", data=form).status_code == 303
        r = c.post("/cases/new", data=form)  # the form again, the FIR number marked
        assert r.status_code == 422, r.text[:300]
        shown = _error(r.text, "fir_number")
        assert "کی ایف آئی آر 78/2024 پہلے سے درج ہے (مقدمہ" in shown and 'lang="en"' not in shown


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_print_file_that_is_no_image_is_said_in_urdu_at_its_box(app, db):
    with signed_in(app, db, "fingerprint_examiner") as (c, _):
        c.cookies.set("crms_lang", "ur")
        token = re.search(CSRF, c.get("/identify").text).group(1)
        files = {"probe_1": ("thumb.png", b"hello, not an image", "image/png")}
        r = c.post("/identify", data={"csrf_token": token, "reason": "FIR 12/2026 PS Saddar"}, files=files)
        assert r.status_code == 422, r.text[:300]
        shown = _error(r.text, "probe_1")
        assert "معاون تصویر نہیں" in shown and "not a supported" not in shown and 'lang="en"' not in shown
