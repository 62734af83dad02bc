"""Lost updates, on SQLite and PostgreSQL: an edit made on a copy of a person, a case or a person's link to a
case read before someone else changed it is refused (409 naming ``version``) and writes nothing, in the
services, the API and the edit forms; an edit that sends no version still applies to what is there."""

from __future__ import annotations

import re

import pytest

from crms.errors import Conflict, ValidationError
from crms.records import services as svc
from crms.records import services_cases as cases

from ._support import audit_entries, case_data, person_data, signed_in

PROBLEM = "application/problem+json"


def _person(db, who) -> int:
    with db.transaction() as session:
        return svc.register_person(session, who, person_data()).person.id


def _read(db, who, person_id: int) -> dict:
    with db.transaction() as session:
        return svc.get_person(session, who, person_id)


def test_a_person_edit_on_a_stale_copy_is_refused_and_writes_nothing(rdb, principal):
    op, other = principal(), principal("supervisor")
    pid = _person(rdb, op)
    seen = _read(rdb, op, pid)
    assert seen["version"] == 1
    with rdb.transaction() as session:
        assert svc.update_person(session, other, pid, {"caste": "Bugti", "version": 1}).version == 2

    with rdb.transaction() as session, pytest.raises(Conflict) as err:
        svc.update_person(session, op, pid, {"caste": "Raisani", "notes": "x", "version": seen["version"]})
    assert err.value.field == "version"
    message = err.value.message
    assert f"person {pid} was changed by {other.username}" in message and "version 1, now 2" in message
    now = _read(rdb, op, pid)
    assert (now["caste"], now["notes"], now["version"]) == ("Bugti", None, 2)
    assert [e.action for e in audit_entries(rdb, target_id=str(pid))].count("person.update") == 1

    with rdb.transaction() as session:  # made again on the copy read now: applied
        assert svc.update_person(session, op, pid, {"caste": "Raisani", "version": 2}).version == 3
    with rdb.transaction() as session:  # no version sent: applied to what is there
        assert svc.update_person(session, op, pid, {"notes": "seen at Sariab"}).version == 4
    assert _read(rdb, op, pid)["caste"] == "Raisani"


def test_a_change_to_a_part_of_the_record_also_makes_earlier_copies_stale(rdb, principal):
    """Adding an alias changes the person's record (its version): a form opened before must be checked
    against it, as the officer who opened it has not seen the alias."""
    op = principal()
    pid = _person(rdb, op)
    with rdb.transaction() as session:
        svc.add_alias(session, op, pid, {"name": "Raufa"})
    assert _read(rdb, op, pid)["version"] == 2
    with rdb.transaction() as session, pytest.raises(Conflict):
        svc.update_person(session, op, pid, {"caste": "Raisani", "version": 1})


@pytest.mark.parametrize("version", [0, -1, 2**31, "two"])
def test_an_impossible_version_is_refused_naming_it(rdb, principal, version):
    op = principal()
    pid = _person(rdb, op)
    with rdb.transaction() as session, pytest.raises(ValidationError) as err:
        svc.update_person(session, op, pid, {"caste": "Raisani", "version": version})
    assert err.value.field == "version" or "version" in err.value.message


def test_a_case_edit_on_a_stale_copy_is_refused(rdb, principal):
    sho, other = principal("sho", "BA/QTA/QUETTA"), principal("sho", "BA/QTA/QUETTA")
    with rdb.transaction() as session:
        case_id = cases.add_case(session, sho, case_data()).id
    with rdb.transaction() as session:
        assert cases.get_case(session, sho, case_id)["version"] == 1
        cases.update_case(session, other, case_id, {"place": "Sariab Road", "version": 1})
    with rdb.transaction() as session, pytest.raises(Conflict) as err:
        cases.update_case(session, sho, case_id, {"notes": "recovered", "version": 1})
    assert err.value.field == "version" and other.username in err.value.message
    with rdb.transaction() as session:
        case = cases.get_case(session, sho, case_id)
    assert (case["place"], case["notes"], case["version"]) == ("Sariab Road", None, 2)


def test_the_api_reports_the_version_and_refuses_a_stale_patch(client, make_user, db):
    _, op = make_user("cro_operator")
    _, sho = make_user("sho", unit="BA/QTA/QUETTA")
    r = client.post("/api/v1/persons", json=person_data(), headers=op)
    pid = r.json()["person"]["id"]
    assert r.json()["person"]["version"] == 1
    assert client.get(f"/api/v1/persons/{pid}", headers=op).json()["version"] == 1
    r = client.patch(f"/api/v1/persons/{pid}", json={"caste": "Bugti", "version": 1}, headers=op)
    assert r.status_code == 200 and r.json()["version"] == 2, r.text
    r = client.patch(f"/api/v1/persons/{pid}", json={"caste": "Raisani", "version": 1}, headers=op)
    assert r.status_code == 409 and r.headers["content-type"].startswith(PROBLEM), r.text
    assert r.json()["field"] == "version"
    assert client.get(f"/api/v1/persons/{pid}", headers=op).json()["caste"] == "Bugti"
    r = client.patch(f"/api/v1/persons/{pid}", json={"caste": "Raisani", "version": 0}, headers=op)
    assert r.status_code == 422 and "version" in r.text
    r = client.patch(f"/api/v1/persons/{pid}", json={"caste": "Raisani", "version": 7}, headers=op)
    assert r.status_code == 409 and "is at version 2: there is no version 7" in r.json()["detail"], r.text
    for same in ({"version": 2}, {"caste": "Bugti", "version": 2}, {"caste": "Bugti"}):  # nothing changes
        r = client.patch(f"/api/v1/persons/{pid}", json=same, headers=op)
        assert r.status_code == 200 and r.json()["version"] == 2, (same, r.text)
    assert [c["action"] for c in client.get(f"/api/v1/persons/{pid}", headers=op).json()["changes"]] == [
        "update"
    ]

    case = client.post("/api/v1/cases", json=case_data(), headers=sho).json()
    assert case["version"] == 1
    r = client.patch(f"/api/v1/cases/{case['id']}", json={"place": "Sariab Road", "version": 1}, headers=sho)
    assert r.status_code == 200 and r.json()["version"] == 2, r.text
    r = client.patch(f"/api/v1/cases/{case['id']}", json={"notes": "x", "version": 1}, headers=sho)
    assert r.status_code == 409 and r.json()["field"] == "version"


INPUTS = r'<input[^>]* name="(\w+)"[^>]* value="([^"]*)"'
# A row of the stale notice's table: field, as the officer found it, as it is now, as their form holds it
# (and whether they changed it too).
CHANGED = (
    r'<tr( class="clash")?><th scope="row">([^<]+)(?:<br><strong>[^<]+</strong>)?</th>'
    r'<td dir="auto">([^<]*)</td><td dir="auto">([^<]*)</td><td dir="auto">([^<]*)</td>'
)


def changed_rows(html: str) -> list[tuple]:
    return [
        (field, was, now, yours, bool(clash)) for clash, field, was, now, yours in re.findall(CHANGED, html)
    ]


def test_the_edit_page_keeps_the_officers_entries_and_shows_what_changed(app, db):
    """Two officers open the same person's edit page; the second to save is shown what changed meanwhile
    (409), nothing of theirs saved: their own changes kept, the fields they left showing the record as it is
    now. Saving that page again applies their changes and keeps the other officer's (it undid them)."""
    with signed_in(app, db, "cro_operator") as (c, api):
        pid = c.post("/api/v1/persons", json=person_data(), headers=api).json()["person"]["id"]
        form = dict(re.findall(INPUTS, c.get(f"/persons/{pid}/edit").text))
        assert form["version"] == "1" and form["caste"] == "Kakar"

        other = {"caste": "Bugti", "family_name_en": "Kakar Jr"}
        r = c.patch(f"/api/v1/persons/{pid}", json=other, headers=api)  # the other officer
        assert r.status_code == 200, r.text
        form = {**form, "gender": "M", "parentage_relation": "s/o"}  # the form's selects
        r = c.post(
            f"/persons/{pid}/edit",
            data={**form, "caste": "Raisani", "given_name_en": "Rauf", "parentage_relation": "w/o"},
        )
        assert r.status_code == 409, r.text[:300]
        assert 'id="stale"' in r.text and "version 2; your form was opened at version 1" in r.text
        notice = r.text[r.text.index('id="stale"') : r.text.index("</p>", r.text.index('id="stale"'))]
        me = c.get(f"/api/v1/persons/{pid}", headers=api).json()["updated_by_name"]
        assert f" by {me}: version 2" in notice and 'lang="en"' not in notice  # who, in the page's words
        c.cookies.set("crms_lang", "ur")
        urdu = c.post(f"/persons/{pid}/edit", data={**form, "caste": "Raisani"}).text
        notice = urdu[urdu.index('id="stale"') : urdu.index("</p>", urdu.index('id="stale"'))]
        assert f"از {me}: ورژن 2" in notice and "since it was read" not in notice
        c.cookies.set("crms_lang", "en")
        assert sorted(changed_rows(r.text)) == [
            ("Caste", "Kakar", "Bugti", "Raisani", True),  # both changed it: the officer's entry kept
            ("Family name (English)", "Kakar", "Kakar Jr", "Kakar Jr", False),  # theirs: now in the form
        ]
        kept = dict(re.findall(INPUTS, r.text))
        assert (kept["caste"], kept["given_name_en"], kept["family_name_en"]) == (
            "Raisani",
            "Rauf",
            "Kakar Jr",
        )
        assert kept["version"] == "2" and kept["was_family_name_en"] == "Kakar Jr"
        record = c.get(f"/api/v1/persons/{pid}", headers=api).json()
        assert (record["caste"], record["given_name_en"]) == ("Bugti", "Abdul Rauf")

        r = c.post(f"/persons/{pid}/edit", data={**kept, "parentage_relation": "w/o", "gender": "M"})
        assert r.status_code == 303, r.text[:300]
        record = c.get(f"/api/v1/persons/{pid}", headers=api).json()
    assert (record["caste"], record["given_name_en"], record["version"]) == ("Raisani", "Rauf", 3)
    assert (record["family_name_en"], record["parentage_relation"]) == ("Kakar Jr", "w/o")


def test_the_case_edit_page_changes_the_details_and_refuses_a_stale_save(app, db):
    with signed_in(app, db, "sho", "BA/QTA/QUETTA") as (c, api):
        case_id = c.post("/api/v1/cases", json=case_data(), headers=api).json()["id"]
        assert f'href="/cases/{case_id}/edit"' in c.get(f"/cases/{case_id}").text
        form = dict(re.findall(INPUTS, c.get(f"/cases/{case_id}/edit").text))
        assert (form["version"], form["place"], form["sections"]) == ("1", "Zarghoon Road", "392/411/34 PPC")

        r = c.post(f"/cases/{case_id}/edit", data={**form, "sections": ""})  # refused naming the field
        assert r.status_code == 422 and 'id="e-sections"' in r.text
        r = c.post(f"/cases/{case_id}/edit", data={**form, "notes": "Motorbike recovered"})
        assert r.status_code == 303, r.text[:300]
        r = c.post(f"/cases/{case_id}/edit", data={**form, "place": "Sariab Road"})  # made on version 1
        assert r.status_code == 409 and 'id="stale"' in r.text
        assert changed_rows(r.text) == [("Notes", "—", "Motorbike recovered", "Motorbike recovered", False)]
        case = c.get(f"/api/v1/cases/{case_id}", headers=api).json()
        assert (case["place"], case["notes"], case["version"]) == ("Zarghoon Road", "Motorbike recovered", 2)
        kept = dict(re.findall(INPUTS, r.text))
        assert c.post(f"/cases/{case_id}/edit", data=kept).status_code == 303  # saved again: both kept
        case = c.get(f"/api/v1/cases/{case_id}", headers=api).json()
        assert (case["place"], case["notes"], case["version"]) == ("Sariab Road", "Motorbike recovered", 3)
    with signed_in(app, db, "fingerprint_examiner") as (c, _):  # may read cases, not change them
        assert c.get(f"/cases/{case_id}/edit").status_code == 403


def test_a_person_in_case_edit_on_a_stale_copy_is_refused_on_the_case_page(app, db):
    """Modus operandi and gang, as persons' and cases' fields: the case page's form carries the version it
    was opened at; a save after someone else's is refused (409) with a notice in that form, the entries
    kept and the version now current, so saving again applies them."""
    with signed_in(app, db, "sho", "BA/QTA/QUETTA") as (c, api):
        case_id = c.post("/api/v1/cases", json=case_data(), headers=api).json()["id"]
        pid = c.post("/api/v1/persons", json=person_data(), headers=api).json()["person"]["id"]
        accused = {"person_id": pid, "role": "accused"}
        link_id = c.post(f"/api/v1/cases/{case_id}/links", json=accused, headers=api).json()["link_id"]
        page = c.get(f"/cases/{case_id}").text
        form = dict(re.findall(INPUTS, page[page.index(f'id="link-{link_id}-edit"') :]))
        assert form["version"] == "1"

        r = c.patch(f"/api/v1/links/{link_id}", json={"gang": "Zarghoon gang", "version": 1}, headers=api)
        assert r.status_code == 200 and r.json()["version"] == 2, r.text
        r = c.patch(f"/api/v1/links/{link_id}", json={"gang": "x", "version": 1}, headers=api)
        assert r.status_code == 409 and r.json()["field"] == "version", r.text

        data = {"csrf_token": form["csrf_token"], "version": "1", "modus_operandi": "dacoity", "gang": ""}
        r = c.post(f"/cases/{case_id}/links/{link_id}/edit", data=data)
        assert r.status_code == 409, r.text[:300]
        edit = r.text[r.text.index(f'id="link-{link_id}-edit"') :]
        assert 'class="notice" role="alert"' in edit and 'value="dacoity"' in edit
        kept = dict(re.findall(INPUTS, edit))
        assert kept["version"] == "2"
        assert c.get(f"/api/v1/links/{link_id}", headers=api).json()["gang"] == "Zarghoon gang"  # not undone

        r = c.post(f"/cases/{case_id}/links/{link_id}/edit", data={**data, "version": kept["version"]})
        assert r.status_code == 303, r.text[:300]
        saved = c.get(f"/api/v1/links/{link_id}", headers=api).json()
    assert (saved["modus_operandi"], saved["gang"], saved["version"]) == ("dacoity", None, 3)
