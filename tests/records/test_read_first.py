"""The CNIC lookup reads without holding SQLite's write lock (issue 21.10): its transaction begins as a
reader and queues for the write lock only for its audit entry and rate-limit token, so other requests'
writes go on during its reads. When another request commits during the read, SQLite refuses the lookup's
first write (its snapshot is stale), nothing of the attempt is written, and the lookup runs once more with
the write lock held from its start: still one transaction and one audit entry per answered lookup. On
PostgreSQL (no database-wide write lock) the lookup is one ordinary transaction."""

from __future__ import annotations

from sqlalchemy import func, select

from crms.access import audit
from crms.access.models import AuditEntry
from crms.access.principal import system_principal

from ._support import person_data

CNIC = "54400-7654321-3"


def _entries(db, action: str) -> int:
    with db.transaction() as s:
        return s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action))


def _register(client, make_user) -> dict:
    _, op = make_user("cro_operator")
    body = person_data(documents=[{"doc_type": "CNIC", "number": CNIC}])
    assert client.post("/api/v1/persons", json=body, headers=op).status_code == 201
    return op


def test_a_write_committed_during_the_lookups_read_does_not_wait_and_the_lookup_is_answered_once(
    client, make_user, db, monkeypatch
):
    from crms.records.services import lookup

    op = _register(client, make_user)
    reads: list[int] = []
    real = lookup.person_core_dict

    def person_core_dict(row):
        reads.append(1)
        if len(reads) == 1:  # during the first attempt's read: another action writes and commits
            with db.transaction() as s:  # (waited 30 s for the lock and failed before the fix)
                audit.record(s, system_principal(), "test.concurrent")
        return real(row)

    monkeypatch.setattr(lookup, "person_core_dict", person_core_dict)
    before = _entries(db, "search.cnic")
    r = client.get(f"/api/v1/persons?cnic={CNIC}&reason=test+lookup", headers=op)
    assert r.status_code == 200, r.text
    assert r.json()["cnic"]["digits"] == CNIC.replace("-", "")
    assert _entries(db, "test.concurrent") == 1
    assert _entries(db, "search.cnic") == before + 1  # audited once
    # SQLite: the first attempt's snapshot was overtaken, so the lookup ran again under the write lock
    assert len(reads) == (2 if db.is_sqlite else 1)
    with db.transaction() as s:
        assert audit.verify(s).ok


def test_an_undisturbed_lookup_runs_once(client, make_user, db, monkeypatch):
    from crms.records.services import lookup

    op = _register(client, make_user)
    reads: list[int] = []
    real = lookup.person_core_dict
    monkeypatch.setattr(lookup, "person_core_dict", lambda row: reads.append(1) or real(row))
    for _ in range(3):
        assert client.get(f"/api/v1/persons?cnic={CNIC}&reason=test+lookup", headers=op).status_code == 200
    assert len(reads) == 3


def test_a_refused_lookup_writes_nothing_but_its_refusal(client, make_user, db, monkeypatch):
    op = _register(client, make_user)
    monkeypatch.setenv("CRMS_RATE_SEARCH", "1/3600")
    assert client.get(f"/api/v1/persons?cnic={CNIC}&reason=test+lookup", headers=op).status_code == 200
    before = _entries(db, "search.cnic")
    r = client.get(f"/api/v1/persons?cnic={CNIC}&reason=test+lookup", headers=op)
    assert r.status_code == 429
    assert _entries(db, "search.cnic") == before
    assert _entries(db, "access.refused") >= 1
