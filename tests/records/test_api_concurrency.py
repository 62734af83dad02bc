"""Two requests at the same time writing the same unique key (identity document, FIR key), or editing the
same person on the same copy: the loser gets 409 problem+json naming the field, never 500, and nothing of it
is written.

On PostgreSQL both requests are held after the service's duplicate check until both have passed it, so both
really insert and the database's unique index decides (the IntegrityError at flush). On SQLite the write lock
taken at BEGIN IMMEDIATE serialises the two requests, so the loser meets the service's own check; the test
still runs both at once.

Also the number of statements of the two hot reads (the CNIC lookup and the full record), each of which is a
round trip on PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from crms.records.models import Case, IdentityDocument
from tests.driver_statements import sent_statements

from ._support import case_data, person_data

PROBLEM = "application/problem+json"


def _hold_after(monkeypatch, module, name: str, db) -> None:
    """Wrap ``module.name`` (a step after the duplicate check, before the insert) so that on PostgreSQL each
    of the two requests waits there for the other."""
    if db.is_sqlite:
        return
    barrier = threading.Barrier(2, timeout=20)
    original = getattr(module, name)

    def held(*args, **kwargs):
        result = original(*args, **kwargs)
        barrier.wait()
        return result

    monkeypatch.setattr(module, name, held)


def _both(client, url: str, body: dict, headers: dict) -> list:
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(client.post, url, json=body, headers=headers) for _ in range(2)]
        return sorted((f.result() for f in futures), key=lambda r: r.status_code)


def test_concurrent_registration_of_the_same_cnic(client, make_user, db, monkeypatch):
    from crms.records.services import documents

    _hold_after(monkeypatch, documents, "_check_document_free", db)
    _, op = make_user("cro_operator")
    body = person_data(documents=[{"doc_type": "CNIC", "number": "54400-7654321-3"}])
    ok, lost = _both(client, "/api/v1/persons", body, op)
    assert ok.status_code == 201, ok.text
    assert lost.status_code == 409, lost.text
    assert lost.headers["content-type"].startswith(PROBLEM)
    problem = lost.json()
    assert problem["field"].endswith("number") and "already" in problem["detail"]
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(IdentityDocument)) == 1


def test_concurrent_registration_of_the_same_fir(client, make_user, db, monkeypatch):
    from crms.records.services import cases

    _hold_after(monkeypatch, cases, "_parse_sections", db)
    _, sho = make_user("sho", unit="BA/QTA/QUETTA")
    ok, lost = _both(client, "/api/v1/cases", case_data(fir_number=501), sho)
    assert ok.status_code == 201, ok.text
    assert lost.status_code == 409, lost.text
    assert lost.headers["content-type"].startswith(PROBLEM)
    assert lost.json()["field"] == "fir_number"
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Case).where(Case.fir_number == 501)) == 1


def test_concurrent_edits_of_the_same_person_made_on_the_same_copy(client, make_user, db, monkeypatch):
    """Two officers save edits of the same person at the same moment, each made on version 1: one is saved,
    the other refused (409 naming ``version``), never both with the second silently undoing the first. On
    PostgreSQL both pass the version check before either writes, so the database decides (the versioned
    UPDATE matches no row: SQLAlchemy's StaleDataError); on SQLite the second meets the check itself."""
    from crms.records.services import persons

    _hold_after(monkeypatch, persons, "check_version", db)
    _, op = make_user("cro_operator")
    pid = client.post("/api/v1/persons", json=person_data(), headers=op).json()["person"]["id"]
    url = f"/api/v1/persons/{pid}"
    with ThreadPoolExecutor(2) as pool:
        futures = [
            pool.submit(client.patch, url, json={"caste": caste, "version": 1}, headers=op)
            for caste in ("Bugti", "Raisani")
        ]
        ok, lost = sorted((f.result() for f in futures), key=lambda r: r.status_code)
    assert ok.status_code == 200, ok.text
    assert lost.status_code == 409 and lost.headers["content-type"].startswith(PROBLEM), lost.text
    assert lost.json()["field"] == "version"
    if not db.is_sqlite:
        assert "at the same time" in lost.json()["detail"]
    record = client.get(f"/api/v1/persons/{pid}", headers=op).json()
    assert (record["caste"], record["version"]) == (ok.json()["caste"], 2)


def test_unique_violation_maps_to_the_field(db):
    """The mapping itself, on a real IntegrityError of each database (no concurrency needed)."""
    from sqlalchemy.exc import IntegrityError

    from crms.api.deps import conflict_from_integrity

    row = {"person_id": None, "doc_type": "CNIC", "number": "5440012345673", "issuing_country": "PK"}
    from crms.records.models import Person

    with pytest.raises(IntegrityError) as caught:
        with db.transaction() as s:
            p = Person(given_name_en="A", unit_path="BA")
            s.add(p)
            s.flush()
            row["person_id"] = p.id
            s.execute(IdentityDocument.__table__.insert(), [row, row])
    conflict = conflict_from_integrity(caught.value)
    assert conflict is not None and conflict.status == 409 and conflict.field == "number"

    with pytest.raises(IntegrityError) as caught:  # not a key a service checks: left alone (500)
        with db.transaction() as s:
            s.execute(IdentityDocument.__table__.insert(), [{**row, "person_id": 10**9}])
    assert conflict_from_integrity(caught.value) is None


def test_full_record_and_lookup_round_trips(client, make_user, db):
    """Statements per request, as the driver sends them (on PostgreSQL each one is part of a network round
    trip): the full record of a person with a case and the CNIC lookup. The token, checked by the requests
    before, comes from the process's cache of verified tokens (crms.access.tokens): no query."""
    _, op = make_user("cro_operator", unit="BA/QTA/QUETTA")
    _, sho = make_user("sho", unit="BA/QTA/QUETTA")
    cnic = "54400-7654321-3"
    r = client.post(
        "/api/v1/persons", json=person_data(documents=[{"doc_type": "CNIC", "number": cnic}]), headers=op
    )
    pid = r.json()["person"]["id"]
    case = client.post("/api/v1/cases", json=case_data(fir_number=77), headers=sho).json()
    r = client.post(
        f"/api/v1/cases/{case['id']}/links", json={"person_id": pid, "role": "accused"}, headers=sho
    )
    assert r.status_code == 201, r.text
    client.get(f"/api/v1/persons?cnic={cnic}&reason=test+lookup", headers=op)  # creates the rate bucket
    client.get(f"/api/v1/persons/{pid}?reason=test+read", headers=op)  # ... and the read counters
    # SQLite appends an audit entry in three statements (the head moved, its hash, the entry), PostgreSQL in
    # two (the head moved; the entry and the head's hash in one)
    audit = 3 if db.is_sqlite else 2
    with sent_statements(db) as statements:
        r = client.get(f"/api/v1/persons/{pid}?reason=test+read", headers=op)
    assert r.status_code == 200 and len(r.json()["cases"]) == 1
    guard = 2  # the read limit and the read-rate watch (crms.records.services.guard): one read, one write
    assert len(statements) == 1 + 7 + guard + audit + 1, statements  # BEGIN ... COMMIT

    with sent_statements(db) as statements:
        r = client.get(f"/api/v1/persons?cnic={cnic}&reason=test+lookup", headers=op)
    assert r.status_code == 200
    # the four reads in a transaction of their own (on PostgreSQL in one round trip: test_lookup_round_trips),
    # then the audit writer's batch: the search bucket read and written, and the entry
    read = 1 + 4 + 1
    batch = 1 + 2 + audit + 1
    assert len(statements) == read + batch, statements
