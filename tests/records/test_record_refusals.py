"""Refusals of a record's forms that are built from values carry their kind (crms.errors.RULE_KINDS): a
document number of the wrong form or given twice, a removal without a reason, a field that cannot be
cleared, a change to a person merged into another, a link that an arrest or a conviction keeps, a merge of
two persons in one case. The API sends ``type`` and ``values``; the pages say them in Urdu."""

from __future__ import annotations

import html
import re

import pytest

from crms.errors import ValidationError
from crms.records.services.documents import normalise_document

from ._support import case_data, person_data, signed_in

CSRF = r'name="csrf_token" value="([^"]+)"'
QUETTA = "BA/QTA/QUETTA"


def _errors(page: str) -> list[str]:
    """Every error the page shows, as its words (the summary's and each box's)."""
    found = re.findall(r'<p class="error"[^>]*>(.*?)</p>', page, re.S)
    found += re.findall(r'<div class="errors"[^>]*>(.*?)</div>', page, re.S)
    return [html.unescape(m) for m in found]


def _said(page: str, words: str) -> str:
    """The error that holds ``words``, checked to be in the page's language (no English part in it)."""
    shown = [e for e in _errors(page) if words in e]
    assert shown, (words, _errors(page) or page[:2000])
    assert all('lang="en"' not in e for e in shown), shown
    return shown[0]


def _csrf(c, url: str) -> str:
    return re.search(CSRF, c.get(url).text).group(1)


def test_a_document_number_of_the_wrong_form_names_its_type_and_what_was_found():
    with pytest.raises(ValidationError) as err:
        normalise_document("PASSPORT", "A-1")
    (detail,) = err.value.details
    assert detail["type"] == "document_number"
    assert detail["values"] == {"document": "PASSPORT", "found": "A-1"}


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_the_person_page_says_a_documents_and_a_removals_refusal_in_urdu(app, db):
    with signed_in(app, db, "cro_operator") as (c, api):
        twice = [{"doc_type": "PASSPORT", "number": n} for n in ("AB1234567", "ab-1234567")]
        r = c.post("/api/v1/persons", json=person_data(documents=twice), headers=api)
        assert r.status_code == 422, r.text
        (item,) = r.json()["errors"]
        assert item["type"] == "document_twice"
        assert item["values"] == {"document": "PASSPORT", "number": "ab-1234567"}

        body = person_data(phones=["0300 1234567", "0333 7654321"])
        pid = c.post("/api/v1/persons", json=body, headers=api).json()["person"]["id"]
        record = c.get(f"/api/v1/persons/{pid}", headers=api).json()
        c.cookies.set("crms_lang", "ur")
        token = _csrf(c, f"/persons/{pid}")
        form = {"csrf_token": token, "doc_type": "PASSPORT", "number": "A"}
        r = c.post(f"/persons/{pid}/add/document", data=form)
        assert r.status_code == 422, r.text[:300]
        _said(r.text, "PASSPORT نمبر 3 سے 40 حروف یا ہندسوں کا ہوتا ہے، “A” نہیں")

        wrong = record["phones"][1]["id"]
        r = c.post(f"/persons/{pid}/remove/phone/{wrong}", data={"csrf_token": token, "reason": " "})
        assert r.status_code == 422, r.text[:300]
        _said(r.text, "وجہ بتائیں: وجہ لکھنا ضروری ہے")

        r = c.patch(f"/api/v1/persons/{pid}", json={"gender": None}, headers=api)
        assert r.status_code == 422 and r.json()["errors"][0]["type"] == "not_clearable", r.text


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_merge_of_two_persons_in_one_case_and_a_merged_record_are_said_in_urdu(app, db):
    with signed_in(app, db, "supervisor") as (c, api):
        case_id = c.post("/api/v1/cases", json=case_data(), headers=api).json()["id"]
        case = c.get(f"/api/v1/cases/{case_id}", headers=api).json()
        made = [
            c.post("/api/v1/persons", json=person_data(given_name_en=name), headers=api).json()
            for name in ("Abdul Rauf", "Abdur Rauf", "Rauf Khan")
        ]
        keep, dup, third = (m["person"]["id"] for m in made)
        for pid in (keep, dup):
            accused = {"person_id": pid, "role": "accused"}
            assert c.post(f"/api/v1/cases/{case_id}/links", json=accused, headers=api).status_code == 201
        body = {"survivor_id": keep, "merged_id": dup, "reason": "same man"}
        r = c.post("/api/v1/persons/merge", json=body, headers=api)
        assert r.status_code == 409, r.text
        (item,) = r.json()["errors"]
        fir = f"{case['fir_number']}/{case['year']}"
        assert item["type"] == "merge_same_case" and item["field"] == "merged_id"
        shown = {k: item["values"][k] for k in ("case", "fir", "role")}
        assert shown == {"case": case_id, "fir": fir, "role": "accused"}

        c.cookies.set("crms_lang", "ur")
        form = {"csrf_token": _csrf(c, "/merge"), "survivor_id": keep, "merged_id": dup, "reason": "same man"}
        r = c.post("/merge", data=form)
        assert r.status_code == 409, r.text[:300]
        said = _said(r.text, f"دونوں افراد FIR {fir} سے")
        assert "ملزم" in said  # the role by its term

        body = {"survivor_id": third, "merged_id": keep, "reason": "same man"}
        assert c.post("/api/v1/persons/merge", json=body, headers=api).status_code == 200
        form = {"csrf_token": _csrf(c, "/merge"), "survivor_id": dup, "merged_id": keep, "reason": "same man"}
        r = c.post("/merge", data=form)
        assert r.status_code == 409, r.text[:300]
        _said(r.text, f"فرد {keep} کو فرد {third} میں ضم کیا جا چکا ہے: وہ ریکارڈ استعمال کریں")
        r = c.post("/api/v1/persons/merge", json={**body, "survivor_id": dup}, headers=api)
        (item,) = r.json()["errors"]
        assert item["type"] == "person_merged" and item["field"] == "merged_id", item
        assert item["values"] == {"person": keep, "into": third}


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_link_an_arrest_keeps_is_refused_in_urdu_from_a_case_page_opened_before(app, db):
    with signed_in(app, db, "sho", QUETTA) as (c, api):
        case_id = c.post("/api/v1/cases", json=case_data(), headers=api).json()["id"]
        case = c.get(f"/api/v1/cases/{case_id}", headers=api).json()
        pid = c.post("/api/v1/persons", json=person_data(), headers=api).json()["person"]["id"]
        accused = {"person_id": pid, "role": "accused"}
        link = c.post(f"/api/v1/cases/{case_id}/links", json=accused, headers=api).json()["link_id"]
        c.cookies.set("crms_lang", "ur")
        token = _csrf(c, f"/cases/{case_id}")  # the page as it was, offering the removal
        c.post(f"/api/v1/links/{link}/arrests", json={"arrested_on": "2024-03-20"}, headers=api)
        r = c.post(f"/cases/{case_id}/links/{link}/remove", data={"csrf_token": token, "reason": "wrong man"})
        assert r.status_code == 409, r.text[:300]
        _said(r.text, f"FIR {case['fir_number']}/{case['year']} میں اس فرد کی گرفتاری درج ہے")
        r = c.delete(f"/api/v1/links/{link}", params={"reason": "wrong man"}, headers=api)
        (item,) = r.json()["errors"]
        assert item["type"] == "link_arrested" and item["values"]["person"] == pid, item


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_record_that_is_not_there_is_said_in_urdu_and_named_by_kind_on_the_api(app, db):
    with signed_in(app, db, "supervisor") as (c, api):
        for path, kind, values in (
            ("/api/v1/persons/987654", "person_not_found", {"person": 987654}),
            ("/api/v1/cases/987654", "case_not_found", {"case": 987654}),
            ("/api/v1/links/987654", "link_not_found", {"link": 987654}),
        ):
            r = c.get(path, headers=api)
            assert r.status_code == 404, r.text
            (item,) = r.json()["errors"]
            assert item["type"] == kind and item["values"] == values, item
        person, case = "ریکارڈ میں کوئی فرد 987654 نہیں", "ریکارڈ میں کوئی مقدمہ 987654 نہیں"
        _pages_say(c, ("/persons/987654", person), ("/cases/987654", case))
    with signed_in(app, db, "fingerprint_examiner") as (c, _):
        search, duplicate = "فنگر پرنٹ کی کوئی تلاش 987654 نہیں", "ممکنہ دوہرے ریکارڈ کا کوئی کیس 987654 نہیں"
        _pages_say(c, ("/identify/987654", search), ("/duplicates/987654", duplicate))


def _pages_say(c, *pages: tuple[str, str]) -> None:
    """Each page (path, words) is not found and says so in Urdu."""
    c.cookies.set("crms_lang", "ur")
    for path, said in pages:
        r = c.get(path)
        assert r.status_code == 404 and said in r.text, r.text[:2000]


def test_a_person_not_on_record_is_named_by_kind_when_linked_or_looked_up_for_identifications(rdb, principal):
    from crms.biometrics.examination import identifications_of
    from crms.errors import NotFound
    from crms.records import services_cases as cases

    op, examiner = principal(), principal("fingerprint_examiner")
    with rdb.transaction() as session:
        case_id = cases.add_case(session, op, case_data()).id
    for call in (
        lambda s: cases.link_person(s, op, case_id, {"person_id": 987654, "role": "accused"}),
        lambda s: identifications_of(s, examiner, 987654),
    ):
        with pytest.raises(NotFound) as err, rdb.transaction() as session:
            call(session)
        assert err.value.field == "person_id" and err.value.message == "person 987654 not found"
        kinds = [(d["type"], d["values"]) for d in err.value.details]
        assert kinds == [("person_not_found", {"person": 987654})]
