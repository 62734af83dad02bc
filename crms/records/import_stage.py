"""The staging database of a bulk import on SQLite: the rows are written in batches where no request waits for
them, and copied into the real tables in one short transaction at the end.

SQLite has one write lock for the whole database, and every API request writes (its audit entry), so an
import's write transaction stalls the server for as long as it lasts. Here the import's rows, already
validated and converted (:class:`crms.records.importer._Staged`), go first into a private staging database:
a file of its own beside the main one (mode 0600: it holds the same personal data), attached to the
import's connection as ``crms_stage``, filled in batches of :data:`BATCH` rows, each batch a transaction on
that file alone, so the main database is not locked and requests go on. The import's write transaction then
takes the lock, checks again what other writers added meanwhile, and copies the rows in with one
``INSERT … SELECT`` per table (SQLite's own loop: no Python per row, no parameter binding), numbering the
persons above the highest id under the lock. That copy is the only part that holds the lock.

All or nothing holds: nothing of the import is in the main database until that transaction commits; an error
or a ``kill -9`` before (or during) it leaves nothing there. The staging file is removed when the import ends;
one left by a killed import is removed by the next import in that directory (its process no longer runs).
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Table
from sqlalchemy.orm import Session

ALIAS = "crms_stage"
PREFIX = ".crms-import-stage-"  # then the importing process's pid, "-", a random part, ".sqlite3"
BATCH = 10_000  # rows per staging transaction
COPY_CACHE_KIB = 131_072  # SQLite page cache of the import's connection during the copy (then restored)
# The copy inserts in the order of a unique index's leading columns where there is one (identity documents by
# number): index pages are then filled one after another instead of at random (measured: 20-40 % less time).
COPY_ORDER = {"identity_documents": ["doc_type", "number"]}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(directory: Path) -> list[Path]:
    """Remove the staging files in ``directory`` whose importing process no longer runs (an import killed
    before it could clean up); returns them."""
    removed = []
    for path in directory.glob(f"{PREFIX}*"):
        pid_text = path.name[len(PREFIX) :].split("-", 1)[0]
        if pid_text.isdigit() and not _alive(int(pid_text)):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


@contextmanager
def attached(raw: sqlite3.Connection, db_file: Path) -> Iterator[Path]:
    """A new, empty staging database beside ``db_file``, attached to ``raw`` (a connection outside any
    transaction) as :data:`ALIAS`; detached and deleted at the end, whatever happens."""
    remove_stale(db_file.parent)
    fd, name = tempfile.mkstemp(dir=db_file.parent, prefix=f"{PREFIX}{os.getpid()}-", suffix=".sqlite3")
    os.close(fd)  # mkstemp: mode 0600
    path = Path(name)
    try:
        raw.execute(f"ATTACH DATABASE ? AS {ALIAS}", (str(path),))
        (cache,) = raw.execute("PRAGMA main.cache_size").fetchone()
        try:
            raw.execute(f"PRAGMA {ALIAS}.journal_mode=OFF")  # a scratch file: nothing to recover
            raw.execute(f"PRAGMA {ALIAS}.synchronous=OFF")
            # The copy's index updates touch pages all over the tables' indexes: with SQLite's default cache
            # (2 MiB) they are read and spilled again and again while the lock is held.
            raw.execute(f"PRAGMA main.cache_size=-{COPY_CACHE_KIB}")
            yield path
        finally:
            if raw.in_transaction:
                raw.execute("ROLLBACK")
            raw.execute(f"DETACH DATABASE {ALIAS}")
            raw.execute(f"PRAGMA main.cache_size={int(cache)}")
    finally:
        path.unlink(missing_ok=True)


def _quoted(names: list[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def fill(
    raw: sqlite3.Connection,
    tables: list[tuple[Table, list[str], list[tuple]]],
    progress: Callable[[str, int, int], None] | None = None,
) -> None:
    """Write ``tables`` — (real table, its column names, rows whose first value is the person's index in the
    import and the rest the values of those columns) — into staging tables of the same names, in batches of
    :data:`BATCH` rows, each a transaction on the staging file only (the main database is not locked).
    ``progress("stage", done, total)`` after each batch."""
    total = sum(len(rows) for _, _, rows in tables)
    done = 0
    for table, columns, rows in tables:
        raw.execute(f'CREATE TABLE {ALIAS}."{table.name}" (idx INTEGER NOT NULL, {_quoted(columns)})')
        marks = ", ".join("?" * (len(columns) + 1))
        sql = f'INSERT INTO {ALIAS}."{table.name}" VALUES ({marks})'
        for lo in range(0, len(rows), BATCH):
            raw.execute("BEGIN")
            raw.executemany(sql, rows[lo : lo + BATCH])
            raw.execute("COMMIT")
            done += min(BATCH, len(rows) - lo)
            if progress is not None:
                progress("stage", done, total)


def copy_in(
    session: Session, table: Table, key: str, columns: list[str], base: int, dropped: list[int]
) -> None:
    """``INSERT … SELECT`` of the staged rows of ``table`` into the main database in the session's
    transaction: column ``key`` (the person's id, or the person_id of a child row) is ``base`` + the staged
    index; rows whose index is in ``dropped`` (the write's re-check found them present or taken) are left
    out."""
    where, params = "", [base]
    if dropped:
        where = " WHERE idx NOT IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(dropped))
    if table.name in COPY_ORDER:
        where += f" ORDER BY {_quoted(COPY_ORDER[table.name])}"
    session.connection().exec_driver_sql(
        f'INSERT INTO main."{table.name}" ("{key}", {_quoted(columns)}) '
        f'SELECT ? + idx, {_quoted(columns)} FROM {ALIAS}."{table.name}"{where}',
        tuple(params),
    )
