"""Shared fixtures. Every storage test runs on SQLite and on PostgreSQL: the ``db`` fixture is parametrised
over both. PostgreSQL tests skip when no server answers, except when CRMS_REQUIRE_POSTGRES=1 (set by .ci/run),
where an unreachable server fails the run instead.

Each test gets a fresh, fully migrated database: a copy of a template (SQLite: a file copy; PostgreSQL:
CREATE DATABASE ... TEMPLATE), so services commit for real and tests stay independent.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from crms.db import Database

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PG_ADMIN_URL = os.environ.get("CRMS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


# Servers the tests start do not compile the matcher in a child process of their own (dozens of them at once
# on an empty numba cache); tests/fingerprint/test_warmup.py turns it on where it is the subject.
os.environ["CRMS_WARM_MATCHER"] = "off"

# Environment variables that point at a user's data or database: no test may inherit them.
_USER_DATA_ENV = ("CRMS_DATA_DIR", "CRMS_DATABASE_URL", "CRMS_DATA_KEY", "CRMS_AUDIT_KEY", "CRMS_SECRET_KEY")


@pytest.fixture(autouse=True)
def _own_data_dir(tmp_path_factory, monkeypatch) -> Path:
    """Every test gets its own data directory (CRMS_DATA_DIR), so that nothing a test does (the audit-head
    file, keys, the encrypted store, logs) reaches the checkout's ./data or a data dir of the user's."""
    for name in _USER_DATA_ENV:
        monkeypatch.delenv(name, raising=False)
    data_dir = tmp_path_factory.mktemp("crms-data")
    monkeypatch.setenv("CRMS_DATA_DIR", str(data_dir))
    return data_dir


def shared_data(*parts: str) -> Path:
    """Path under ../shared/data; skips the test with a clear message when absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data set not available: {path} (needs ../shared/data beside the project)")
    return path


def _pg_available() -> str | None:
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql"), connect_timeout=3):
            return None
    except Exception as exc:  # noqa: BLE001
        return str(exc)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.sqlite3"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    _after_migrate(db)
    db.dispose()
    import sqlite3

    with sqlite3.connect(path) as raw:  # fold the WAL into the file so that a plain copy is complete
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@contextmanager
def new_pg_database(prefix: str) -> Iterator[tuple[str, str]]:
    """(name, URL) of a new, empty PostgreSQL database, dropped afterwards. Skips where no server answers,
    fails there when CRMS_REQUIRE_POSTGRES=1."""
    err = _pg_available()
    if err:
        if os.environ.get("CRMS_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL required but unreachable at {PG_ADMIN_URL}: {err}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {err}")
    import psycopg

    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name, PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def _pg_template() -> Iterator[str]:
    with new_pg_database("crms_tpl") as (name, url):
        db = Database(url)
        db.upgrade()
        _after_migrate(db)
        db.dispose()
        yield name


def _after_migrate(db: Database) -> None:
    """Load reference data into the template once (the records area provides the loader)."""
    try:
        from crms.records.reference import load_reference_data
    except ImportError:
        return
    with db.transaction() as session:
        load_reference_data(session)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request, tmp_path) -> Iterator[Database]:
    """A fresh migrated database with reference data, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        template = request.getfixturevalue("_sqlite_template")
        path = tmp_path / "crms.sqlite3"
        shutil.copyfile(template, path)
        database = Database(f"sqlite:///{path}")
        yield database
        database.dispose()
        return
    template = request.getfixturevalue("_pg_template")
    import psycopg

    admin = PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql")
    name = f"crms_t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    database = Database(PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
    yield database
    database.dispose()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_db(tmp_path, _sqlite_template) -> Iterator[Database]:
    """SQLite only, for tests that are not about storage."""
    path = tmp_path / "crms.sqlite3"
    shutil.copyfile(_sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    yield database
    database.dispose()


@pytest.fixture
def app(db, tmp_path):
    from crms.api.app import create_app
    from crms.config import Settings

    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=db.url,
        data_key=None,
        secret_key="test-secret",
        environment="test",
    )
    return create_app(settings=settings, database=db)


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


@pytest.fixture
def cli_env(db, tmp_path, monkeypatch):
    """The CLI pointed at ``db`` (and a data dir under tmp_path) with no credentials of the environment:
    ``cli_env(token, *args)`` runs ``crms ARGS`` as the holder of that API token (typer's CliRunner)."""
    from typer.testing import CliRunner

    from crms.cli.main import app as cli_app

    monkeypatch.setenv("CRMS_DATABASE_URL", db.url)
    monkeypatch.setenv("CRMS_DATA_DIR", str(tmp_path / "data"))
    for var in ("CRMS_USER", "CRMS_PASSWORD", "CRMS_TOTP", "CRMS_TOKEN", "CRMS_REASON"):
        monkeypatch.delenv(var, raising=False)
    runner = CliRunner()
    return lambda token, *args: runner.invoke(cli_app, list(args), env={"CRMS_TOKEN": token})


@pytest.fixture
def make_user(db):
    """make_user(role, unit='BA', username=None) -> (User, auth headers with a fresh API token)."""
    from crms.access.tokens import issue_token
    from crms.access.users import create_user

    def _make(role: str, unit: str = "BA", username: str | None = None, password: str | None = None):
        with db.transaction() as session:
            user = create_user(
                session, username or f"{role}_{uuid.uuid4().hex[:6]}", role, unit=unit, password=password
            )
            token = issue_token(session, user)
        return user, {"Authorization": f"Bearer {token}"}

    return _make
