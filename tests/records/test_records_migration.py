"""Migration 0003 matches the records models (no drift), and downgrades cleanly to 0002."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from crms.db import Base, Database, alembic_config, import_all_models

RECORDS_TABLES = {
    "persons",
    "person_aliases",
    "identity_documents",
    "addresses",
    "phone_numbers",
    "physical_descriptions",
    "body_marks",
    "person_merges",
    "cases",
    "case_offences",
    "case_status_history",
    "case_parties",
    "case_party_status_history",
    "arrests",
    "convictions",
    "person_flags",
}


def _table_of(diff) -> str | None:
    for item in diff if isinstance(diff, list) else [diff]:
        for part in item[1:] if isinstance(item, tuple) else []:
            name = getattr(part, "name", None) if not isinstance(part, str) else None
            table = getattr(part, "table", None)
            if table is not None:
                return table.name
            if name in RECORDS_TABLES:
                return name
            if isinstance(part, str) and part in RECORDS_TABLES:
                return part
    return None


def test_records_tables_match_the_models_and_downgrade(tmp_path):
    import_all_models()
    db = Database(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    db.upgrade()
    with db.engine.connect() as conn:
        assert RECORDS_TABLES <= set(inspect(conn).get_table_names())
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    ours = [d for d in diffs if _table_of(d) in RECORDS_TABLES]
    assert ours == []
    command.downgrade(alembic_config(db.url), "0002")
    with db.engine.connect() as conn:
        assert not RECORDS_TABLES & set(inspect(conn).get_table_names())
    db.dispose()
