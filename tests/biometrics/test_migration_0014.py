"""Migration 0014 (fingerprints.image_ppi_source, image_ppi_reason) matches the models, keeps a print captured
before it (its resolution's source unknown: NULL) and downgrades cleanly, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from crms.db import Base, alembic_config, import_all_models

COLUMNS = {"image_ppi_source", "image_ppi_reason"}


def _columns(db) -> set[str]:
    with db.engine.connect() as conn:
        return {c["name"] for c in inspect(conn).get_columns("fingerprints")}


def test_0014_matches_models_and_downgrades_keeping_the_prints(db, tmp_path):
    from crms.access.audit import bind_data_dir
    from crms.access.crypto import EncryptedStore
    from crms.biometrics import enrolment
    from crms.biometrics.models import Fingerprint
    from tests.biometrics.test_enrolment import finger, make_person, make_principal

    import_all_models()
    assert COLUMNS <= _columns(db)
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if "fingerprints" in repr(d)] == []
    bind_data_dir(db, tmp_path / "data")
    store = EncryptedStore(tmp_path / "data", key=b"k" * 32)
    pid, op = make_person(db), make_principal(db)
    command.downgrade(alembic_config(db.url), "0014_print_resolution_source-1")
    assert not COLUMNS & _columns(db)
    with db.engine.begin() as conn:  # a print captured before the migration, as that schema had it
        conn.exec_driver_sql(
            "INSERT INTO fingerprints (person_id, position, source, image_ref, image_format, image_ppi, "
            "image_width, image_height, image_sha256, status, active, captured_at, created_at, updated_at) "
            f"VALUES ({pid}, 1, 'livescan', 'fingerprint/x', 'png', 500, 300, 360, '{'0' * 64}', 'pending', "
            "TRUE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
    command.upgrade(alembic_config(db.url), "head")
    with db.transaction() as s:
        old = s.scalars(select(Fingerprint)).one()
        assert (old.image_ppi, old.image_ppi_source, old.image_ppi_reason) == (500, None, None)
        shown = enrolment.fingerprint_dict(old)["image"]
        assert (shown["ppi"], shown["ppi_source"]) == (500, None)
        new = enrolment.capture(s, op, store, pid, 2, finger(0, 2))
        assert new.image_ppi_source in {"file", "estimated"}
