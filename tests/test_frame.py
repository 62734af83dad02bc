"""The frame itself: migrations on both backends, problem+json for unauthenticated calls, the CLI."""

from __future__ import annotations

from sqlalchemy import inspect


def test_migrations_create_tables(db):
    names = set(inspect(db.engine).get_table_names())
    assert {"users", "api_tokens", "audit_log"} <= names


def test_sqlite_pragmas(sqlite_db):
    with sqlite_db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_openapi_served(client):
    r = client.get("/api/openapi.json")
    assert r.status_code == 200
    assert r.json()["info"]["title"] == "CRMS"


def test_cli_help():
    from typer.testing import CliRunner

    from crms.cli.main import app

    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "serve" in result.output
