"""The CNIC lookup's four queries through :func:`crms.db.read_together`: the same answer as the statements run
one by one through SQLAlchemy, on both backends; on PostgreSQL one round trip in all, in one snapshot (each
statement is a round trip on PostgreSQL; with the transaction's BEGIN and COMMIT they were six)."""

from __future__ import annotations

import tempfile

import pytest
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError

from crms.access import audit
from crms.db import has_written
from crms.records import services as svc
from crms.records.services import lookup

from ._support import case_data, person_data

CNIC = "54400-1234567-3"


def _person_with_history(rdb, principal) -> None:
    """A person with an alias, two documents, two cases (one as an absconder: flags) in Quetta."""
    op = principal("cro_operator", "BA/QTA/QUETTA")
    with rdb.transaction() as s:
        data = person_data(
            aliases=[{"name": "Rauf Khan", "script": "latin"}],
            documents=[{"doc_type": "CNIC", "number": CNIC}, {"doc_type": "PASSPORT", "number": "AB1234567"}],
        )
        pid = svc.register_person(s, op, data).person.id
        for fir, status in ((11, None), (12, "absconder")):
            case = svc.add_case(s, op, case_data(fir_number=fir))
            link = svc.link_person(s, op, case.id, {"person_id": pid, "role": "accused"})
            if status:
                svc.change_party_status(s, op, link.id, {"status": status})


def _one_by_one(conn, reads):
    return [conn.execute(statement, params).all() for statement, params in reads]


def test_the_lookup_reads_together_what_it_reads_one_by_one(rdb, principal, monkeypatch):
    _person_with_history(rdb, principal)
    who = principal("cro_operator", "BA/QTA/QUETTA")
    with rdb.transaction() as s:
        together = lookup.lookup_cnic(s, who, CNIC, reason="a test")
    monkeypatch.setattr(lookup, "read_together", _one_by_one)
    with rdb.transaction() as s:
        one_by_one = lookup.lookup_cnic(s, who, CNIC, reason="a test")
    assert together == one_by_one
    assert len(together["documents"]) == 2 and together["aliases"][0]["name"] == "Rauf Khan"
    assert len(together["cases"]) == 2 and {f["kind"] for f in together["flags"]} == {"absconder", "wanted"}


def test_an_audited_lookup_reads_in_one_round_trip_on_postgresql(rdb, principal):
    _person_with_history(rdb, principal)
    who = principal("cro_operator", "BA/QTA/QUETTA")
    if rdb.is_sqlite:  # in-process, no round trips: the four reads, and no write lock taken
        statements: list[str] = []
        event.listen(rdb.engine, "before_cursor_execute", lambda c, cur, stmt, *a: statements.append(stmt))
        with rdb.read_first_transaction() as s:
            audit.defer_entries(s)
            assert lookup.lookup_cnic(s, who, CNIC, reason="a test")["cases"]
            assert not has_written(s)
        assert [stmt.split()[0] for stmt in statements] == ["BEGIN", "SELECT", "SELECT", "SELECT", "SELECT"]
        return
    from psycopg.pq import Trace

    with tempfile.TemporaryFile("w+") as trace, rdb.read_first_transaction() as s:
        deferred = audit.defer_entries(s)  # as the API's lookup: its entry is written by the batch writer
        raw = s.connection().connection.driver_connection
        raw.pgconn.trace(trace.fileno())
        raw.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS | Trace.REGRESS_MODE)
        found = lookup.lookup_cnic(s, who, CNIC, reason="a test")
        s.commit()
        raw.pgconn.untrace()
        trace.seek(0)
        protocol = [line.split("\t") for line in trace.read().splitlines()]
    assert found["cases"] and [e.action for e in deferred] == ["search.cnic"]
    sent = [fields[2] for fields in protocol if fields[0] == "F"]
    assert sent.count("Sync") == 1  # the person, its parts, cases and flags together, and nothing after
    queries = [f[3] for f in protocol if f[0] == "F" and f[2] == "Parse"]
    assert len(queries) == 6 and "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY" in queries[0]
    assert "COMMIT" in queries[-1]  # one snapshot for the four


def test_a_failed_read_leaves_the_connection_usable_and_outside_any_transaction(rdb):
    from sqlalchemy import column, literal, select, table

    from crms.db import read_together

    persons = select(column("id")).select_from(table("persons"))
    missing = select(column("id")).select_from(table("no_such_table"))
    with rdb.engine.connect() as conn:
        with pytest.raises(DBAPIError, match="no_such_table"):
            read_together(conn, [(persons, {}), (missing, {})])
        conn.rollback()
        assert read_together(conn, [(persons, {})]) == [[]]
        assert conn.execute(select(literal(1))).all() == [(1,)]
