"""A NUL character (``\\x00``) in any text, on SQLite and PostgreSQL: PostgreSQL cannot store one and
answered with an error that became a 500; SQLite stored it, invisible in names and searches. Whatever
carries one (a JSON body, a page's form, a query string, a search reason) is refused with 422 naming what
it can, and nothing is written."""

from __future__ import annotations

import re

import pytest

from crms.access import audit
from crms.errors import ValidationError
from tests.records._support import case_data, person_data, signed_in

CSRF = r'name="csrf_token" value="([^"]+)"'


def test_a_nul_in_a_json_body_is_refused_naming_the_field_and_nothing_is_written(app, db):
    with signed_in(app, db, "sho", "BA/QTA/QUETTA") as (c, api):
        before = c.get("/api/v1/cases", headers=api).json()["total"]
        r = c.post("/api/v1/persons", json=person_data(given_name_en="Ab\x00dul"), headers=api)
        assert r.status_code == 422 and r.json()["field"] == "given_name_en", r.text
        aliases = [{"name": "Raufi"}, {"name": "Rau\x00fa"}, {"name": "Rauf Khan"}]  # (a name's own rule)
        r = c.post("/api/v1/persons", json=person_data(aliases=aliases), headers=api)
        assert r.status_code == 422 and r.json()["field"] == "aliases.1.name", r.text
        assert c.get("/api/v1/persons", params={"reason": "check the NUL"}, headers=api).json()["total"] == 0
        r = c.post("/api/v1/cases", json=case_data(place="Zarghoon\x00 Road"), headers=api)
        assert r.status_code == 422 and "NUL" in r.json()["detail"], r.text
        assert c.get("/api/v1/cases", headers=api).json()["total"] == before


def test_a_nul_in_a_query_string_is_refused_on_the_api_and_the_pages(app, db):
    with signed_in(app, db, "sho", "BA/QTA/QUETTA") as (c, api):
        r = c.get("/api/v1/cases", params={"district": "Quetta\x00"}, headers=api)
        assert r.status_code == 422 and r.json()["field"] == "district", r.text
        r = c.get(
            "/api/v1/cases/by-fir",
            params={"police_station": "\x00", "fir_number": 1, "year": 2024},
            headers=api,
        )
        assert r.status_code == 422, r.text
        r = c.get("/cases", params={"district": "\x00"})
        assert r.status_code == 422 and r.headers["content-type"].startswith("text/html"), r.text[:300]


def test_a_nul_in_a_pages_form_is_refused_at_its_field(app, db):
    with signed_in(app, db, "cro_operator") as (c, api):
        token = re.search(CSRF, c.get("/persons/new").text).group(1)
        form = {"csrf_token": token, **{k: str(v) for k, v in person_data().items()}, "caste": "Ka\x00kar"}
        r = c.post("/persons/new", data=form)
        assert r.status_code == 422 and 'id="e-caste"' in r.text, r.text[:300]
        assert c.get("/api/v1/persons", params={"reason": "test of NUL"}, headers=api).json()["total"] == 0


def test_a_search_reason_with_a_control_character_is_refused():
    for reason in ("FIR 12\x00/2026", "FIR 12/2026\nand more", "check\x1b[2Jpost"):
        with pytest.raises(ValidationError) as err:
            audit.require_reason(reason)
        assert err.value.field == "reason"
    assert (
        audit.require_reason("ایف آئی آر\u200c 12/2026") == "ایف آئی آر\u200c 12/2026"
    )  # a ZWNJ is Urdu text


def test_the_check_reads_single_rows_and_batches_of_either_shape():
    from crms.db import check_no_nul

    check_no_nul(("Quetta", 5, None, b"\x00 bytes are not text"), None, False)
    check_no_nul([("Quetta",), ("Sibi",)], None, True)
    for params, many in (
        (("Qu\x00etta",), False),
        ({"name_1": "Qu\x00etta"}, False),
        ([("Quetta",), ("Sibi",), ("Zh\x00ob",)], True),  # executemany: a list of rows
        ([{"name": "Quetta"}, {"name": "Zh\x00ob"}], True),
        (("Zh\x00ob", 3), True),  # SQLite's insertmanyvalues: one row, flagged many
    ):
        with pytest.raises(ValidationError, match="NUL"):
            check_no_nul(params, None, many)
    with pytest.raises(ValidationError) as err:
        check_no_nul([{"name__1": "a"}, {"name__1": "\x00"}], None, True)
    assert err.value.field == "name"


def test_a_sign_in_with_a_nul_in_the_name_is_an_unknown_name_refused_and_audited(app, db):
    from fastapi.testclient import TestClient

    from tests.access.conftest import last_entry

    with TestClient(app, base_url="https://testserver") as c:
        r = c.post("/api/v1/auth/tokens", json={"username": "ad\x00min", "password": "x" * 12, "name": "t"})
        assert r.status_code == 401 and r.json()["detail"] == "invalid username or password", r.text
    entry = last_entry(db)
    assert (entry.action, entry.outcome, entry.username) == ("auth.login", "refused", "ad\ufffdmin")


def test_a_nul_in_a_reason_only_the_audit_trail_keeps_is_refused_naming_it(app, db):
    """The trail is written past the ORM's check: a removal's reason with a NUL answered 500 on PostgreSQL
    (and SQLite kept it). It is refused naming ``reason`` and the entry stays; a refusal is still recorded."""
    from tests.records._support import audit_entries

    with signed_in(app, db, "cro_operator") as (c, api):
        body = person_data(phones=["0300 1234567"])
        pid = c.post("/api/v1/persons", json=body, headers=api).json()["person"]["id"]
        phone = c.get(f"/api/v1/persons/{pid}", headers=api).json()["phones"][0]["id"]
        token = re.search(CSRF, c.get(f"/persons/{pid}").text).group(1)
        r = c.post(
            f"/persons/{pid}/remove/phone/{phone}", data={"csrf_token": token, "reason": "wrong\x00man"}
        )
        assert r.status_code == 422 and f'id="e-phone-{phone}-remove-reason"' in r.text, r.text[:300]
        assert c.get(f"/api/v1/persons/{pid}", headers=api).json()["phones"][0]["id"] == phone
    assert audit_entries(db, action="person.phone.remove") == []

    with db.transaction() as session:
        from crms.access.principal import Principal

        who = Principal(user_id=None, username="someone", role="cro_operator", unit="BA", channel="web")
        entry = audit.record(session, who, "person.read", outcome="refused", detail="no person 'x\x00'")
    assert entry.outcome == "refused"
    (kept,) = audit_entries(db, action="person.read", outcome="refused", username="someone")
    assert kept.detail == "no person 'x\ufffd'"
