"""The audit trail is append-only and tamper-evident: the hash chain and the audit-head file catch an
altered, deleted or reordered entry and a truncated or rewritten tail, and say which entry. Both backends."""

from __future__ import annotations

import json
import threading

from sqlalchemy import text

from crms.access import audit
from crms.access.principal import Principal

ALICE = Principal(
    user_id=7, username="alice", role="cro_operator", unit="BA/QTA", channel="api", address="10.0.0.1"
)


def _fill(db, data_dir, n=5):
    audit.bind_data_dir(db, data_dir)
    for i in range(n):
        with db.transaction() as s:
            audit.record(s, ALICE, "person.read", target_type="person", target_id=i + 1, reason=None)


def _verify(db, data_dir):
    with db.transaction() as s:
        return audit.verify(s, data_dir=data_dir)


def _identity(db) -> str:
    with db.transaction() as s:
        return audit.database_identity(s)


def _sql(db, statement, **params):
    with db.engine.begin() as conn:
        conn.execute(text(statement), params)


def test_chain_verifies_and_head_file_written(db, tmp_path):
    _fill(db, tmp_path, 5)
    report = _verify(db, tmp_path)
    assert report.ok, report.problems
    assert report.entries == 5 and report.last_seq == 5
    heads = json.loads((tmp_path / "audit-head").read_text())["heads"]
    assert list(heads) == [_identity(db)]
    head = heads[_identity(db)]
    assert head["seq"] == 5 and len(head["mac"]) == 64
    with db.transaction() as s:
        last = s.execute(text("select entry_hash from audit_log where seq = 5")).scalar()
    assert head["hash"] == last


def test_rolled_back_entry_leaves_no_gap(db, tmp_path):
    _fill(db, tmp_path, 2)
    try:
        with db.transaction() as s:
            audit.record(s, ALICE, "person.update", target_type="person", target_id=1)
            raise RuntimeError("the change failed")
    except RuntimeError:
        pass
    _fill(db, tmp_path, 1)
    report = _verify(db, tmp_path)
    assert report.ok, report.problems
    assert report.last_seq == 3


def test_altered_entry_is_named(db, tmp_path):
    _fill(db, tmp_path, 5)
    _sql(db, "update audit_log set target_id = '999' where seq = 3")
    report = _verify(db, tmp_path)
    assert not report.ok
    assert len(report.problems) == 1 and "entry #3" in report.problems[0] and "altered" in report.problems[0]


def test_altered_timestamp_is_caught(db, tmp_path):
    _fill(db, tmp_path, 3)
    _sql(db, "update audit_log set at = :t where seq = 2", t="2020-01-01 00:00:00")
    report = _verify(db, tmp_path)
    assert any("entry #2" in p for p in report.problems)


def test_deleted_entry_is_named(db, tmp_path):
    _fill(db, tmp_path, 5)
    _sql(db, "delete from audit_log where seq = 2")
    report = _verify(db, tmp_path)
    assert not report.ok
    assert any("#2 missing" in p for p in report.problems), report.problems


def test_deleted_tail_is_caught_by_head_row(db, tmp_path):
    _fill(db, tmp_path, 5)
    _sql(db, "delete from audit_log where seq >= 4")
    report = _verify(db, tmp_path)
    assert any("#4..#5 missing" in p for p in report.problems), report.problems


def test_deleted_tail_with_head_row_rewound_is_caught_by_head_file(db, tmp_path):
    _fill(db, tmp_path, 5)
    with db.transaction() as s:
        h3 = s.execute(text("select entry_hash from audit_log where seq = 3")).scalar()
    _sql(db, "delete from audit_log where seq >= 4")
    _sql(db, "update audit_head set seq = 3, hash = :h", h=h3)
    report = _verify(db, tmp_path)
    assert any("#4..#5 missing" in p and "audit-head" in p for p in report.problems), report.problems


def test_reordered_entries_are_caught(db, tmp_path):
    _fill(db, tmp_path, 4)
    # Swap the positions of entries 2 and 3.
    _sql(db, "update audit_log set seq = -2 where seq = 2")
    _sql(db, "update audit_log set seq = 2 where seq = 3")
    _sql(db, "update audit_log set seq = 3 where seq = -2")
    report = _verify(db, tmp_path)
    assert not report.ok
    assert any("entry #2" in p for p in report.problems) and any("entry #3" in p for p in report.problems)


def test_fully_recomputed_chain_is_caught_by_head_file(db, tmp_path):
    """An attacker with database access rewrites entry 2 and recomputes every hash after it: each link is
    consistent again, but the chain no longer reaches the head recorded outside the database."""
    from crms.access.models import AuditEntry, AuditHead

    _fill(db, tmp_path, 4)
    with db.transaction() as s:
        rows = list(s.query(AuditEntry).order_by(AuditEntry.seq))
        rows[1].target_id = "42"
        prev = rows[0].entry_hash
        for e in rows[1:]:
            e.prev_hash = prev
            e.entry_hash = audit.compute_hash(prev, audit.entry_fields(e))
            prev = e.entry_hash
        head = s.get(AuditHead, 1)
        head.hash = prev
        s.info.pop("crms_audit_pending_head", None)
    report = _verify(db, tmp_path)
    assert any("entry #4 differs from the audit-head file" in p for p in report.problems), report.problems


def test_missing_head_file_is_reported(db, tmp_path):
    _fill(db, tmp_path, 2)
    (tmp_path / "audit-head").unlink()
    report = _verify(db, tmp_path)
    assert any("audit-head file missing" in p for p in report.problems)


def test_concurrent_appends_are_serialised(db, tmp_path):
    audit.bind_data_dir(db, tmp_path)
    errors = []

    def worker(k):
        try:
            for i in range(10):
                with db.transaction() as s:
                    audit.record(s, ALICE, "person.read", target_type="person", target_id=f"{k}-{i}")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    report = _verify(db, tmp_path)
    assert report.ok, report.problems
    assert report.entries == 40 and report.last_seq == 40


def test_audit_head_file_never_moves_backwards(tmp_path):
    audit.write_head_file(tmp_path, "db1", 5, "a" * 64)
    audit.write_head_file(tmp_path, "db1", 4, "b" * 64)
    audit.write_head_file(tmp_path, "db2", 2, "c" * 64)  # another database's head is kept beside it
    heads = json.loads((tmp_path / "audit-head").read_text())["heads"]
    assert heads["db1"]["seq"] == 5 and heads["db2"]["seq"] == 2
    assert oct((tmp_path / "audit-head").stat().st_mode & 0o777) == "0o600"


def test_require_reason():
    import pytest

    from crms.errors import ValidationError

    for bad in (None, "", "   ", "ab", "x" * 501):
        with pytest.raises(ValidationError) as err:
            audit.require_reason(bad)
        assert err.value.field == "reason"
    assert audit.require_reason("  FIR 12/2026 PS Cantt  ") == "FIR 12/2026 PS Cantt"


def test_record_flushes_pending_changes_first(db, tmp_path):
    """Like any statement of the session, an audit entry sends the caller's pending changes first, so a
    caller may expunge an object right after recording (as the bootstrap of the first administrator does)."""
    from crms.access.models import User

    audit.bind_data_dir(db, tmp_path)
    with db.transaction() as s:
        user = User(username="flushme", role="cro_operator", unit="BA")
        s.add(user)
        s.flush()
        user.full_name = "Set before the audit entry"
        audit.record(s, ALICE, "user.create", target_type="user", target_id=user.id)
        s.expunge(user)
    with db.transaction() as s:
        assert s.query(User).filter_by(username="flushme").one().full_name == "Set before the audit entry"
