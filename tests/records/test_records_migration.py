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


def test_0013_gives_links_ids_that_are_never_reused_and_keeps_every_row(db):
    """Migration 0013 rebuilds case_parties with AUTOINCREMENT on SQLite (a no-op on PostgreSQL, whose
    sequences never reuse an id): the links, their status history, arrests, convictions and the links
    flags were raised by are kept as they were, foreign keys intact, both ways."""
    from sqlalchemy import text

    from crms.access.principal import Principal
    from crms.records import services as svc
    from crms.records import services_cases as cases

    from ._support import case_data, person_data

    sqlite = db.engine.dialect.name == "sqlite"
    command.downgrade(alembic_config(db.url), "0012_description_versions")
    op = Principal(user_id=None, username="migration_clerk", role="supervisor", unit="BA")
    with db.transaction() as s:
        case = cases.add_case(s, op, case_data())
        pids = [
            svc.register_person(s, op, person_data(given_name_en=n)).person.id for n in ("Aslam", "Baqir")
        ]
        kept = cases.link_person(s, op, case.id, {"person_id": pids[0], "role": "accused"}).id
        cases.change_party_status(s, op, kept, {"status": "absconder"})
        cases.record_arrest(s, op, kept, {"arrested_on": "2024-04-02"})
        cases.change_party_status(s, op, kept, {"status": "on_bail"})
        for status in ("challan_complete", "under_trial"):
            cases.change_case_status(s, op, case.id, {"status": status})
        conviction = {"court": "ATC-I Quetta", "convicted_on": "2025-01-15", "sentence": "7 years RI"}
        cases.record_conviction(s, op, kept, conviction)
        last = cases.link_person(s, op, case.id, {"person_id": pids[1], "role": "accused"}).id

    def rows() -> dict:
        with db.engine.connect() as conn:
            return {
                t: conn.execute(text(f"SELECT * FROM {t} ORDER BY id")).all()
                for t in (
                    "case_parties",
                    "case_party_status_history",
                    "arrests",
                    "convictions",
                    "person_flags",
                )
            }

    def declared() -> str:
        with db.engine.connect() as conn:
            return conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'case_parties'")).scalar()

    before = rows()
    assert (
        before["arrests"]
        and before["convictions"]
        and any(f.party_id == kept for f in before["person_flags"])
    )
    if sqlite:
        assert "AUTOINCREMENT" not in declared()
    command.upgrade(alembic_config(db.url), "head")
    assert rows() == before
    if sqlite:
        assert "AUTOINCREMENT" in declared()
        with db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
            assert {r[1] for r in conn.execute(text("PRAGMA index_list('case_parties')"))} >= {
                "ix_case_parties_case_id",
                "ix_case_parties_person_id",
            }
    with db.transaction() as s:
        cases.remove_link(s, op, last, {"reason": "wrong man"})
    with db.transaction() as s:
        again = cases.link_person(s, op, case.id, {"person_id": pids[1], "role": "witness"}).id
    assert again > last  # the removed link's id is not given again
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if _table_of(d) in RECORDS_TABLES] == []

    now = rows()
    command.downgrade(alembic_config(db.url), "0012_description_versions")
    assert rows() == now
    if sqlite:
        assert "AUTOINCREMENT" not in declared()
    command.upgrade(alembic_config(db.url), "head")
    assert rows() == now
