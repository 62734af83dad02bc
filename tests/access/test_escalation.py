"""Privilege escalation and jurisdiction through the real records API: a user of district A cannot write a
record of district B (but reads province-wide), an auditor cannot touch records, a search needs a reason and
is rate limited per user. Each refusal has the right status and leaves an audit entry."""

from __future__ import annotations

import pytest

from crms.access.policy import Permission, authorize, unit_contains
from crms.access.principal import Principal
from crms.errors import PermissionDenied

from .conftest import entries, last_entry

CASE = {
    "police_station": "QUETTA-CANTT",
    "fir_number": 12,
    "registered_on": "2026-01-05",
    "year": 2026,
    "sections": "392/411/34 PPC",
}


def _units():
    from crms.records.reference import unit_path

    return unit_path("QUETTA"), unit_path("KHUZDAR")


def _need_records(app):
    paths = {getattr(r, "path", None) for r in app.routes}
    for r in app.routes:
        if hasattr(r, "effective_route_contexts"):
            paths |= {c.path for c in r.effective_route_contexts()}
    if "/api/v1/cases" not in paths:
        pytest.skip("records API not present")


def test_unit_contains():
    assert unit_contains("BA", "BA/QTA/QUETTA/QUETTA-CANTT")
    assert unit_contains("BA/QTA/QUETTA", "ba/qta/quetta/quetta-cantt")
    assert unit_contains("BA/QTA/QUETTA", "BA/QTA/QUETTA")
    assert not unit_contains("BA/QTA/QUETTA", "BA/QTA/QUETTA-X")  # a prefix of the name is not a parent
    assert not unit_contains("BA/QTA/QUETTA", "BA/QTA")
    assert not unit_contains("BA/KLT/KHUZDAR", "BA/QTA/QUETTA/QUETTA-CANTT")


def test_authorize_table():
    op = Principal(user_id=1, username="op", role="cro_operator", unit="BA/QTA/QUETTA")
    authorize(op, Permission.PERSON_WRITE, unit="BA/QTA/QUETTA/QUETTA-CANTT")
    authorize(op, Permission.PERSON_READ, unit="BA/KLT/KHUZDAR")  # reads are province-wide
    with pytest.raises(PermissionDenied, match="jurisdiction"):
        authorize(op, Permission.PERSON_WRITE, unit="BA/KLT/KHUZDAR")
    with pytest.raises(PermissionDenied):
        authorize(op, Permission.USER_ADMIN)
    auditor = Principal(user_id=2, username="a", role="auditor")
    for perm in (Permission.PERSON_READ, Permission.SEARCH_CNIC, Permission.CASE_WRITE):
        with pytest.raises(PermissionDenied):
            authorize(auditor, perm)
    nobody = Principal(user_id=3, username="n", role="none")
    with pytest.raises(PermissionDenied):
        authorize(nobody, Permission.PERSON_READ)
    scoped = Principal(user_id=4, username="s", role="supervisor", scopes=frozenset({"person:read"}))
    authorize(scoped, Permission.PERSON_READ)
    with pytest.raises(PermissionDenied):
        authorize(scoped, Permission.PERSON_WRITE)


def test_district_a_cannot_write_district_b(app, db, sclient, make_user):
    _need_records(app)
    quetta, khuzdar = _units()
    _, qh = make_user("cro_operator", unit=quetta)
    kuser, kh = make_user("cro_operator", unit=khuzdar)
    r = sclient.post("/api/v1/cases", json=CASE, headers=qh)
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]
    # Khuzdar may read Quetta's case (province-wide reads) ...
    assert sclient.get(f"/api/v1/cases/{case_id}", headers=kh).status_code == 200
    # ... but not change it, nor register one in Quetta.
    r = sclient.patch(f"/api/v1/cases/{case_id}", json={"place": "changed"}, headers=kh)
    assert r.status_code == 403 and "jurisdiction" in r.json()["detail"]
    e = last_entry(db)
    assert (e.action, e.outcome, e.user_id) == ("access.refused", "refused", kuser.id)
    assert f"/api/v1/cases/{case_id}" in e.query
    r = sclient.post("/api/v1/cases", json={**CASE, "fir_number": 13}, headers=kh)
    assert r.status_code == 403
    assert last_entry(db).user_id == kuser.id
    assert sclient.get(f"/api/v1/cases/{case_id}", headers=qh).json()["place"] != "changed"


def test_auditor_cannot_read_or_write_records(app, db, sclient, make_user):
    _need_records(app)
    auditor, ah = make_user("auditor")
    for method, path, body in (("post", "/api/v1/cases", CASE), ("get", "/api/v1/cases", None)):
        r = sclient.request(method, path, json=body, headers=ah)
        assert r.status_code == 403
        assert last_entry(db).user_id == auditor.id


def test_search_needs_reason_and_is_rate_limited(app, db, sclient, make_user, monkeypatch):
    _need_records(app)
    monkeypatch.setenv("CRMS_RATE_SEARCH", "2/60")
    user, h = make_user("cro_operator")
    r = sclient.get("/api/v1/persons", params={"cnic": "35202-1234567-1"}, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "reason"
    e = last_entry(db)
    assert (e.action, e.user_id) == ("access.refused", user.id)
    for _ in range(2):
        r = sclient.get(
            "/api/v1/persons", params={"cnic": "35202-1234567-1", "reason": "FIR 12/2026"}, headers=h
        )
        assert r.status_code == 404  # searched (and audited), nobody found
    r = sclient.get("/api/v1/persons", params={"cnic": "35202-1234567-1", "reason": "FIR 12/2026"}, headers=h)
    assert r.status_code == 429
    assert last_entry(db).detail.startswith("too many searches")
    searches = [x for x in entries(db, user_id=user.id) if x.action.startswith("search")]
    assert len(searches) == 2 and all(x.reason == "FIR 12/2026" for x in searches)
