"""Migration 0007_web2 (users.language, fingerprint_marks, person_photos) matches the models and downgrades
cleanly, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from crms.db import Base, alembic_config, import_all_models

TABLES = {"fingerprint_marks", "person_photos"}


def _ours(diff) -> bool:
    text = repr(diff)
    return any(t in text for t in TABLES) or "'language'" in text


def test_0007_matches_models_and_downgrades(db):
    import_all_models()
    with db.engine.connect() as conn:
        assert TABLES <= set(inspect(conn).get_table_names())
        assert "language" in {c["name"] for c in inspect(conn).get_columns("users")}
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if _ours(d)] == []
    command.downgrade(alembic_config(db.url), "0007_web2-1")
    with db.engine.connect() as conn:
        assert not TABLES & set(inspect(conn).get_table_names())
        assert "language" not in {c["name"] for c in inspect(conn).get_columns("users")}
    command.upgrade(alembic_config(db.url), "head")
