"""Storage plumbing: engine (SQLite with WAL + foreign keys, or PostgreSQL via psycopg 3), sessions,
one transaction per action, and Alembic migrations."""

from __future__ import annotations

import fcntl
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from crms.errors import ValidationError

# Every id column is an INTEGER, 32-bit on PostgreSQL: inputs naming an id are bounded by this (a 422 rather
# than a database error).
MAX_ID = 2**31 - 1


def check_page(limit: int, offset: int, *, max_limit: int) -> None:
    """A listing's page: 1..``max_limit`` rows from an offset of 0..MAX_ID (past the last id there is no row,
    and a larger one fails in the database: SQLite's integers stop at 2^63). ValidationError naming the
    parameter otherwise."""
    if not 1 <= limit <= max_limit:
        raise ValidationError(f"limit must be between 1 and {max_limit}", field="limit")
    if not 0 <= offset <= MAX_ID:
        raise ValidationError(f"offset must be between 0 and {MAX_ID}", field="offset")


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given without a driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for an in-memory database, a ``file:`` URI, another dialect."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1]
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path.split("?", 1)[0])


def refuse_nul_text(engine: Engine) -> None:
    """Refuse, before it reaches the database, a statement whose text parameter holds a NUL character
    (:func:`check_no_nul`): PostgreSQL cannot store one and answered with an error that became a 500;
    SQLite would store it, invisible in every name and search. No person types one; a form or request that
    carries one is refused whole."""

    @event.listens_for(engine, "before_cursor_execute")
    def _no_nul(_conn, _cursor, _statement, params, context, many) -> None:
        check_no_nul(params, context, many)


def check_no_nul(params, context, many: bool) -> None:
    """ValidationError naming the column (where the statement says it) if a text parameter holds a NUL."""
    # executemany hands a list of rows; SQLite's insertmanyvalues hands one row with many=True
    batch = (
        many and isinstance(params, list | tuple) and params and isinstance(params[0], tuple | list | dict)
    )
    rows = params if batch else [params]
    if not batch:  # one row, the common case: a plain loop is the cheapest scan
        for value in params.values() if type(params) is dict else params or ():
            if type(value) is str and "\x00" in value:
                break
        else:
            return
    elif "\x00" not in "".join(
        [v for row in rows for v in (row.values() if type(row) is dict else row) if type(v) is str]
    ):
        return  # a batch: one scan of all its text
    for row in rows:
        for key, value in row.items() if type(row) is dict else enumerate(row):
            if type(value) is str and "\x00" in value:
                raise ValidationError(
                    "text may not contain a NUL character (\\x00)", field=_bind_field(key, context)
                )


def _bind_field(key, context) -> str | None:
    """The column a bound parameter stands for, as the statement tells (``name_1``, ``name__3``: name; the
    ``pk_1`` of a look-up by primary key names no field of the input)."""
    if isinstance(key, int):
        names = getattr(getattr(context, "compiled", None), "positiontup", None) or []
        key = names[key % len(names)] if names else None
    return re.sub(r"_+\d+$", "", key) if isinstance(key, str) and key != "pk_1" else None


def make_engine(url: str, **kwargs) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        db_file = sqlite_file(url)
        connect_args: dict = {"timeout": 30}
        if db_file is not None:
            private_sqlite_file(db_file)
            connect_args["factory"] = _queued_connection_class(f"{db_file}-writer.lock")
        engine = create_engine(url, connect_args=connect_args, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
            # Let SQLAlchemy, not the driver, open transactions (see _sqlite_begin).
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover - trivial
            # Take the write lock at the start: nearly every action writes (its audit entry at least), and a
            # deferred transaction that upgrades to a writer after another commit fails at once with
            # "database is locked" instead of waiting for busy_timeout.
            # A read_transaction() (below) says so on its connection: a plain deferred BEGIN, no write lock.
            if conn.info.get(READ_ONLY) or conn.info.get(READ_FIRST):
                conn.exec_driver_sql("BEGIN")
                return
            queue = getattr(conn.connection.dbapi_connection, "crms_queue", None)
            if queue is not None:
                queue()
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        @event.listens_for(engine, "before_cursor_execute")
        def _sqlite_first_write(conn, _cursor, statement, _params, _context, _many):  # pragma: no cover
            if conn.info.get(READ_FIRST) and not conn.info.get(WRITING) and not _is_read(statement):
                _queue_writer(conn)

        refuse_nul_text(engine)
        return engine
    engine = create_engine(url, **kwargs)
    ping_idle_connections(engine, PING_AFTER_IDLE_SECONDS)
    refuse_nul_text(engine)

    @event.listens_for(engine, "before_cursor_execute")
    def _first_write(conn, _cursor, statement, _params, _context, _many):  # pragma: no cover - trivial
        if conn.info.get(READ_FIRST) and not conn.info.get(WRITING) and not _is_read(statement):
            conn.info[WRITING] = True

    return engine


# A pooled PostgreSQL connection idle for longer than this is pinged before it is handed out (the server may
# have closed it: a restart, an idle timeout); one used more recently is handed out as it is.
PING_AFTER_IDLE_SECONDS = 2.0
_CHECKED_IN = "crms_checked_in"  # connection record .info key: when the pool got the connection back


def ping_idle_connections(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection before handing it out only when it has been idle for more than
    ``idle_seconds`` (SQLAlchemy's ``pool_pre_ping`` pings on every checkout: one more round trip for every
    transaction, two of the about eight a CNIC lookup cost on PostgreSQL). A dead connection found so is
    replaced by a new one before the caller sees it (the pool retries the checkout); one that dies within
    ``idle_seconds`` of its last use fails its next transaction once, and that failure invalidates the
    pool's other connections of before it (SQLAlchemy's disconnect handling)."""
    from sqlalchemy import exc

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn, record) -> None:
        record.info[_CHECKED_IN] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn, record, _proxy) -> None:
        since = record.info.pop(_CHECKED_IN, None)
        if since is None or time.monotonic() - since <= idle_seconds:
            return  # a new connection, or one in use a moment ago
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as error:
            if not engine.dialect.is_disconnect(error, dbapi_conn, None):
                raise
            alive = False
        if not alive:
            raise exc.DisconnectionError("the pooled connection was closed by the server")


READ_ONLY = "crms_read_only"  # connection.info key: the transaction only reads
READ_FIRST = "crms_read_first"  # connection.info key: reads first, then writes (read_first_transaction)
WRITING = "crms_writing"  # connection.info key: a READ_FIRST transaction has queued for the write lock
SQLITE_BUSY_SNAPSHOT = 517


class SnapshotMoved(Exception):
    """A read-first transaction (SQLite) could not start writing: another connection committed after its
    snapshot began. Nothing was written; the action is run again (see :meth:`Database.read_first`)."""


def _is_read(statement: str) -> bool:
    """Whether a statement of a read-first transaction leaves it a reader (its deferred BEGIN too)."""
    head = statement.lstrip()[:7].upper()
    return head.startswith(("SELECT", "WITH", "PRAGMA")) or head.rstrip(" ;") == "BEGIN"


def _queue_writer(conn) -> None:
    """The first write of a read-first transaction: queue for the write lock (flock) like BEGIN IMMEDIATE
    does; the write statement that follows then takes SQLite's lock (or fails with SQLITE_BUSY_SNAPSHOT)."""
    queue = getattr(conn.connection.dbapi_connection, "crms_queue", None)
    if queue is not None:
        queue()
    conn.info[WRITING] = True


def begin_writing(session) -> None:
    """Say that ``session`` is about to write through the DBAPI cursor (statements run through SQLAlchemy
    are seen by the engine): in a read-first SQLite transaction, queue for the write lock first."""
    conn = session.connection()
    if conn.info.get(READ_FIRST) and not conn.info.get(WRITING):
        _queue_writer(conn)


_compiled_reads: dict[tuple[int, str], tuple[object, object]] = {}


def read_together(conn, reads: list[tuple[object, dict]]) -> list[list]:
    """Run SELECTs that do not depend on one another's results on ``conn``; each one's rows, with attribute
    access by column name. On SQLite one after another through SQLAlchemy. On PostgreSQL they go to the
    server together (psycopg's pipeline mode; one at a time, each is a round trip):

    - as the first statements of the connection's transaction: in one round trip, in a read-only transaction
      block of their own at REPEATABLE READ sent with them (``BEGIN`` and ``COMMIT`` in the same pipeline;
      psycopg's own ``BEGIN`` would be a round trip of its own even there), so all of them read one snapshot
      (at PostgreSQL's READ COMMITTED each statement reads its own). The connection's transaction has then
      sent nothing: a write after them begins it as usual, and a commit with no write costs nothing;
    - later in the transaction: in one round trip, in that transaction.

    For hot reads (the CNIC lookup): the statements must be built once (each is compiled once per process)
    and read only columns that SQLAlchemy passes through as the driver gives them (numbers, text, dates and
    times, booleans, JSON), since their rows bypass SQLAlchemy's result processing on PostgreSQL."""
    if conn.dialect.name != "postgresql":
        return [conn.execute(statement, params).all() for statement, params in reads]
    from psycopg.pq import TransactionStatus
    from psycopg.rows import namedtuple_row
    from sqlalchemy.exc import DBAPIError

    raw = conn.connection.driver_connection
    first = not raw.autocommit and raw.info.transaction_status == TransactionStatus.IDLE
    cursors = []
    if first:
        raw.autocommit = True  # (the block is sent as statements: psycopg adds no BEGIN of its own)
    try:
        with raw.pipeline():
            if first:
                raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            for statement, params in reads:
                compiled = _compiled_for(conn.dialect, statement)
                cursor = raw.cursor(row_factory=namedtuple_row)
                cursor.execute(compiled.string, compiled.construct_params(params))
                cursors.append(cursor)
            if first:
                raw.execute("COMMIT")
    except raw.Error as error:  # raised as SQLAlchemy raises the driver's errors
        if first and not raw.closed and raw.info.transaction_status != TransactionStatus.IDLE:
            raw.execute("ROLLBACK")  # (a failed statement leaves the block open, aborted)
        disconnected = conn.dialect.is_disconnect(error, raw, None)
        if disconnected:
            conn.invalidate(error)
        raise DBAPIError.instance(
            "; ".join(str(_compiled_for(conn.dialect, s)) for s, _ in reads),
            None,
            error,
            raw.Error,
            connection_invalidated=disconnected,
            dialect=conn.dialect,
        ) from error
    finally:
        if first and not raw.closed:
            raw.autocommit = False
    return [cursor.fetchall() for cursor in cursors]


def _compiled_for(dialect, statement):
    key = (id(statement), dialect.name)
    known = _compiled_reads.get(key)
    if known is None or known[0] is not statement:  # (the statement kept: its id is not reused meanwhile)
        known = _compiled_reads[key] = (statement, statement.compile(dialect=dialect))
    return known[1]


def has_written(session) -> bool:
    """Whether a :meth:`Database.read_first_transaction` has written anything so far (ORM changes not yet
    flushed included)."""
    if session.new or session.dirty or session.deleted:
        return True
    return bool(session.connection().info.get(WRITING))


def snapshot_moved(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's refusal to let a read transaction start writing because another
    connection committed after its snapshot began (SQLITE_BUSY_SNAPSHOT)."""
    orig = getattr(exc, "orig", exc)
    return isinstance(orig, sqlite3.OperationalError) and getattr(orig, "sqlite_errorcode", None) == (
        SQLITE_BUSY_SNAPSHOT
    )


_held = threading.local()


def _queued_connection_class(lock_path: str) -> type[sqlite3.Connection]:
    """sqlite3 connections whose write transactions queue on an advisory lock file (flock) before
    ``BEGIN IMMEDIATE``, across threads and server worker processes.

    Every transaction takes SQLite's write lock (see make_engine). When it is taken, SQLite's busy handler
    makes the others poll with growing sleeps (1, 2, 5, 10 ... 100 ms) and without any order, so under
    concurrent requests from several processes some wait hundreds of milliseconds while others keep getting
    the lock. A blocking flock instead wakes the next waiter as soon as the lock is released. The flock is
    released when the transaction ends (commit, rollback, close). A thread that already holds it through
    another connection (a nested transaction) does not queue again: it meets SQLite's busy timeout as
    before, never a deadlock."""

    class QueuedConnection(sqlite3.Connection):
        crms_lock_fd = -1
        crms_locked = False

        def crms_queue(self) -> None:
            held = getattr(_held, "paths", None)
            if held is None:
                held = _held.paths = {}
            if held.get(lock_path) or self.crms_locked:
                return
            if self.crms_lock_fd < 0:
                self.crms_lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self.crms_lock_fd, fcntl.LOCK_EX)
            self.crms_locked = True
            held[lock_path] = True
            self.crms_held_by = held  # the queuing thread's record, cleared even if another thread ends it

        def crms_release(self) -> None:
            if self.crms_locked:
                fcntl.flock(self.crms_lock_fd, fcntl.LOCK_UN)
                self.crms_locked = False
                self.crms_held_by[lock_path] = False

        def commit(self) -> None:
            try:
                super().commit()
            finally:
                self.crms_release()

        def rollback(self) -> None:
            try:
                super().rollback()
            finally:
                self.crms_release()

        def close(self) -> None:
            try:
                super().close()
            finally:
                self.crms_release()
                if self.crms_lock_fd >= 0:
                    os.close(self.crms_lock_fd)
                    self.crms_lock_fd = -1

    return QueuedConnection


def private_sqlite_file(path: Path) -> None:
    """The SQLite database holds password hashes, TOTP secrets and every personal record: create it (and its
    directory, 0700) with mode 0600 before SQLite opens it; SQLite gives its -wal and -shm files the mode
    of the database file. An existing database or companion file readable by others is made 0600."""
    from crms.config import private_dir

    private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if p.stat().st_mode & 0o077:
                p.chmod(0o600)
        except (FileNotFoundError, PermissionError):
            pass


class Database:
    """An engine and its session factory. ``transaction()`` is the unit of work: one per action."""

    def __init__(self, url: str, **engine_kwargs):
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, **engine_kwargs)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Commit on success, roll back on any exception: nothing is half-written."""
        with self.sessionmaker() as session:
            with session.begin():
                yield session

    @contextmanager
    def read_first_transaction(self) -> Iterator[Session]:
        """One transaction for an action that reads first and writes at its end (an audited read: the
        record, then its audit entry and rate-limit token); :func:`has_written` tells whether it has written
        yet. On PostgreSQL otherwise the same as :meth:`transaction`. On SQLite the transaction begins as a
        reader (no write lock, so other actions' writes go on during the read) and queues for the write lock
        at its first write; if another connection committed in between, SQLite refuses that write
        (SQLITE_BUSY_SNAPSHOT), nothing has been written, and :class:`SnapshotMoved` is raised: run the
        action again in :meth:`transaction` (:meth:`read_first` does)."""
        with self.engine.connect() as conn:
            conn.info[READ_FIRST] = True
            try:
                with self.sessionmaker(bind=conn) as session, session.begin():
                    yield session
            except Exception as exc:
                if self.is_sqlite and snapshot_moved(exc):
                    raise SnapshotMoved(str(exc)) from exc
                raise
            finally:
                conn.info.pop(READ_FIRST, None)
                conn.info.pop(WRITING, None)

    @contextmanager
    def read_transaction(self) -> Iterator[Session]:
        """A transaction that only reads (one consistent snapshot): on SQLite a deferred BEGIN, so it takes no
        write lock and other readers and writers go on; meant for reads only. For long reads that prepare a
        short write (the bulk import validates in one, then writes in a transaction())."""
        with self.engine.connect() as conn:
            conn.info[READ_ONLY] = True
            try:
                with Session(bind=conn, expire_on_commit=False) as session, session.begin():
                    yield session
            finally:
                conn.info.pop(READ_ONLY, None)

    def upgrade(self, revision: str = "head") -> None:
        upgrade(self.url, revision)

    def schema_problem(self) -> str | None:
        """Why this version of CRMS cannot use the database's schema (none yet, an older or a newer one), in
        words that say what to do; None where the schema is the one it needs (the migrations' head)."""
        from alembic.migration import MigrationContext
        from alembic.script import ScriptDirectory
        from alembic.util import CommandError
        from sqlalchemy.engine import make_url

        script = ScriptDirectory.from_config(alembic_config(self.url))
        head = script.get_current_head()
        with self.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        if current == head:
            return None
        where = make_url(self.url).render_as_string(hide_password=True)
        if current is None:
            return f"the database {where} is not set up: run `crms db upgrade` first"
        try:
            script.get_revision(current)
        except CommandError:
            return (
                f"the database {where} has schema revision {current}, newer than this version of CRMS "
                f"knows ({head}): run the CRMS version that set it up"
            )
        return (
            f"the database {where} has schema revision {current}, this version of CRMS needs {head}: run "
            "`crms db upgrade`"
        )

    def is_empty(self) -> bool:
        """Whether the database holds no table at all (a new one)."""
        from sqlalchemy import inspect

        return not inspect(self.engine).get_table_names()

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: str):
    from alembic.config import Config

    here = Path(__file__).parent / "migrations"
    cfg = Config()
    cfg.set_main_option("script_location", str(here))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def import_all_models() -> None:
    """Import every area's models so that Base.metadata knows all tables."""
    import importlib

    for mod in (
        "crms.access.models",
        "crms.records.reference.models",
        "crms.records.models",
        "crms.biometrics.models",
        "crms.faces.models",
    ):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:  # an area that has no tables yet
            if exc.name != mod:
                raise
