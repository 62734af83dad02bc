"""What the database driver sends, counted below SQLAlchemy: the hot paths run some statements through the
DBAPI cursor (crms.access.audit, crms.access.ratelimit) or psycopg's pipeline (crms.db.read_together), which
SQLAlchemy's events do not see."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event


@contextmanager
def sent_statements(db) -> Iterator[list[str]]:
    """Every statement the driver sends while the block runs, SQLAlchemy's and those run through the DBAPI
    cursor alike: SQLite's trace callback; on PostgreSQL libpq's protocol trace (each Bind, or simple Query,
    message; the list is filled when the block ends)."""
    from psycopg.pq import Trace

    sent: list[str] = []
    traces: list = []

    def checkout(dbapi_conn, _record, _proxy) -> None:
        if db.is_sqlite:
            dbapi_conn.set_trace_callback(sent.append)
            return
        traces.append(trace := tempfile.TemporaryFile("w+"))
        dbapi_conn.pgconn.trace(trace.fileno())
        dbapi_conn.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS | Trace.REGRESS_MODE)

    def checkin(dbapi_conn, _record) -> None:
        if db.is_sqlite:
            dbapi_conn.set_trace_callback(None)
        else:
            dbapi_conn.pgconn.untrace()

    event.listen(db.engine, "checkout", checkout)
    event.listen(db.engine, "checkin", checkin)
    try:
        yield sent
    finally:
        event.remove(db.engine, "checkout", checkout)
        event.remove(db.engine, "checkin", checkin)
        for trace in traces:
            trace.seek(0)
            for fields in (line.split("\t") for line in trace.read().splitlines()):
                if fields[0] == "F" and fields[2] in ("Bind", "Query"):
                    sent.append(fields[2])
            trace.close()
