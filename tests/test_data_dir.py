"""Tests never touch the user's data directory (./data of the checkout or of the working directory): every
test gets its own CRMS_DATA_DIR (tests/conftest.py), and the code writes the audit head, keys and stores
under the configured data dir only."""

from __future__ import annotations

import os
from pathlib import Path

from crms.access import audit
from crms.access.principal import Principal

CHECKOUT = Path(__file__).resolve().parents[1]
ALICE = Principal(user_id=7, username="alice", role="cro_operator", unit="BA/QTA", channel="api")


def _snapshot(directory: Path) -> dict[str, int]:
    if not directory.exists():
        return {}
    return {str(p): p.stat().st_mtime_ns for p in directory.rglob("*")}


def test_audited_action_without_a_bound_data_dir_stays_out_of_the_checkout(db):
    """A Database not bound to a data dir (as in most service tests) used to write ./data/audit-head of the
    checkout, after which `crms audit verify` on the demo database reported a false TAMPERED."""
    watched = {CHECKOUT / "data", Path.cwd() / "data"}
    before = {d: _snapshot(d) for d in watched}
    with db.transaction() as session:
        audit.record(session, ALICE, "person.read", target_type="person", target_id=1)
    assert {d: _snapshot(d) for d in watched} == before
    own = Path(os.environ["CRMS_DATA_DIR"])
    assert own != CHECKOUT / "data" and (own / "audit-head").is_file()


def test_each_test_has_its_own_data_dir(_own_data_dir):
    assert Path(os.environ["CRMS_DATA_DIR"]) == _own_data_dir
    assert not str(_own_data_dir).startswith(str(CHECKOUT))
    from crms.config import get_settings

    assert get_settings().data_dir == _own_data_dir.resolve()


def test_sqlite_database_and_data_dir_are_private(tmp_path):
    """crms.sqlite3 and its -wal/-shm files hold password hashes, TOTP secrets and every personal record:
    0600, in a 0700 directory, even under a permissive umask."""
    from sqlalchemy import text

    from crms.db import Database

    old = os.umask(0o022)
    try:
        data_dir = tmp_path / "fresh" / "data"
        db = Database(f"sqlite:///{data_dir / 'crms.sqlite3'}")
        with db.transaction() as session:
            session.execute(text("create table t (x integer)"))
            session.execute(text("insert into t values (1)"))
        files = {p.name: p.stat().st_mode & 0o777 for p in data_dir.iterdir()}
        db.dispose()
    finally:
        os.umask(old)
    assert data_dir.stat().st_mode & 0o777 == 0o700
    assert files == {
        "crms.sqlite3": 0o600,
        "crms.sqlite3-wal": 0o600,
        "crms.sqlite3-shm": 0o600,
        "crms.sqlite3-writer.lock": 0o600,
    }


def test_existing_world_readable_database_is_made_private(tmp_path):
    import sqlite3

    from crms.db import Database

    path = tmp_path / "old.sqlite3"
    sqlite3.connect(path).close()
    path.chmod(0o644)
    Database(f"sqlite:///{path}").dispose()
    assert path.stat().st_mode & 0o777 == 0o600


def test_cli_entry_point_sets_a_private_umask(tmp_path):
    """`crms ...` (the console script) creates everything private: logs, exports, the data dir."""
    import subprocess
    import sys

    code = (
        "import os, sys; sys.argv = ['crms', '--help']\n"
        "from crms.cli import main as m\n"
        "try:\n    m.main()\nexcept SystemExit:\n    pass\n"
        "old = os.umask(0); print(oct(old))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=CHECKOUT, env=os.environ
    )
    assert out.stdout.strip().splitlines()[-1] == "0o77"


def test_sqlite_writers_queue_and_nested_transactions_do_not_queue_twice(tmp_path):
    """Write transactions queue on the writer lock file (fair wake-up across threads and worker processes);
    a thread that already holds it (a nested transaction) is not blocked by itself."""
    import threading
    import time

    from sqlalchemy import text

    from crms.db import Database

    db = Database(f"sqlite:///{tmp_path / 'q.sqlite3'}")
    with db.transaction() as s:
        s.execute(text("create table t (x integer)"))
    order: list[str] = []

    def second() -> None:
        with db.transaction() as s:
            s.execute(text("insert into t values (2)"))  # the transaction begins here
            order.append("second")

    with db.transaction() as s:
        s.execute(text("insert into t values (1)"))
        worker = threading.Thread(target=second)
        worker.start()
        time.sleep(0.3)
        order.append("first done")
    worker.join(10)
    assert order == ["first done", "second"]
    with db.transaction() as outer:  # nested: holds the lock file already, does not wait on it
        outer.execute(text("select 1"))
        raw = db.engine.raw_connection()
        try:
            held = raw.driver_connection
            held.crms_queue()  # returns at once instead of blocking this thread
            assert held.crms_locked is False
        finally:
            raw.close()
    db.dispose()


def test_a_read_first_transaction_reads_without_queueing_for_the_writer_lock(tmp_path):
    """A read-first transaction (an audited read) takes the writer lock file only at its first write: its own
    BEGIN is a read, so while another thread holds a write transaction its reads go on (before the fix the
    deferred BEGIN itself queued on the lock file: every lookup of every worker waited for every write)."""
    import threading

    from sqlalchemy import text

    from crms.db import Database, has_written

    db = Database(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    with db.transaction() as s:
        s.execute(text("create table t (x integer)"))
        s.execute(text("insert into t values (1)"))
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with db.transaction() as s:
            s.execute(text("insert into t values (2)"))
            holding.set()
            release.wait(10)

    other = threading.Thread(target=writer)
    other.start()
    assert holding.wait(10)
    read: list[int] = []

    def reader() -> None:
        with db.read_first_transaction() as s:
            read.append(s.execute(text("select count(*) from t")).scalar())
            read.append(has_written(s))

    worker = threading.Thread(target=reader)
    worker.start()
    worker.join(5)
    finished = not worker.is_alive()
    release.set()
    other.join(10)
    worker.join(10)
    db.dispose()
    assert finished, "the read waited for another transaction's write lock"
    assert read == [1, False]
