"""PostgreSQL's connection pool: a connection is pinged before use only after it has been idle, and one that
the server closed meanwhile is replaced before the caller sees it."""

from __future__ import annotations

import time

import psycopg
import pytest

import crms.db
from crms.db import make_engine
from tests.conftest import PG_ADMIN_URL, _pg_available

pytestmark = pytest.mark.postgres


@pytest.fixture
def counted_engine(monkeypatch):
    """An engine as the application makes it, with the pings it sends counted."""
    if err := _pg_available():
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {err}")
    monkeypatch.setattr(crms.db, "PING_AFTER_IDLE_SECONDS", 0.2)
    engine = make_engine(PG_ADMIN_URL)
    pings: list[int] = []
    real_ping = engine.dialect.do_ping

    def counting_ping(dbapi_conn):
        pings.append(1)
        return real_ping(dbapi_conn)

    monkeypatch.setattr(engine.dialect, "do_ping", counting_ping)
    yield engine, pings
    engine.dispose()


def _backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()


def test_a_connection_used_a_moment_ago_is_handed_out_without_a_ping(counted_engine):
    engine, pings = counted_engine
    first = _backend_pid(engine)
    for _ in range(5):
        assert _backend_pid(engine) == first  # the same pooled connection each time
    assert pings == []


def test_an_idle_connection_closed_by_the_server_is_replaced_before_use(counted_engine):
    engine, pings = counted_engine
    first = _backend_pid(engine)
    with psycopg.connect(PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql"), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (first,))
    time.sleep(0.3)  # longer than the idle time after which a connection is pinged
    second = _backend_pid(engine)  # no error: the dead connection was found by the ping and replaced
    assert second != first
    assert pings == [1]
    assert _backend_pid(engine) == second and pings == [1]  # used a moment ago: not pinged again
