"""The rules whose English message is built from values carry their kind and values (crms.errors.RULE_KINDS,
or Pydantic's kinds with a limit): an API client reads ``type`` and ``values``, and the pages say them in
the page's language - a CNIC of the wrong length, a phone that is no number, a reason too short, a username,
phone, FIR or document already taken, an import row's date or place, FIR sections it cannot read, a status a
case or a person cannot take. A fingerprint file's trouble ("probe 1: not a supported image ...") is
said in Urdu at its box too."""

from __future__ import annotations

import html
import re

import pytest

from crms.access.audit import require_reason
from crms.access.users import check_password_rules
from crms.errors import ValidationError
from crms.records.cnic import parse_cnic
from crms.records.importer import REQUIRED_COLUMNS
from crms.records.phones import parse_phone

from ._support import case_data, error_at, person_data, signed_in

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


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_the_pages_say_a_wrong_cnic_and_a_taken_fir_in_urdu(app, db):
    with signed_in(app, db, "cro_operator") as (c, _):
        c.cookies.set("crms_lang", "ur")
        token = re.search(CSRF, c.get("/persons/new").text).group(1)
        form = {"csrf_token": token, "given_name_en": "Abdul Rauf", "gender": "M", "cnic": "54400-12345-67"}
        r = c.post("/persons/new", data=form)
        assert r.status_code == 422, r.text[:300]
        shown = error_at(r.text, "cnic")
        assert "شناختی کارڈ نمبر 13 ہندسوں کا ہوتا ہے، 12 کا نہیں" in shown and 'lang="en"' not in shown
        c.cookies.set("crms_lang", "en")
        assert "A CNIC has 13 digits, not 12" in error_at(c.post("/persons/new", data=form).text, "cnic")
    with signed_in(app, db, "sho", unit="BA/QTA/QUETTA") as (c, _):
        c.cookies.set("crms_lang", "ur")
        token = re.search(CSRF, c.get("/cases/new").text).group(1)
        form = {"csrf_token": token, **case_data(fir_number="78", registered_on="2024-05-01")}
        assert c.post("/cases/new", data=form).status_code == 303
        r = c.post("/cases/new", data=form)  # the form again, the FIR number marked
        assert r.status_code == 422, r.text[:300]
        shown = error_at(r.text, "fir_number")
        assert "کی ایف آئی آر 78/2024 پہلے سے درج ہے (مقدمہ" in shown and 'lang="en"' not in shown


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_print_file_that_is_no_image_is_said_in_urdu_at_its_box(app, db):
    with signed_in(app, db, "fingerprint_examiner") as (c, _):
        c.cookies.set("crms_lang", "ur")
        token = re.search(CSRF, c.get("/identify").text).group(1)
        files = {"probe_1": ("thumb.png", b"hello, not an image", "image/png")}
        r = c.post("/identify", data={"csrf_token": token, "reason": "FIR 12/2026 PS Saddar"}, files=files)
        assert r.status_code == 422, r.text[:300]
        shown = error_at(r.text, "probe_1")
        assert "معاون تصویر نہیں" in shown and "not a supported" not in shown and 'lang="en"' not in shown
    # the API names their kinds (an empty file too: a form takes an empty upload for none chosen)
    from crms.errors import ValidationError
    from crms.fingerprint.images import decode

    for data, kind in ((b"", "image_empty"), (b"hello, not an image", "image_format_unknown")):
        with pytest.raises(ValidationError) as err:
            decode(data, "thumb.png")
        assert err.value.details[0]["type"] == kind and err.value.message.startswith("thumb.png: ")


def test_a_case_at_a_station_not_open_that_day_names_the_station_and_the_days(rdb, principal):
    from crms.access.principal import Principal
    from crms.records import services_cases as cases
    from crms.records.reference import service as reference

    admin = Principal(user_id=None, username="admin1", role="administrator", unit="BA")
    with rdb.transaction() as s:
        for code, dates in (
            ("QUETTA-NEW-TOWN", {"valid_from": "2026-01-01"}),
            ("QUETTA-OLD-TOWN", {"valid_from": "2000-01-01", "valid_to": "2025-01-01"}),
            (
                "QUETTA-RAIL",
                {"valid_from": "2000-01-01", "valid_to": "2025-01-01", "merged_into_code": "QUETTA-CANTT"},
            ),
        ):
            name = code.split("-", 1)[1].replace("-", " ").title()
            entry = {"name_en": name, "name_ur": "تھانہ", "district_code": "QUETTA", **dates}
            reference.update_reference(s, admin, "police_station", code, entry)
    sho = principal("sho", "BA/QTA/QUETTA")
    said = []
    for station, day, fir in (("QUETTA-NEW-TOWN", "2024-05-01", 1), ("QUETTA-OLD-TOWN", "2025-02-01", 2),
                              ("QUETTA-RAIL", "2025-02-01", 3)):  # fmt: skip
        with rdb.transaction() as s, pytest.raises(ValidationError) as err:
            cases.add_case(s, sho, case_data(police_station=station, registered_on=day, occurred_on=day,
                                             year=2024 if fir == 1 else 2025, fir_number=fir))  # fmt: skip
        said.append((_detail(err)["field"], _detail(err)["type"], _detail(err)["values"]))
    assert said == [
        ("police_station", "station_not_yet", {"station": "QUETTA-NEW-TOWN", "since": "2026-01-01"}),
        ("police_station", "station_closed", {"station": "QUETTA-OLD-TOWN", "on": "2025-01-01"}),
        (
            "police_station",
            "station_merged",
            {"station": "QUETTA-RAIL", "on": "2025-01-01", "into": "QUETTA-CANTT"},
        ),
    ]


def test_the_api_says_a_cnic_not_on_record_and_a_link_made_twice(client, make_user):
    _, sho = make_user("sho", unit="BA/QTA/QUETTA")
    case_id = client.post("/api/v1/cases", json=case_data(fir_number="79"), headers=sho).json()["id"]
    r = client.post(f"/api/v1/cases/{case_id}/links", json={"cnic": "54400-7654321-3", "role": "accused"},
                    headers=sho)  # fmt: skip
    assert r.status_code == 404, r.text
    assert r.json()["errors"][0]["type"] == "cnic_not_on_record"
    assert r.json()["errors"][0]["values"] == {"cnic": "54400-7654321-3"}
    pid = client.post("/api/v1/persons", json=person_data(), headers=sho).json()["person"]["id"]
    link = {"person_id": pid, "role": "accused"}
    assert client.post(f"/api/v1/cases/{case_id}/links", json=link, headers=sho).status_code == 201
    r = client.post(f"/api/v1/cases/{case_id}/links", json=link, headers=sho)
    assert r.status_code == 409, r.text
    assert r.json()["errors"][0]["type"] == "already_linked"
    assert r.json()["errors"][0]["values"] == {"role": "accused"}


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_link_made_twice_is_said_in_urdu_with_the_role_by_its_term(app, db):
    with signed_in(app, db, "sho", unit="BA/QTA/QUETTA") as (c, api):
        case_id = c.post("/api/v1/cases", json=case_data(fir_number="80"), headers=api).json()["id"]
        pid = c.post("/api/v1/persons", json=person_data(), headers=api).json()["person"]["id"]
        link = {"person_id": pid, "role": "accused"}
        assert c.post(f"/api/v1/cases/{case_id}/links", json=link, headers=api).status_code == 201
        c.cookies.set("crms_lang", "ur")
        token = re.search(CSRF, c.get(f"/cases/{case_id}").text).group(1)
        r = c.post(
            f"/cases/{case_id}/link", data={"csrf_token": token, "person_id": str(pid), "role": "accused"}
        )
        assert r.status_code == 409, r.text[:300]
        shown = error_at(r.text, "person_id")
        assert "یہ فرد اس مقدمے سے پہلے ہی بطور ملزم منسلک ہے" in shown and 'lang="en"' not in shown


HEADER = ",".join(REQUIRED_COLUMNS) + "\n"  # cnic, name, father_name, ..., police_station, caste


def _import(c, content: str):
    token = re.search(CSRF, c.get("/import").text).group(1)
    files = {"file": ("register.csv", content.encode(), "text/csv")}
    return c.post("/import", data={"csrf_token": token, "mode": "dry"}, files=files)


def _urdu_report(app, db, rows: str) -> str:
    """The table of a dry run's report on the Urdu import page, as text."""
    with signed_in(app, db, "cro_operator") as (c, _):
        c.cookies.set("crms_lang", "ur")
        r = _import(c, rows)
        assert r.status_code == 200, r.text[r.text.index("<main") :][:1500]
        return html.unescape(r.text[r.text.index("<tbody>") : r.text.index("</tbody>")])


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_an_import_reports_a_rows_problem_in_urdu_where_its_kind_is_known(app, db):
    """A register's row with a CNIC of 12 digits, one with an overlong name: the report says both in Urdu;
    the report's JSON (the CLI's and the API's) names their kinds."""
    rows = HEADER + "54400-12345-67,Abdul Rauf,Gul Muhammad,,,M,,Quetta,Cantt,\n"
    rows += ",{},Gul,,,M,,Quetta,Cantt,\n".format("A" * 101)
    rows += ",Karim,Gul,,,Q,,Quetta,Cantt,\n"  # a gender the register does not know
    table = _urdu_report(app, db, rows)
    assert "شناختی کارڈ نمبر 13 ہندسوں کا ہوتا ہے، 12 کا نہیں" in table
    assert "زیادہ سے زیادہ 100 حروف" in table and 'lang="en"' not in table
    assert "“Q” جنس نہیں: M، F یا X لکھیں" in table

    from crms.records.importer import RowError

    message = "CNIC must have 13 digits (found 12)"
    said = RowError(2, "cnic", message, {"type": "cnic_digits", "values": {"found": 12}, "message": message})
    assert said.as_dict() == {"row": 2, "column": "cnic", "message": message, "type": "cnic_digits",
                              "values": {"found": 12}}  # fmt: skip


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_register_without_its_columns_is_refused_saying_so_at_the_file(app, db):
    """A file the importer refuses as a whole (a required column missing: the refusal names that column)
    is said at the file's field, not left as a blank form."""
    with signed_in(app, db, "cro_operator") as (c, _):
        r = _import(c, "name,gender\nAbdul Rauf,M\n")
        assert r.status_code == 422, r.text[:300]
        lacks = "The file lacks the required column(s) cnic, father_name, name_urdu"
        assert lacks in error_at(r.text, "file")
        c.cookies.set("crms_lang", "ur")
        shown = error_at(_import(c, HEADER.strip() + ",colour\n" + "," * 10 + "\n").text, "file")
        assert "فائل میں ایسے کالم ہیں جو رجسٹر میں نہیں ہوتے: colour" in shown and 'lang="en"' not in shown


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_status_a_case_cannot_take_is_said_in_urdu_with_the_statuses_it_can(app, db):
    """Two officers on one case: the page offered a status the case has left behind meanwhile. The refusal
    names the case's status, the one asked for and those it can take, each by its term in the page's
    language; the API names them by their codes."""
    with signed_in(app, db, "sho", unit="BA/QTA/QUETTA") as (c, api):
        case_id = c.post("/api/v1/cases", json=case_data(fir_number="81"), headers=api).json()["id"]
        c.cookies.set("crms_lang", "ur")
        token = re.search(CSRF, c.get(f"/cases/{case_id}").text).group(1)
        r = c.post(f"/cases/{case_id}/status", data={"csrf_token": token, "status": "convicted"})
        assert r.status_code == 422, r.text[:300]
        page = html.unescape(r.text)
        assert "“درج” مقدمہ “سزا یافتہ” نہیں ہو سکتا؛ یہ ہو سکتا ہے: منسوخ، " in page, page[:3000]
        assert "cannot change from" not in page
        r = c.post(f"/api/v1/cases/{case_id}/status", json={"status": "convicted"}, headers=api)
        assert r.status_code == 422, r.text
        (item,) = r.json()["errors"]
        assert item["type"] == "case_status_not_allowed" and item["values"]["new"] == "convicted"
        assert "under_investigation" in item["values"]["allowed"]


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_sections_an_fir_form_cannot_read_are_said_in_urdu_at_the_sections(app, db):
    with signed_in(app, db, "sho", unit="BA/QTA/QUETTA") as (c, api):
        c.cookies.set("crms_lang", "ur")
        token = re.search(CSRF, c.get("/cases/new").text).group(1)
        for fir, sections, said in (
            ("82", "302/34", "دفعات 302, 34 کس قانون کی ہیں؟ قانون ان کے بعد لکھیں، جیسے 302 PPC"),
            ("83", "302 XYZ", "دفعات میں “XYZ” پڑھا نہیں جا سکا: انہیں 302/34 PPC کی طرح لکھیں"),
            ("84", "302 PPC, 9999 PPC", "دفعہ PPC 9999 ریکارڈ میں نہیں"),
        ):
            form = {"csrf_token": token, **case_data(fir_number=fir, sections=sections)}
            r = c.post("/cases/new", data=form)
            assert r.status_code == 422, r.text[:300]
            shown = error_at(r.text, "sections")
            assert said in shown and 'lang="en"' not in shown, shown
        r = c.post(
            "/api/v1/cases", json=case_data(fir_number="85", sections="302 PPC, 9999 PPC"), headers=api
        )
        assert r.status_code == 422, r.text
        message = "sections: unknown section PPC 9999 in '302 PPC, 9999 PPC'"
        assert r.json()["errors"] == [{"field": "sections", "type": "sections_unknown",
                                       "values": {"sections": "PPC 9999"}, "message": message}]  # fmt: skip


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_an_import_says_a_rows_date_place_and_repeated_cnic_in_urdu(app, db):
    rows = HEADER + "54400-1234567-3,Abdul Rauf,Gul Muhammad,,,M,3/14/1980,Quetta,Cantt,\n"  # month first
    rows += ",Karim,Gul,,,M,,Zhobistan,,\n"  # a district the reference data does not know
    rows += ",Nasir,Gul,,,M,,Quetta,Nowhere,\n"  # nor a station of that name in Quetta
    rows += "54400-7654321-3,Bashir,Gul,,,M,1980,Quetta,Cantt,\n"
    rows += "54400-7654321-3,Bashir Ahmed,Gul,,,M,1980,Quetta,Cantt,\n"  # the same CNIC again
    rows += ",Qadir,Gul,,,M,12/3/80,Quetta,Cantt,\n"  # a year of two digits
    rows += ",Saleem,Gul,,,M,about 1980,Quetta,Cantt,\n"
    table = _urdu_report(app, db, rows)
    assert "“3/14/1980” کیلنڈر کا کوئی دن نہیں (یوں پڑھا گیا: دن 3، مہینہ 14، سال 1980)" in table
    assert "“12/3/80”: سال چار ہندسوں میں لکھیں" in table
    assert "“about 1980” تاریخ نہیں: DD/MM/YYYY لکھیں، دن پہلے، یا YYYY-MM-DD" in table
    assert "“Zhobistan” نام کا کوئی ضلع ریکارڈ میں نہیں" in table
    assert "ضلع QUETTA میں “Nowhere” نام کا کوئی تھانہ ریکارڈ میں نہیں" in table
    assert "شناختی کارڈ نمبر 54400-7654321-3 قطار 5 میں بھی ہے" in table
    assert 'lang="en"' not in table


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_register_that_is_not_utf8_is_refused_in_urdu_naming_the_line(app, db):
    with signed_in(app, db, "cro_operator") as (c, _):
        c.cookies.set("crms_lang", "ur")
        token = re.search(CSRF, c.get("/import").text).group(1)
        content = (
            HEADER + ",Abdul Rauf,Gul,,,M,,Quetta,Cantt,\n"
        ).encode() + ",Kar\xefm,Gul,,,M,,,,\n".encode("latin-1")
        files = {"file": ("register.csv", content, "text/csv")}
        r = c.post("/import", data={"csrf_token": token, "mode": "dry"}, files=files)
        assert r.status_code == 422, r.text[:300]
        shown = error_at(r.text, "file")
        assert (
            "سطر 3 UTF-8 متن نہیں: فائل کو “CSV UTF-8” کے طور پر محفوظ کریں" in shown
            and 'lang="en"' not in shown
        )


def test_a_status_with_no_way_on_names_its_own_kind_and_lists_are_said_as_terms():
    from crms.records.services.cases import CASE_TRANSITIONS
    from crms.records.services.common import check_transition
    from crms.web.app import plain_message

    with pytest.raises(ValidationError) as err:
        check_transition(CASE_TRANSITIONS, "compromised", "convicted", what="case status", kind="case_status")
    assert _detail(err)["type"] == "case_status_final" and _detail(err)["values"] == {"old": "compromised"}
    values = {"status": "convicted", "case_status": "registered", "when": ["convicted", "under_trial"]}
    said = plain_message({"type": "status_case_state", "values": values})
    assert said.said(lambda text: text) == (
        "A person cannot be “convicted” while the case is “registered”; "
        "only when it is: convicted, under trial"
    )


def _png(pixels, dpi: int) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", dpi=(dpi, dpi))
    return buf.getvalue()


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_blank_print_and_a_resolution_out_of_range_are_said_in_urdu_at_the_fingers_box(app, db):
    """The enrolment page says a service's refusal of one finger at that finger's box, with its kind: in
    Urdu on the Urdu page, not the service's English (a blank print, a print whose ridges say a resolution
    below the gallery's, a file too small or damaged); a resolution the officer typed is refused at its
    own box."""
    import cv2
    import numpy as np

    from crms.fingerprint.synthesis import generate_master, render_impression

    print_ = render_impression(generate_master(seed=9, finger_index=0), 0)
    shrunk = cv2.resize(print_, None, fx=0.34, fy=0.34, interpolation=cv2.INTER_AREA)  # about 170 ppi
    noise = np.random.default_rng(3).integers(0, 255, (300, 300), np.uint8)
    with signed_in(app, db, "cro_operator") as (c, api):
        pid = c.post("/api/v1/persons", json=person_data(), headers=api).json()["person"]["id"]
        c.cookies.set("crms_lang", "ur")
        for position, image, ppi, field, said in (
            (1, _png(np.full((374, 388), 255, np.uint8), 500), "", "finger_1",
             "تصویر میں کوئی فنگر پرنٹ نہیں: یہ خالی ہے"),
            (2, _png(shrunk, 500), "", "finger_2", "لکیروں کا فاصلہ تقریباً"),  # tagged 500, ridges say 170
            (2, _png(shrunk, 500), "", "finger_2", "درست کریں: دائیں شہادت کی انگلی —"),  # the box names it
            (2, _png(print_, 500), "100", "ppi", "100 ppi کی ریزولوشن 250–1500 ppi سے باہر ہے"),
            (2, _png(print_, 500), "۵۰۰x", "ppi", "ریزولوشن ppi کا پورا عدد ہوتی ہے"),
            (3, _png(np.full((40, 20), 255, np.uint8), 500), "", "finger_3", "تصویر صرف 20×40 پکسل کی ہے"),
            (4, _png(noise, 500)[:2000], "", "finger_4", "PNG فائل خراب ہے یا پڑھی نہیں جا سکتی"),  # cut off
        ):  # fmt: skip
            token = re.search(CSRF, c.get(f"/persons/{pid}/fingerprints").text).group(1)
            files = {f"finger_{position}": ("scan.png", image, "image/png")}
            r = c.post(f"/persons/{pid}/fingerprints", data={"csrf_token": token, "ppi": ppi}, files=files)
            assert r.status_code == 422, r.text[:300]
            shown = error_at(r.text, field)
            assert said in shown and 'lang="en"' not in shown, shown
        # the officer's resolution, in Urdu digits, is taken and kept: the page says it was given
        token = re.search(CSRF, c.get(f"/persons/{pid}/fingerprints").text).group(1)
        files = {"finger_2": ("scan.png", _png(shrunk, 500), "image/png")}
        r = c.post(f"/persons/{pid}/fingerprints", data={"csrf_token": token, "ppi": "۱۷۰"}, files=files)
        assert r.status_code == 422 and "170 ppi" in error_at(r.text, "ppi"), r.text[:300]  # below 250
        files = {"finger_2": ("scan.png", _png(print_, 72), "image/png")}
        r = c.post(f"/persons/{pid}/fingerprints", data={"csrf_token": token, "ppi": "۵۰۰"}, files=files)
        assert r.status_code == 200, r.text[:300]
        assert 'data-ppi-source="caller"' in r.text and "جیسی بتائی گئی" in r.text
