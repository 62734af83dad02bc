"""A database without the schema this version of CRMS needs (a new one, or one at an older or a newer
revision) is said so, with what to run, by every command and by ``crms serve`` (which does not start), never
as a traceback of a missing table; ``crms demo`` sets up a new database itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from crms.db import Database


def _crms(data_dir: Path, *args: str, timeout: float = 120, database_url: str | None = None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMS_")}
    env |= {"CRMS_DATA_DIR": str(data_dir), "CRMS_WARM_MATCHER": "off"}
    env |= {"CRMS_DATABASE_URL": database_url} if database_url else {}
    return subprocess.run(
        [sys.executable, "-m", "crms.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_command_on_a_new_database_says_to_set_it_up(tmp_path):
    for args in (("user", "add", "admin1", "--role", "administrator"), ("serve", "--port", "0")):
        r = _crms(tmp_path, *args)
        assert r.returncode == 3, (args, r.stdout, r.stderr)
        assert "is not set up: run `crms db upgrade` first" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr and "no such table" not in r.stderr


def test_an_older_or_a_newer_schema_is_named_with_what_to_run(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'crms.sqlite3'}")
    db.upgrade(_before_head())
    problem = db.schema_problem()
    assert problem and "this version of CRMS needs" in problem and "run `crms db upgrade`" in problem
    r = _crms(tmp_path, "serve", "--port", "0")  # the server does not start on it
    assert r.returncode == 3 and "run `crms db upgrade`" in r.stderr and "Traceback" not in r.stderr, r.stderr
    db.upgrade()
    assert db.schema_problem() is None
    with db.transaction() as s:
        s.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    assert "newer than this version of CRMS knows" in db.schema_problem()
    db.dispose()


def _before_head() -> str:
    from alembic.script import ScriptDirectory

    from crms.db import alembic_config

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return script.get_revision(script.get_current_head()).down_revision


@pytest.mark.slow
def test_the_demo_sets_up_a_new_database_itself(tmp_path):
    r = _crms(tmp_path, "demo", "--people", "2", "--stage", "records", "--no-mugshots", timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "a new database, set up" in r.stderr and "2 persons created" in r.stdout
    assert Database(f"sqlite:///{tmp_path / 'crms.sqlite3'}").schema_problem() is None


@pytest.mark.postgres
def test_a_command_on_a_new_postgresql_database_says_to_set_it_up(tmp_path):
    from tests.conftest import new_pg_database

    with new_pg_database("crms_new") as (name, url):
        r = _crms(tmp_path, "user", "add", "admin1", "--role", "administrator", database_url=url)
    assert r.returncode == 3 and "is not set up: run `crms db upgrade` first" in r.stderr, r.stderr
    assert f"/{name} is not set up" in r.stderr and "Traceback" not in r.stderr
