"""Per-user rate limits: token buckets kept in the database (so they hold across worker processes and
the CLI).

Limits are "CAPACITY/SECONDS" strings (burst CAPACITY, refilled evenly over SECONDS), overridable by
environment: ``CRMS_RATE_LOGIN`` (failed logins per account name AND client address together, default 5/300),
``CRMS_RATE_LOGIN_ADDRESS`` (failed logins per client address, whatever the name, default 30/60),
``CRMS_RATE_SEARCH`` (per user, default 60/60) and ``CRMS_RATE_READ`` (record reads per user, a page of N
persons counting N, default 300/300; see crms.records.services.guard). ``off`` disables a limit (e.g. for a
benchmark).

Logins spend only on failure: an attempt takes a token from its buckets before the password is checked (so
parallel guesses cannot overdraw them) and a successful login gives them back. The buckets are keyed by the
name as typed, whether or not such an account exists, and by the client address: an attacker elsewhere slows
only itself down and cannot lock the owner out, and a known and an unknown name are treated alike.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy.orm import Session

from crms.access.models import RateBucket
from crms.access.principal import Principal
from crms.errors import RateLimited
from crms.timeutil import as_utc, utcnow

DEFAULTS = {"login": "5/300", "login_address": "30/60", "search": "60/60", "read": "300/300"}


@dataclass(frozen=True)
class Limit:
    capacity: float
    per_seconds: float

    @property
    def rate(self) -> float:
        return self.capacity / self.per_seconds


def limit_for(kind: str) -> Limit | None:
    text = os.environ.get(f"CRMS_RATE_{kind.upper()}", DEFAULTS[kind]).strip().lower()
    if text in ("off", "0", "none", ""):
        return None
    try:
        cap, _, per = text.partition("/")
        limit = Limit(float(cap), float(per or 60))
    except ValueError:
        raise ValueError(f"CRMS_RATE_{kind.upper()} must look like 60/60 or 'off', not {text!r}") from None
    if limit.capacity <= 0 or limit.per_seconds <= 0:
        raise ValueError(f"CRMS_RATE_{kind.upper()} must be positive")
    return limit


def check_limits() -> None:
    """Raise ValueError naming the variable when a ``CRMS_RATE_*`` setting is malformed (at start-up, so
    that a mistyped limit stops the server instead of failing every request)."""
    for kind in DEFAULTS:
        limit_for(kind)


_BUCKET = RateBucket.__table__


def _sqlite_processors():
    from sqlalchemy.dialects import sqlite

    dialect = sqlite.dialect()
    impl = _BUCKET.c.updated_at.type.dialect_impl(dialect)
    return impl.bind_processor(dialect), impl.result_processor(dialect, None)


# Through the DBAPI cursor (a search takes a token on every request; as crms.access.audit.record), without
# SQLAlchemy's layer around each statement: the statements it would send. SQLite stores DateTime values as
# text, converted as SQLAlchemy's SQLite dialect does; psycopg reads and writes them as they are. On
# PostgreSQL the read locks the bucket's row until commit.
_SQLITE_READ = "SELECT tokens, updated_at FROM rate_limits WHERE key = ?"
_SQLITE_WRITE = "UPDATE rate_limits SET tokens = ?, updated_at = ? WHERE key = ?"
_SQLITE_TO_DB, _SQLITE_FROM_DB = _sqlite_processors()
_PG_READ = "SELECT tokens, updated_at FROM rate_limits WHERE key = %s FOR UPDATE"
_PG_WRITE = "UPDATE rate_limits SET tokens = %s, updated_at = %s WHERE key = %s"


def _read_direct(session: Session, key: str) -> tuple[float, object] | None:
    """The bucket's tokens and last update through the DBAPI cursor; None when it does not exist."""
    from crms.db import begin_writing

    begin_writing(session)  # (a read-first transaction says it writes, and on SQLite queues for the lock)
    sqlite = session.get_bind().dialect.name == "sqlite"
    cursor = session.connection().connection.driver_connection.cursor()
    try:
        row = cursor.execute(_SQLITE_READ if sqlite else _PG_READ, (key,)).fetchone()
    finally:
        cursor.close()
    if row is None:
        return None
    return (row[0], _SQLITE_FROM_DB(row[1])) if sqlite else (row[0], row[1])


def _read(
    session: Session, key: str, limit: Limit, now, *, create: bool = True
) -> tuple[float, object] | None:
    """The bucket's tokens and last update (its row locked until commit on PostgreSQL); a bucket used for the
    first time is created full, tolerating a concurrent first use of the same key (``create=False``: None
    instead)."""
    found = _read_direct(session, key)
    if found is not None or not create:
        return found
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    first = dialect_insert(_BUCKET).values(key=key, tokens=limit.capacity, updated_at=now)
    session.connection().execute(first.on_conflict_do_nothing())
    return _read_direct(session, key)


def _write(session: Session, key: str, tokens: float, now) -> None:
    sqlite = session.get_bind().dialect.name == "sqlite"
    cursor = session.connection().connection.driver_connection.cursor()
    try:
        if sqlite:
            cursor.execute(_SQLITE_WRITE, (tokens, _SQLITE_TO_DB(now), key))
        else:
            cursor.execute(_PG_WRITE, (tokens, now, key))
    finally:
        cursor.close()


def refilled(limit: Limit, stored: float, updated_at, now) -> float:
    """The tokens a bucket holds at ``now``: what it held at its last update plus the refill since, capped."""
    elapsed = max(0.0, (now - as_utc(updated_at)).total_seconds())
    return min(limit.capacity, stored + elapsed * limit.rate)


def take_each(
    session: Session, key: str, limit: Limit | None, needs: list[int], *, what: str = "requests"
) -> list[RateLimited | None]:
    """For several requests at once, in order, take each one's tokens (``needs``) from bucket ``key``: one
    read and one write of the bucket for all of them (a batch of audited reads,
    :mod:`crms.access.audit_writer`). Each gets None, or the RateLimited it would have got alone when the
    bucket holds fewer tokens than it needs then (it takes none). Runs in the caller's transaction."""
    if limit is None or not needs:
        return [None] * len(needs)
    key = key[:160]
    now = utcnow()
    stored, updated_at = _read(session, key, limit, now)
    tokens = left = refilled(limit, stored, updated_at, now)
    outcomes: list[RateLimited | None] = []
    for need in needs:
        if left >= need:
            left -= need
            outcomes.append(None)
        else:
            wait = (need - left) / limit.rate
            outcomes.append(RateLimited.waiting(what, wait))
    if left != tokens:  # (a bucket nobody could take from is left as it was)
        _write(session, key, left, now)
    return outcomes


def take(session: Session, key: str, limit: Limit | None, *, what: str = "requests") -> None:
    """Take one token from bucket ``key`` or raise RateLimited. Runs in the caller's transaction."""
    refused = take_each(session, key, limit, [1], what=what)[0]
    if refused is not None:
        raise refused


def search_key(principal: Principal) -> str | None:
    """The bucket of ``principal``'s searches; None for internal jobs (no user), which have none."""
    return None if principal.user_id is None else f"search:{principal.user_id}"


def check_search_rate(session: Session, principal: Principal) -> None:
    key = search_key(principal)
    if key is not None:
        take(session, key, limit_for("search"), what="searches")


def give_back(session: Session, key: str, limit: Limit | None) -> None:
    """Return one token to bucket ``key`` (never above its capacity). Runs in the caller's transaction."""
    if limit is None:
        return
    key = key[:160]
    now = utcnow()
    found = _read(session, key, limit, now, create=False)
    if found is not None:
        _write(session, key, min(limit.capacity, refilled(limit, *found, now) + 1.0), now)


def _login_keys(username: str, address: str | None) -> list[tuple[str, str]]:
    name = (username or "").strip().lower()
    keys = [(f"login:{name}@{address or '-'}", "login")]
    if address:
        keys.append((f"login-addr:{address}", "login_address"))
    return keys


def check_login_rate(session: Session, username: str, address: str | None) -> None:
    """Take one token per login bucket of this name and address (RateLimited when one is empty)."""
    for key, kind in _login_keys(username, address):
        take(session, key, limit_for(kind), what="login attempts")


def login_succeeded(session: Session, username: str, address: str | None) -> None:
    """A successful login spends nothing: give back what :func:`check_login_rate` took."""
    for key, kind in _login_keys(username, address):
        give_back(session, key, limit_for(kind))
