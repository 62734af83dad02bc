"""The audit chain is anchored by a key outside the database: someone who can write the database (but not
read the audit key) cannot rewrite it unnoticed, and no later audited action re-anchors the audit-head file
over a rewritten chain. Each tamper case is checked after further audited actions. Both backends."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from crms.access import audit
from crms.access.models import AuditEntry, AuditHead
from crms.access.principal import Principal
from crms.errors import Conflict

from .conftest import PASSWORD

ALICE = Principal(user_id=7, username="alice", role="cro_operator", unit="BA/QTA", channel="api")
AUDITOR = Principal(user_id=8, username="aud", role="auditor", unit="BA", channel="cli")


def _act(db, n=1, start=0):
    for i in range(n):
        with db.transaction() as s:
            audit.record(s, ALICE, "person.read", target_type="person", target_id=start + i + 1)


@pytest.fixture
def chain(db, tmp_path):
    """Five genuine entries, the head file at #5."""
    audit.bind_data_dir(db, tmp_path)
    _act(db, 5)
    return db


def _verify(db, tmp_path):
    with db.transaction() as s:
        return audit.verify(s, data_dir=tmp_path)


def _file_head(db, tmp_path):
    heads = json.loads((tmp_path / "audit-head").read_text())["heads"]
    with db.transaction() as s:
        return heads[audit.database_identity(s)]


def _rechain(session, rows, start_hash):
    prev = start_hash
    for e in rows:
        e.prev_hash = prev
        e.entry_hash = audit.compute_hash(prev, audit.entry_fields(e))
        prev = e.entry_hash
    head = session.get(AuditHead, 1)
    head.seq, head.hash = rows[-1].seq, prev


def _raw(db):
    """A session that writes like an attacker with database access: no audit hooks pending."""
    return db.sessionmaker()


def test_genuine_chain_verifies_with_macs(chain, tmp_path):
    report = _verify(chain, tmp_path)
    assert report.ok, report.problems
    with chain.transaction() as s:
        macs = s.execute(text("select entry_mac from audit_log order by seq")).scalars().all()
    assert len(macs) == 5 and all(m and len(m) == 64 for m in macs)
    assert (tmp_path / "keys" / "audit.key").stat().st_mode & 0o777 == 0o600


def test_rechained_alteration_is_caught_after_further_actions(chain, tmp_path):
    with _raw(chain) as s, s.begin():
        rows = list(s.query(AuditEntry).order_by(AuditEntry.seq))
        rows[1].target_id = "42"
        _rechain(s, rows[1:], rows[0].entry_hash)
    _act(chain, 3, start=100)  # the next audited actions must not re-anchor the head file
    assert _file_head(chain, tmp_path)["seq"] == 5
    report = _verify(chain, tmp_path)
    assert not report.ok
    assert any("entry #2" in p and "MAC does not match" in p for p in report.problems), report.problems
    assert any("entry #5 differs from the audit-head file" in p for p in report.problems), report.problems


def test_forged_entry_inserted_mid_chain_is_caught_after_further_actions(chain, tmp_path):
    with _raw(chain) as s, s.begin():
        s.execute(text("update audit_log set seq = seq + 100 where seq >= 3"))
        s.execute(text("update audit_log set seq = seq - 99 where seq >= 103"))
        forged = AuditEntry(
            seq=3,
            at=audit.utcnow(),
            user_id=7,
            username="alice",
            channel="api",
            action="person.read",
            target_type="person",
            target_id="1",
            outcome="ok",
            prev_hash="",
            entry_hash="",
        )
        s.add(forged)
        s.flush()
        rows = list(s.query(AuditEntry).order_by(AuditEntry.seq))
        _rechain(s, rows[2:], rows[1].entry_hash)
    _act(chain, 2, start=100)
    report = _verify(chain, tmp_path)
    assert any("entry #3" in p and "carries no MAC" in p for p in report.problems), report.problems
    assert any("differs from the audit-head file" in p for p in report.problems), report.problems
    assert not report.sealable  # not an old chain to seal: a forged one


def test_forged_appended_entry_with_valid_hash_is_caught_after_further_actions(chain, tmp_path):
    with _raw(chain) as s, s.begin():
        head = s.get(AuditHead, 1)
        genuine_mac = s.execute(text("select entry_mac from audit_log where seq = 5")).scalar()
        values = {
            "seq": 6,
            "at": audit.utcnow(),
            "user_id": 7,
            "username": "alice",
            "channel": "api",
            "address": None,
            "action": "person.read",
            "target_type": "person",
            "target_id": "1",
            "query": None,
            "reason": None,
            "outcome": "ok",
            "detail": None,
        }
        entry_hash = audit.compute_hash(head.hash, audit._fields_of(values))
        s.add(AuditEntry(**values, prev_hash=head.hash, entry_hash=entry_hash, entry_mac=genuine_mac))
        head.seq, head.hash = 6, entry_hash
    _act(chain, 3, start=100)  # these link to the forged entry; their own MACs are genuine
    report = _verify(chain, tmp_path)
    assert [p for p in report.problems if "MAC" in p] == [
        "entry #6 (id 6, person.read by alice) forged or rewritten: its MAC does not match (it was not "
        "written with the audit key)"
    ], report.problems
    assert _file_head(chain, tmp_path)["seq"] == 5  # never moved over the forged entry


def test_deleted_head_file_stays_reported_after_further_actions(chain, tmp_path):
    (tmp_path / "audit-head").unlink()
    _act(chain, 3, start=100)
    assert not (tmp_path / "audit-head").exists()
    report = _verify(chain, tmp_path)
    assert any("audit-head file missing" in p for p in report.problems), report.problems


def test_truncated_tail_regrown_past_the_head_is_caught(chain, tmp_path):
    """Delete #4..#5, rewind the head row, then let genuine actions grow the chain beyond the recorded #5:
    the head file must not move, and verify names the rewritten position."""
    with chain.transaction() as s:
        h3 = s.execute(text("select entry_hash from audit_log where seq = 3")).scalar()
    with _raw(chain) as s, s.begin():
        s.execute(text("delete from audit_log where seq >= 4"))
        s.execute(text("update audit_head set seq = 3, hash = :h"), {"h": h3})
    with chain.transaction() as s:  # #4..#6 in one transaction, past the recorded #5
        for i in range(3):
            audit.record(s, ALICE, "person.read", target_type="person", target_id=100 + i)
    _act(chain, 2, start=200)  # #7..#8, all with genuine MACs
    assert _file_head(chain, tmp_path)["seq"] == 5
    report = _verify(chain, tmp_path)
    assert any("entry #5 differs from the audit-head file" in p for p in report.problems), report.problems


def test_forged_head_file_is_caught(chain, tmp_path):
    with chain.transaction() as s:
        h3 = s.execute(text("select entry_hash from audit_log where seq = 3")).scalar()
        database = audit.database_identity(s)
    body = {"heads": {database: {"seq": 3, "hash": h3, "mac": "0" * 64}}}
    (tmp_path / "audit-head").write_text(json.dumps(body))
    _act(chain, 2, start=100)  # later actions leave the forged head file as evidence
    assert json.loads((tmp_path / "audit-head").read_text()) == body
    report = _verify(chain, tmp_path)
    assert any("file's MAC does not match" in p for p in report.problems), report.problems


def test_head_file_moves_over_entries_written_by_other_processes(chain, tmp_path):
    """A head file that lags (another process committed but had not yet written it) moves forward once the
    entries in between are checked: the normal case with several server workers."""
    with chain.transaction() as s:
        audit.record(s, ALICE, "person.read", target_type="person", target_id=9)
        s.info.pop("crms_audit_pending_head")  # as if that process died before writing the file
    _act(chain, 1, start=200)
    assert _file_head(chain, tmp_path)["seq"] == 7
    assert _verify(chain, tmp_path).ok


def test_seal_legacy_chain_then_verifies(chain, tmp_path):
    """A database upgraded from before the audit key: entries without MAC, an unkeyed head file."""
    with chain.transaction() as s:
        database = audit.database_identity(s)
        h5 = s.execute(text("select entry_hash from audit_log where seq = 5")).scalar()
    with _raw(chain) as s, s.begin():
        s.execute(text("update audit_log set entry_mac = null"))
    (tmp_path / "audit-head").write_text(json.dumps({"database": database, "seq": 5, "hash": h5}))
    report = _verify(chain, tmp_path)
    assert not report.ok and report.sealable and report.unsealed == 5
    with chain.transaction() as s:
        audit.seal(s, AUDITOR, data_dir=tmp_path)
    report = _verify(chain, tmp_path)
    assert report.ok, report.problems
    assert _file_head(chain, tmp_path)["seq"] == 6  # the seal's own entry
    with chain.transaction() as s, pytest.raises(Conflict):
        audit.seal(s, AUDITOR, data_dir=tmp_path)  # nothing to seal


def test_seal_refuses_a_rewritten_chain(chain, tmp_path):
    with _raw(chain) as s, s.begin():
        rows = list(s.query(AuditEntry).order_by(AuditEntry.seq))
        rows[1].target_id = "42"
        _rechain(s, rows[1:], rows[0].entry_hash)
        s.execute(text("update audit_log set entry_mac = null"))
    (tmp_path / "audit-head").unlink()
    with chain.transaction() as s, pytest.raises(Conflict) as err:
        audit.seal(s, AUDITOR, data_dir=tmp_path)
    assert "does not verify" in err.value.message


def test_cli_verify_checks_before_its_own_login_and_never_reanchors(db, tmp_path, monkeypatch):
    """`crms audit verify` with a password login: the login's own entry is written after the check, and
    running it again does not turn a tampered chain into a clean one."""
    from crms.access.users import create_user
    from crms.cli.main import app as cli_app

    monkeypatch.setenv("CRMS_DATABASE_URL", db.url)
    monkeypatch.setenv("CRMS_DATA_DIR", str(tmp_path / "data"))
    with db.transaction() as s:
        user = create_user(s, f"aud_{uuid.uuid4().hex[:6]}", "auditor", unit="BA", password=PASSWORD)
    env = {"CRMS_USER": user.username, "CRMS_PASSWORD": PASSWORD}
    runner = CliRunner()
    r = runner.invoke(cli_app, ["audit", "verify"], env=env)
    assert r.exit_code == 0, r.output
    (tmp_path / "data" / "audit-head").unlink()
    for _ in range(2):
        r = runner.invoke(cli_app, ["audit", "verify", "--json"], env=env)
        assert r.exit_code == 1, r.output
        assert any("audit-head file missing" in p for p in json.loads(r.output)["problems"])
    with db.transaction() as s:
        last = s.query(AuditEntry).order_by(AuditEntry.seq.desc()).first()
        assert (last.action, last.outcome) == ("audit.verify", "failed")


def test_upgraded_chain_is_anchored_by_its_first_keyed_entry(chain, tmp_path):
    """A database upgraded from before the audit key: its old entries have no MAC and its head file is of
    the first format. The next audited action links to them and carries a MAC, which covers them through the
    chain; a later change to an old entry is caught."""
    with chain.transaction() as s:
        database = audit.database_identity(s)
        h5 = s.execute(text("select entry_hash from audit_log where seq = 5")).scalar()
    with _raw(chain) as s, s.begin():
        s.execute(text("update audit_log set entry_mac = null"))
    (tmp_path / "audit-head").write_text(json.dumps({"database": database, "seq": 5, "hash": h5}))
    _act(chain, 1, start=100)
    report = _verify(chain, tmp_path)
    assert report.ok, report.problems
    assert any("#1..#5 predate the audit key" in w for w in report.warnings), report.warnings
    assert _file_head(chain, tmp_path)["seq"] == 6 and _file_head(chain, tmp_path)["mac"]
    _sql(chain, "update audit_log set target_id = '77' where seq = 2")
    assert any("entry #2" in p and "altered" in p for p in _verify(chain, tmp_path).problems)


def _sql(db, statement, **params):
    with db.engine.begin() as conn:
        conn.execute(text(statement), params)
