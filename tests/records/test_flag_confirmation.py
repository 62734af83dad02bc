"""A flag raised on a person from outside the person's home district waits for that district's confirmation
(issue 21.14): before, a Quetta operator could link a Panjgur person (whom it may not edit) to its own FIR
as an absconder and raise province-wide wanted flags at once."""

from __future__ import annotations

import pytest

from crms.errors import Conflict, PermissionDenied
from crms.records import services as svc

from ._support import audit_entries, case_data, person_data

QUETTA, PANJGUR = "BA/QTA/QUETTA", "BA/MKN/PANJGUR"


def _panjgur_person(rdb, principal) -> int:
    panjgur_op = principal("cro_operator", PANJGUR)
    with rdb.transaction() as s:
        return svc.register_person(
            s, panjgur_op, person_data(documents=[{"doc_type": "CNIC", "number": "54400-1234567-3"}])
        ).person.id


def _abscond_in_quetta(rdb, quetta_op, pid) -> int:
    with rdb.transaction() as s:
        case = svc.add_case(s, quetta_op, case_data())
        link = svc.link_person(s, quetta_op, case.id, {"person_id": pid, "role": "accused"})
        svc.change_party_status(s, quetta_op, link.id, {"status": "absconder"})
        return case.id


def test_a_flag_raised_outside_the_home_district_is_pending(rdb, principal):
    pid = _panjgur_person(rdb, principal)
    quetta_op = principal("cro_operator", QUETTA)
    case_id = _abscond_in_quetta(rdb, quetta_op, pid)
    searcher = principal("investigating_officer", "BA")
    with rdb.transaction() as s:
        record = svc.get_person(s, searcher, pid)
        hit = svc.lookup_cnic(s, searcher, "54400-1234567-3", reason="checkpost")
    assert record["active_flags"] == []  # not wanted province-wide on Quetta's word alone
    assert sorted(f["kind"] for f in record["flags"]) == ["absconder", "wanted"]
    assert {f["pending_confirmation_by"] for f in record["flags"]} == {PANJGUR}
    assert not any(f["active"] for f in record["flags"])
    assert hit["summary"]["active_flags"] == []
    assert {f["pending_confirmation_by"] for f in hit["flags"]} == {PANJGUR}  # the check-post sees it pending
    pending = audit_entries(rdb, action="person.flag.pending")
    assert len(pending) == 2 and all(e.target_id == str(pid) for e in pending)

    # the home district's SHO lists and confirms; a Quetta SHO cannot
    quetta_sho = principal("sho", QUETTA)
    panjgur_sho = principal("sho", PANJGUR + "/PANJGUR-CITY")
    with rdb.transaction() as s:
        assert svc.pending_flags(s, quetta_sho) == []
        waiting = svc.pending_flags(s, panjgur_sho)
    assert sorted(f["kind"] for f in waiting) == ["absconder", "wanted"] and waiting[0]["case_id"] == case_id
    wanted = next(f["id"] for f in waiting if f["kind"] == "wanted")
    absconder = next(f["id"] for f in waiting if f["kind"] == "absconder")
    with rdb.transaction() as s, pytest.raises(PermissionDenied):
        svc.confirm_flag(s, quetta_sho, wanted, {"action": "confirm", "reason": "our FIR"})
    with rdb.transaction() as s, pytest.raises(PermissionDenied):  # operators do not confirm
        svc.confirm_flag(s, principal("cro_operator", PANJGUR), wanted, {"action": "confirm", "reason": "x"})
    with rdb.transaction() as s:
        svc.confirm_flag(s, panjgur_sho, wanted, {"action": "confirm", "reason": "verified with Quetta"})
        svc.confirm_flag(s, panjgur_sho, absconder, {"action": "reject", "reason": "he is in custody here"})
    with rdb.transaction() as s, pytest.raises(Conflict):
        svc.confirm_flag(s, panjgur_sho, wanted, {"action": "confirm", "reason": "again"})
    with rdb.transaction() as s:
        record = svc.get_person(s, searcher, pid)
    assert record["active_flags"] == ["wanted"]
    assert [a.action for a in audit_entries(rdb, target_id=str(pid)) if a.action.startswith("person.flag.")][
        -2:
    ] == ["person.flag.confirm", "person.flag.reject"]


def test_a_flag_raised_within_the_home_district_is_active_at_once(rdb, principal):
    quetta_op = principal("cro_operator", QUETTA)
    with rdb.transaction() as s:
        pid = svc.register_person(s, quetta_op, person_data()).person.id
    _abscond_in_quetta(rdb, quetta_op, pid)
    with rdb.transaction() as s:
        assert svc.get_person(s, quetta_op, pid)["active_flags"] == ["absconder", "wanted"]
    # a province-level officer's flag on the Panjgur person is active at once too
    other = _panjgur_person(rdb, principal)
    with rdb.transaction() as s:
        case = svc.add_case(s, principal("sho", QUETTA), case_data(fir_number=7))
    province = principal("supervisor", "BA")
    with rdb.transaction() as s:
        link = svc.link_person(s, province, case.id, {"person_id": other, "role": "accused"})
        svc.change_party_status(s, province, link.id, {"status": "absconder"})
        assert svc.get_person(s, province, other)["active_flags"] == ["absconder", "wanted"]


def test_api_pending_list_and_confirmation(client, make_user, db):
    _, panjgur_op = make_user("cro_operator", unit=PANJGUR)
    _, quetta_sho = make_user("sho", unit=QUETTA)
    _, panjgur_sho = make_user("sho", unit=PANJGUR)
    pid = client.post("/api/v1/persons", json=person_data(), headers=panjgur_op).json()["person"]["id"]
    case_id = client.post("/api/v1/cases", json=case_data(), headers=quetta_sho).json()["id"]
    link = client.post(
        f"/api/v1/cases/{case_id}/links", json={"person_id": pid, "role": "accused"}, headers=quetta_sho
    ).json()["link_id"]
    client.post(f"/api/v1/links/{link}/status", json={"status": "absconder"}, headers=quetta_sho)
    waiting = client.get("/api/v1/flags/pending", headers=panjgur_sho).json()["items"]
    assert len(waiting) == 2
    r = client.post(
        f"/api/v1/flags/{waiting[0]['id']}/confirm",
        json={"action": "confirm", "reason": "ok"},
        headers=quetta_sho,
    )
    assert r.status_code == 403
    r = client.post(
        f"/api/v1/flags/{waiting[0]['id']}/confirm",
        json={"action": "confirm", "reason": "ok"},
        headers=panjgur_sho,
    )
    assert r.status_code == 200 and r.json()["active"] is True, r.text
