"""The CNIC lookup reads without holding SQLite's write lock (issue 21.10): its transaction writes nothing,
and its audit entry (with its rate-limit token) is written after the read by the audit writer
(crms.access.audit_writer), before the answer is given. Other requests' writes go on during its reads, and a
write committed during the read neither waits nor makes the lookup run again: one audit entry per answered
lookup. On PostgreSQL the same."""

from __future__ import annotations

from sqlalchemy import func, select, text

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
    assert len(reads) == 1  # the read's snapshot was overtaken, but it wrote nothing: no second attempt
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


def test_a_lookup_whose_audit_entry_cannot_be_written_is_not_answered(app, make_user, db, monkeypatch):
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as client:
        op = _register(client, make_user)
        real = audit._append_many

        def failing(session, entries):
            if any(e.action == "search.cnic" for e in entries):
                raise OSError("disk full")
            return real(session, entries)

        monkeypatch.setattr(audit, "_append_many", failing)
        before = _entries(db, "search.cnic")
        r = client.get(f"/api/v1/persons?cnic={CNIC}&reason=test+lookup", headers=op)
    assert r.status_code == 500
    assert CNIC.replace("-", "") not in r.text and "Abdul Rauf" not in r.text
    assert _entries(db, "search.cnic") == before


def test_a_read_first_action_that_writes_runs_again_when_its_snapshot_moved(db, tmp_path):
    """A read-first action that does write after all (not the lookup) keeps one transaction for everything:
    when another connection committed during its read, SQLite refuses its first write, nothing is written,
    and crms.access.work.read_first runs it again holding the write lock from its start."""
    from crms.access.work import read_first, unit_of_work

    audit.bind_data_dir(db, tmp_path)
    runs: list[bool] = []

    def action(first: bool) -> None:
        runs.append(first)
        deferred: list = []
        with unit_of_work(
            db,
            where="test",
            anonymous=system_principal(),
            principal=system_principal(),
            read_first=first,
            deferred=deferred if first else None,
        ) as work:
            work.session.execute(select(func.count()).select_from(AuditEntry)).scalar()
            if len(runs) == 1:
                with db.transaction() as other:
                    audit.record(other, system_principal(), "test.concurrent")
            audit.record(work.session, system_principal(), "test.read")
            work.session.execute(text("UPDATE audit_head SET hash = hash WHERE id = 1"))  # a write of its own
        assert deferred == []  # it wrote: its entries went into its own transaction

    read_first(action)
    assert runs == ([True, False] if db.is_sqlite else [True])
    assert _entries(db, "test.read") == 1
    with db.transaction() as s:
        assert audit.verify(s, data_dir=tmp_path).ok
