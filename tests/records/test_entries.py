"""Correcting a person's entries, on SQLite and PostgreSQL: a document, alias, address or phone recorded in
error is taken off the record with a reason (the audit trail keeps what it held and why), and a physical
description is corrected on the copy last read (a correction made since is not undone)."""

from __future__ import annotations

import pytest

from crms.errors import Conflict, NotFound, PermissionDenied, ValidationError
from crms.records import services as svc

from ._support import audit_entries, person_data

CNIC = "54400-1234567-1"
REASON = "typed on the wrong record"


def _person(db, who, **kw) -> int:
    entries = dict(
        documents=[{"doc_type": "CNIC", "number": CNIC}],
        aliases=[{"name": "Raufa"}],
        addresses=[{"kind": "present", "district": "Quetta", "text": "Mohallah Kasi"}],
        phones=["0300 1234567"],
        descriptions=[
            {
                "observed_on": "2024-03-14",
                "height_cm": 170,
                "build": "thin",
                "marks": [{"kind": "scar", "body_location": "left cheek"}],
            }
        ],
    )
    data = person_data(**{**entries, **kw})
    with db.transaction() as session:
        return svc.register_person(session, who, data).person.id


def _read(db, who, person_id: int) -> dict:
    with db.transaction() as session:
        return svc.get_person(session, who, person_id)


@pytest.mark.parametrize(
    ("kind", "collection", "kept"),
    [
        ("document", "documents", "CNIC 54400-1234567-1"),
        ("alias", "aliases", "Raufa (latin)"),
        ("address", "addresses", "present Mohallah Kasi"),
        ("phone", "phones", "+923001234567"),
    ],
)
def test_an_entry_recorded_in_error_is_taken_off_with_its_reason(rdb, principal, kind, collection, kept):
    op = principal()
    pid = _person(rdb, op)
    before = _read(rdb, op, pid)
    entry_id = before[collection][0]["id"]

    with rdb.transaction() as session:
        svc.remove_entry(session, op, pid, kind, entry_id, {"reason": f"  {REASON} "})
    after = _read(rdb, op, pid)
    assert after[collection] == [] and after["version"] == before["version"] + 1
    others = [c for c in ("documents", "aliases", "addresses", "phones") if c != collection]
    assert all(after[c] == before[c] for c in others)  # nothing else is touched

    (entry,) = audit_entries(rdb, action=f"person.{kind}.remove")
    assert (entry.target_id, entry.reason, entry.username) == (str(pid), REASON, op.username)
    assert entry.detail.startswith(f"{kind} {entry_id}: {kept}") and "{" not in entry.detail


def test_a_removed_cnic_may_be_recorded_for_the_right_person(rdb, principal):
    op = principal()
    wrong = _person(rdb, op)
    right = _person(rdb, op, documents=[], given_name_en="Abdul Ghani")
    with rdb.transaction() as session, pytest.raises(Conflict):
        svc.add_document(session, op, right, {"doc_type": "CNIC", "number": CNIC})
    doc_id = _read(rdb, op, wrong)["documents"][0]["id"]
    with rdb.transaction() as session:
        svc.remove_entry(session, op, wrong, "document", doc_id, {"reason": REASON})
    with rdb.transaction() as session:
        svc.add_document(session, op, right, {"doc_type": "CNIC", "number": CNIC})
        assert svc.lookup_cnic(session, op, CNIC, reason="check post stop")["id"] == right


@pytest.mark.parametrize("reason", [None, "", "   ", "x" * 501])
def test_an_entry_is_not_taken_off_without_a_reason(rdb, principal, reason):
    op = principal()
    pid = _person(rdb, op)
    before = _read(rdb, op, pid)
    with rdb.transaction() as session, pytest.raises(ValidationError) as err:
        svc.remove_entry(session, op, pid, "phone", before["phones"][0]["id"], {"reason": reason})
    assert err.value.field == "reason"
    assert _read(rdb, op, pid) == before
    assert audit_entries(rdb, action="person.phone.remove") == []


def test_an_entry_of_another_person_or_kind_is_not_found(rdb, principal):
    op = principal()
    pid, other = _person(rdb, op), _person(rdb, op, documents=[], given_name_en="Abdul Ghani")
    alias_of_other = _read(rdb, op, other)["aliases"][0]["id"]
    with rdb.transaction() as session, pytest.raises(NotFound) as err:
        svc.remove_entry(session, op, pid, "alias", alias_of_other, {"reason": REASON})
    assert err.value.field == "alias_id" and f"alias {alias_of_other} not found for person {pid}" in str(
        err.value.message
    )
    phone_id = _read(rdb, op, pid)["phones"][0]["id"]
    with rdb.transaction() as session, pytest.raises(ValidationError) as err:
        svc.remove_entry(session, op, pid, "flag", phone_id, {"reason": REASON})
    assert err.value.field == "kind" and "document, alias, address, phone" in err.value.message
    assert _read(rdb, op, other)["aliases"] and _read(rdb, op, pid)["phones"]


def test_only_those_who_may_change_the_record_take_an_entry_off(rdb, principal):
    op, examiner = principal(), principal("fingerprint_examiner")
    outside = principal("cro_operator", "BA/MKN/KECH")  # another district's operator
    pid = _person(rdb, op, unit="BA/QTA")
    phone_id = _read(rdb, op, pid)["phones"][0]["id"]
    for who in (examiner, outside):
        with rdb.transaction() as session, pytest.raises(PermissionDenied):
            svc.remove_entry(session, who, pid, "phone", phone_id, {"reason": REASON})
    assert _read(rdb, op, pid)["phones"]


def test_a_description_correction_on_a_stale_copy_is_refused_and_writes_nothing(rdb, principal):
    op, other = principal(), principal("supervisor")
    pid = _person(rdb, op)
    seen = _read(rdb, op, pid)["descriptions"][0]
    assert seen["version"] == 1
    fixed = {"observed_on": "2024-03-14", "height_cm": 172, "build": "thin", "hair": "black, short"}
    with rdb.transaction() as session:
        row = svc.update_description(session, other, pid, seen["id"], {**fixed, "version": 1})
        assert row.version == 2

    mine = {"observed_on": "2024-03-14", "height_cm": 170, "build": "heavy", "version": seen["version"]}
    with rdb.transaction() as session, pytest.raises(Conflict) as err:
        svc.update_description(session, op, pid, seen["id"], mine)
    assert err.value.field == "version"
    assert f"description {seen['id']} was changed by {other.username}" in err.value.message
    assert "version 1, now 2" in err.value.message
    now = _read(rdb, op, pid)["descriptions"][0]
    assert (now["height_cm"], now["build"], now["hair"], now["marks"], now["version"]) == (
        172,
        "thin",
        "black, short",
        [],
        2,
    )
    assert len(audit_entries(rdb, action="person.description.update")) == 1

    with rdb.transaction() as session:  # made again on the copy read now: applied
        assert svc.update_description(session, op, pid, seen["id"], {**mine, "version": 2}).version == 3
    with rdb.transaction() as session:  # no version sent: applied to what is there
        assert svc.update_description(session, op, pid, seen["id"], fixed).version == 4


def test_a_description_of_another_person_is_not_found(rdb, principal):
    op = principal()
    pid, other = _person(rdb, op), _person(rdb, op, documents=[], given_name_en="Abdul Ghani")
    desc_id = _read(rdb, op, other)["descriptions"][0]["id"]
    with rdb.transaction() as session, pytest.raises(NotFound) as err:
        svc.update_description(session, op, pid, desc_id, {"observed_on": "2024-03-14"})
    assert err.value.field == "description_id"


def test_the_api_takes_entries_off_with_a_reason_and_corrects_descriptions(client, make_user, db):
    _, op = make_user("cro_operator")
    _, examiner = make_user("fingerprint_examiner")
    body = person_data(aliases=[{"name": "Raufa"}], phones=["0300 1234567"])
    body["descriptions"] = [{"observed_on": "2024-03-14", "height_cm": 170}]
    pid = client.post("/api/v1/persons", json=body, headers=op).json()["person"]["id"]
    record = client.get(f"/api/v1/persons/{pid}", headers=op).json()
    alias_id, phone_id = record["aliases"][0]["id"], record["phones"][0]["id"]

    r = client.delete(f"/api/v1/persons/{pid}/aliases/{alias_id}", headers=op)
    assert r.status_code == 422 and r.json()["field"] == "reason", r.text
    r = client.delete(f"/api/v1/persons/{pid}/aliases/{alias_id}?reason=x", headers=examiner)
    assert r.status_code == 403, r.text
    r = client.delete(f"/api/v1/persons/{pid}/aliases/{alias_id}", params={"reason": REASON}, headers=op)
    assert r.status_code == 204, r.text
    r = client.delete(f"/api/v1/persons/{pid}/aliases/{alias_id}", params={"reason": REASON}, headers=op)
    assert r.status_code == 404 and r.json()["field"] == "alias_id", r.text
    r = client.delete(f"/api/v1/persons/{pid}/documents/{phone_id}", params={"reason": REASON}, headers=op)
    assert r.status_code == 404, r.text  # a phone's number is no document's
    assert client.get(f"/api/v1/persons/{pid}/aliases", headers=op).json()["items"] == []
    assert client.get(f"/api/v1/persons/{pid}/phones", headers=op).json()["items"][0]["id"] == phone_id
    assert client.get(f"/api/v1/persons/{pid}/addresses", headers=op).json()["items"] == []
    assert client.get("/api/v1/persons/99999/phones", headers=op).status_code == 404

    (desc,) = client.get(f"/api/v1/persons/{pid}/descriptions", headers=op).json()["items"]
    url = f"/api/v1/persons/{pid}/descriptions/{desc['id']}"
    fixed = {"observed_on": "2024-03-14", "height_cm": 172, "beard": "full, black"}
    r = client.put(url, json={**fixed, "version": desc["version"]}, headers=op)
    assert r.status_code == 200 and r.json()["version"] == 2, r.text
    r = client.put(url, json={**fixed, "height_cm": 150, "version": desc["version"]}, headers=op)
    assert r.status_code == 409 and r.json()["field"] == "version", r.text
    (now,) = client.get(f"/api/v1/persons/{pid}/descriptions", headers=op).json()["items"]
    assert (now["height_cm"], now["beard"], now["version"]) == (172, "full, black", 2)
