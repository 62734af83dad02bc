"""Migration 0015 (fingerprints.error_kind) matches the models, keeps a print that failed before it (its
reason in words only: no kind) and downgrades cleanly, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from crms.db import Base, alembic_config, import_all_models


def _columns(db) -> set[str]:
    with db.engine.connect() as conn:
        return {c["name"] for c in inspect(conn).get_columns("fingerprints")}


def test_0015_matches_models_and_downgrades_keeping_the_prints(db):
    from crms.biometrics import enrolment
    from crms.biometrics.models import Fingerprint
    from tests.biometrics.test_enrolment import make_person

    import_all_models()
    assert "error_kind" in _columns(db)
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if "fingerprints" in repr(d)] == []
    pid = make_person(db)
    command.downgrade(alembic_config(db.url), "0015_print_error_kind-1")
    assert "error_kind" not in _columns(db)
    with db.engine.begin() as conn:  # a print that failed before the migration, as that schema had it
        conn.exec_driver_sql(
            "INSERT INTO fingerprints (person_id, position, source, image_ref, image_format, image_ppi, "
            "image_width, image_height, image_sha256, status, error, active, captured_at, created_at, "
            f"updated_at) VALUES ({pid}, 1, 'livescan', 'fingerprint/x', 'png', 500, 300, 360, '{'0' * 64}', "
            "'failed', 'only 3 usable minutiae found', TRUE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, "
            "CURRENT_TIMESTAMP)"
        )
    command.upgrade(alembic_config(db.url), "head")
    with db.transaction() as s:
        old = enrolment.fingerprint_dict(s.scalars(select(Fingerprint)).one())
    assert (old["status"], old["error_kind"]) == ("failed", None) and old["error"].startswith("only 3")
