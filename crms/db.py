"""Storage plumbing: engine (SQLite with WAL + foreign keys, or PostgreSQL via psycopg 3), sessions,
one transaction per action, and Alembic migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

# Every id column is an INTEGER, 32-bit on PostgreSQL: inputs naming an id are bounded by this (a 422 rather
# than a database error).
MAX_ID = 2**31 - 1

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


def make_engine(url: str, **kwargs) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

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
            conn.exec_driver_sql("BEGIN" if conn.info.get(READ_ONLY) else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


READ_ONLY = "crms_read_only"  # connection.info key: the transaction only reads


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
    ):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:  # an area that has no tables yet
            if exc.name != mod:
                raise
