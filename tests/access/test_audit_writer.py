"""Audited reads' entries are written in batches (crms.access.audit_writer): the reads of one turn of the
event loop share one transaction at the start of the next; every entry is in the one keyed chain; a read
refused by the rate limit gets its refusal audited without touching the others; a failed write fails every
read of its batch and writes nothing. Both backends."""

from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest
from sqlalchemy import event, func, select

from crms.access import audit
from crms.access.audit_writer import AuditWriter, _Batch
from crms.access.models import AuditEntry
from crms.access.principal import Principal
from crms.errors import RateLimited
from tests.driver_statements import sent_statements

ALICE = Principal(user_id=7, username="alice", role="cro_operator", unit="BA/QTA", channel="api")
BOB = Principal(user_id=9, username="bob", role="cro_operator", unit="BA/QTA", channel="api")


def _deferred(db, who: Principal, person_id: int) -> list[audit.DeferredEntry]:
    """An audited read's entries, collected as the API's lookup collects them."""
    with db.read_first_transaction() as session:
        entries = audit.defer_entries(session)
        audit.record(session, who, "search.cnic", target_type="person", target_id=person_id, reason="a test")
        assert audit.stop_deferring(session) == entries
    return entries


def _entries(db, action: str | None = None) -> list[AuditEntry]:
    with db.transaction() as s:
        q = select(AuditEntry).order_by(AuditEntry.seq)
        return list(s.scalars(q if action is None else q.where(AuditEntry.action == action)))


def test_a_deferred_entry_is_not_written_by_the_read(db, tmp_path):
    audit.bind_data_dir(db, tmp_path)
    entries = _deferred(db, ALICE, 1)
    assert [(e.action, e.fields["target_id"]) for e in entries] == [("search.cnic", 1)]
    assert _entries(db) == []


def test_a_refused_read_is_audited_as_refused_and_the_others_are_written(db, tmp_path, monkeypatch):
    audit.bind_data_dir(db, tmp_path)
    monkeypatch.setenv("CRMS_RATE_SEARCH", "1/3600")
    writer = AuditWriter(db)
    alice_first = _Batch(_deferred(db, ALICE, 1), "GET /api/v1/persons", Future())
    writer.write_batches([alice_first])  # Alice's one search this hour
    assert alice_first.done.result(timeout=0) is None
    batches = [
        _Batch(_deferred(db, who, n), "GET /api/v1/persons", Future()) for who, n in ((ALICE, 2), (BOB, 3))
    ]
    writer.write_batches(batches)
    with pytest.raises(RateLimited):
        batches[0].done.result(timeout=0)
    assert batches[1].done.result(timeout=0) is None
    assert [int(e.target_id) for e in _entries(db, "search.cnic")] == [1, 3]
    refused = _entries(db, "access.refused")
    assert [(e.username, e.query, e.outcome) for e in refused] == [
        ("alice", "GET /api/v1/persons", "refused")
    ]
    with db.transaction() as s:
        assert audit.verify(s, data_dir=tmp_path).ok


def test_a_failed_write_fails_every_read_of_its_batch_and_writes_nothing(db, tmp_path, monkeypatch):
    audit.bind_data_dir(db, tmp_path)
    writer = AuditWriter(db)
    reads = [_deferred(db, ALICE, 1), _deferred(db, BOB, 2)]
    real = audit.compute_mac
    calls: list[int] = []

    def failing_second(*args):  # the second read's entry fails after the first one's was made
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(*args)

    monkeypatch.setattr(audit, "compute_mac", failing_second)
    batches = [_Batch(entries, "GET /api/v1/persons", Future()) for entries in reads]
    writer.write_batches(batches)
    for batch in batches:
        with pytest.raises(OSError, match="disk full"):
            batch.done.result(timeout=0)
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_reads_of_one_turn_of_the_event_loop_share_one_transaction_written_on_the_loop(db, tmp_path):
    """SQLite's lookups read on the event loop: the entries submitted during one turn are written together at
    the start of the next, on the loop's own thread; a read whose request went away (its future cancelled)
    is still written and does not disturb the others."""
    import asyncio

    audit.bind_data_dir(db, tmp_path)
    writer = AuditWriter(db)
    commits: list[str] = []
    event.listen(db.engine, "commit", lambda conn: commits.append(threading.current_thread().name))
    reads = [_deferred(db, ALICE if n % 2 else BOB, n) for n in range(1, 6)]

    async def serve() -> list:
        done = [writer.submit(entries, where="GET /api/v1/persons") for entries in reads]
        done[2].cancel()
        assert commits == []  # nothing written during this turn
        return await asyncio.gather(*done[:2], *done[3:])

    assert asyncio.run(serve()) == [None] * 4
    assert commits == [threading.current_thread().name]  # one transaction, on the loop's thread
    assert [int(e.target_id) for e in _entries(db, "search.cnic")] == [1, 2, 3, 4, 5]
    with db.transaction() as s:
        assert audit.verify(s, data_dir=tmp_path).ok


def _statements_to_write(db, tmp_path, reads: list[list[audit.DeferredEntry]]) -> int:
    """How many statements writing ``reads`` in one batch sends (bucket made before)."""
    with sent_statements(db) as statements:
        batches = [_Batch(entries, "GET /api/v1/persons", Future()) for entries in reads]
        AuditWriter(db).write_batches(batches)
    assert all(b.done.result(timeout=0) is None for b in batches)
    return len(statements)


def test_a_batch_costs_the_same_statements_whatever_its_number_of_reads(db, tmp_path):
    """Each user's search tokens are taken once for all their reads of the batch and the entries appended
    at once: on PostgreSQL every statement is a round trip, and they were four per read."""
    audit.bind_data_dir(db, tmp_path)
    _statements_to_write(db, tmp_path, [_deferred(db, ALICE, 1), _deferred(db, BOB, 2)])  # buckets made
    two = _statements_to_write(db, tmp_path, [_deferred(db, ALICE, 3), _deferred(db, BOB, 4)])
    ten = _statements_to_write(
        db, tmp_path, [_deferred(db, ALICE if n % 2 else BOB, n) for n in range(5, 15)]
    )
    # BEGIN, each user's bucket read and written, the head moved, the entries appended, COMMIT (SQLite, in
    # the process, appends the entries one by one and sets the head's hash on its own)
    assert (two, ten) == ((10, 18) if db.is_sqlite else (8, 8))
    assert [int(e.target_id) for e in _entries(db, "search.cnic")] == list(range(1, 15))
    with db.transaction() as s:
        assert audit.verify(s, data_dir=tmp_path).ok


def test_a_batch_grants_a_user_the_tokens_left_in_order_and_refuses_the_rest(db, tmp_path, monkeypatch):
    audit.bind_data_dir(db, tmp_path)
    monkeypatch.setenv("CRMS_RATE_SEARCH", "3/3600")
    reads = [_deferred(db, ALICE, n) for n in range(1, 6)]
    batches = [_Batch(entries, f"GET /api/v1/persons?{n}", Future()) for n, entries in enumerate(reads, 1)]
    AuditWriter(db).write_batches(batches)
    assert [b.done.result(timeout=0) for b in batches[:3]] == [None, None, None]
    for b in batches[3:]:
        with pytest.raises(RateLimited, match="too many searches"):
            b.done.result(timeout=0)
    assert [(e.action, e.target_id or e.query) for e in _entries(db)] == [
        ("search.cnic", "1"),
        ("search.cnic", "2"),
        ("search.cnic", "3"),
        ("access.refused", "GET /api/v1/persons?4"),
        ("access.refused", "GET /api/v1/persons?5"),
    ]
    with db.transaction() as s:
        assert audit.verify(s, data_dir=tmp_path).ok
