"""Bulk reading (issue 21.6, 21.9, 20.7): browsing the register needs a role that may browse and a reason,
and its audit entry names the persons returned; reads are rate-limited per user and a read rate far above the
user's normal raises an audited alert the auditors can list; a case read audits the persons it reveals; a
read of a person id that does not exist is audited."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from crms.access.models import RateBucket
from crms.records import services as svc
from crms.records.services import guard

from ._support import audit_entries, case_data, person_data

PROBLEM = "application/problem+json"
QUETTA = "BA/QTA/QUETTA"


def _register(client, headers, **kw) -> int:
    r = client.post("/api/v1/persons", json=person_data(**kw), headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["person"]["id"]


def test_paging_the_register_needs_a_reason_and_a_role_that_may_browse(client, make_user, db):
    """Before: an administrator paged through the whole register with no reason; person.list entries named
    no persons."""
    _, op = make_user("cro_operator")
    _, admin = make_user("administrator")
    ids = [_register(client, op, given_name_en=f"Person {chr(65 + i)}") for i in range(3)]
    r = client.get("/api/v1/persons?limit=50", headers=admin)
    assert r.status_code == 403, r.text
    r = client.get("/api/v1/persons?limit=50", headers=op)
    assert r.status_code == 422 and r.json()["field"] == "reason", r.text
    r = client.get("/api/v1/persons", params={"limit": 2, "reason": "monthly register check"}, headers=op)
    assert r.status_code == 200, r.text
    listed = [p["id"] for p in r.json()["items"]]
    assert listed == ids[::-1][:2]
    (entry,) = audit_entries(db, action="person.list")
    assert entry.reason == "monthly register check"
    assert json.loads(entry.query)["ids"] == listed


def test_reads_are_rate_limited_per_user(client, make_user, db, monkeypatch):
    """Before: one user read 2,185 full records in 15 s; now the read bucket refuses with 429 (audited)."""
    monkeypatch.setenv("CRMS_RATE_READ", "5/600")
    _, op = make_user("cro_operator")
    _, other = make_user("cro_operator")
    pid = _register(client, op)
    for _ in range(5):
        assert client.get(f"/api/v1/persons/{pid}", headers=op).status_code == 200
    r = client.get(f"/api/v1/persons/{pid}", headers=op)
    assert r.status_code == 429 and r.headers["content-type"].startswith(PROBLEM), r.text
    assert client.get(f"/api/v1/persons/{pid}", headers=other).status_code == 200  # per user
    refused = audit_entries(db, action="access.refused")
    assert any("record reads" in (e.detail or "") for e in refused)
    r = client.get("/api/v1/persons", params={"limit": 50, "reason": "check"}, headers=other)
    assert r.status_code == 200  # 1 person on the page: 1 read
    monkeypatch.setenv("CRMS_RATE_READ", "3/600")
    _, third = make_user("cro_operator")
    for i in range(3):
        _register(client, op, given_name_en=f"Other {chr(65 + i)}")
    r = client.get("/api/v1/persons", params={"limit": 4, "reason": "check"}, headers=third)
    assert r.status_code == 429  # a page of 4 persons is 4 reads


def test_a_read_rate_far_above_normal_alerts_the_auditors(rdb, principal, client, make_user, monkeypatch):
    monkeypatch.setenv("CRMS_RATE_READ", "off")
    monkeypatch.setattr(guard, "ALERT_FLOOR", 20)
    op = principal()
    with rdb.transaction() as session:
        pid = svc.register_person(session, op, person_data()).person.id
    for _ in range(30):
        with rdb.transaction() as session:
            svc.get_person(session, op, pid)
    alerts = audit_entries(rdb, action="alert.read_rate")
    assert len(alerts) == 1  # once per window
    (alert,) = alerts
    assert alert.target_id == str(op.user_id) and alert.outcome == "alert"
    assert json.loads(alert.query)["reads"] == 21
    # an auditor lists the alerts
    _, auditor = make_user("auditor")
    r = client.get("/api/v1/audit", params={"action": "alert.read_rate"}, headers=auditor)
    assert r.status_code == 200, r.text
    assert r.text.count("alert.read_rate") >= 1


def test_a_user_whose_normal_is_high_is_not_alerted_at_the_floor(rdb, principal, monkeypatch):
    monkeypatch.setenv("CRMS_RATE_READ", "off")
    monkeypatch.setattr(guard, "ALERT_FLOOR", 20)
    op = principal()
    with rdb.transaction() as session:
        pid = svc.register_person(session, op, person_data()).person.id
        session.add(RateBucket(key=f"readnorm:{op.user_id}", tokens=5.0, updated_at=guard.utcnow()))
    for _ in range(40):  # normal 5 per window: the alert is above max(20, 10 x 5) = 50
        with rdb.transaction() as session:
            svc.get_person(session, op, pid)
    assert audit_entries(rdb, action="alert.read_rate") == []
    for _ in range(11):
        with rdb.transaction() as session:
            svc.get_person(session, op, pid)
    assert len(audit_entries(rdb, action="alert.read_rate")) == 1
    with rdb.transaction() as session:
        win = session.scalar(select(RateBucket).where(RateBucket.key == f"readwin:{op.user_id}"))
        assert win.tokens == 51


def test_a_case_read_audits_the_persons_it_reveals(client, make_user, db):
    """Before: GET /cases/{id} and /cases/by-fir showed the parties' ids, names and statuses but were
    audited only as case.read."""
    _, sho = make_user("sho", unit=QUETTA)
    _, reader = make_user("investigating_officer")
    a = _register(client, sho, given_name_en="Accused One")
    b = _register(client, sho, given_name_en="Complainant Two")
    case_id = client.post("/api/v1/cases", json=case_data(), headers=sho).json()["id"]
    for pid, role in ((a, "accused"), (b, "complainant")):
        r = client.post(f"/api/v1/cases/{case_id}/links", json={"person_id": pid, "role": role}, headers=sho)
        assert r.status_code == 201, r.text
    assert client.get(f"/api/v1/cases/{case_id}", headers=reader).status_code == 200
    fir = {"police_station": "QUETTA-CANTT", "fir_number": 112, "year": 2024}
    assert client.get("/api/v1/cases/by-fir", params=fir, headers=reader).status_code == 200
    for pid in (a, b):
        reads = [e for e in audit_entries(db, action="person.read", target_id=str(pid)) if e.username != "x"]
        mine = [e for e in reads if json.loads(e.query or "{}").get("case_id") == case_id]
        assert len(mine) == 2, [(e.username, e.query) for e in reads]
    (first, _) = audit_entries(db, action="case.read")
    assert json.loads(first.query)["persons"] == sorted([a, b])


@pytest.mark.parametrize("suffix", ["", "/documents", "/cases"])
def test_a_read_of_a_missing_person_is_audited(client, make_user, db, suffix):
    """Before: GET /persons/999999 answered 404 and left no trace."""
    user, op = make_user("cro_operator")
    r = client.get(f"/api/v1/persons/999999{suffix}", headers=op)
    assert r.status_code == 404 and r.json()["field"] == "person_id", r.text
    (entry,) = audit_entries(db, action="person.read", target_id="999999")
    assert entry.outcome == "not_found" and entry.user_id == user.id


@pytest.mark.parametrize("path", ["/api/v1/persons", "/api/v1/cases", "/api/v1/audit"])
def test_a_page_offset_past_every_id_is_refused_by_name(client, make_user, path):
    """Before: ``offset=79006765105684047865053184`` reached the database and SQLite answered a 500 (Python
    int too large to convert to SQLite INTEGER; found by fuzzing the API). Offsets stop at the id range's
    end; the last offset allowed reads an empty page on both backends."""
    from crms.db import MAX_ID

    _, who = make_user("auditor" if path.endswith("audit") else "cro_operator")
    params = {"reason": "monthly register check"} if path.endswith("persons") else {}
    for offset in (2**63, MAX_ID + 1):
        r = client.get(path, params={**params, "offset": offset}, headers=who)
        assert r.status_code == 422 and r.json()["field"] == "offset", r.text
    r = client.get(path, params={**params, "offset": MAX_ID}, headers=who)
    assert r.status_code == 200 and r.json()["items"] == [], r.text


@pytest.mark.parametrize("lister", ["persons", "cases", "audit"])
def test_services_refuse_an_offset_past_every_id(db, make_user, lister):
    from crms.access import audit
    from crms.access.users import principal_for
    from crms.db import MAX_ID
    from crms.errors import ValidationError

    user, _ = make_user("auditor" if lister == "audit" else "cro_operator")
    principal = principal_for(user, channel="api", address="10.0.0.1")
    past = MAX_ID + 1
    call = {
        "persons": lambda s: svc.list_persons(s, principal, offset=past, reason="monthly register check"),
        "cases": lambda s: svc.list_cases(s, principal, offset=past),
        "audit": lambda s: audit.query(s, principal, offset=past),
    }[lister]
    with pytest.raises(ValidationError, match="offset") as err, db.transaction() as s:
        call(s)
    assert err.value.field == "offset"
