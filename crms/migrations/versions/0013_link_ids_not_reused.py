"""case_parties on SQLite: AUTOINCREMENT, so that a removed link's id is never given to a new one (SQLite gave
the next link the id of the last one removed, and the audit trail's "link 49" could then be either)

PostgreSQL's sequences never give an id twice: nothing to do there. SQLite can only declare AUTOINCREMENT by
rebuilding the table, and a table that other rows refer to cannot be dropped while foreign keys are checked
(they are, on every connection, and cannot be turned off inside the migration's transaction). So the rows
that refer to links (status history, arrests, convictions, and the link a flag was raised by) are set aside
in temporary tables, the table is rebuilt, and they are put back as they were, all in the one transaction.

Revision ID: 0013_link_ids
Revises: 0012_description_versions
Create Date: 2026-12-07 01:00:00
"""

from alembic import op

revision = "0013_link_ids"
down_revision = "0012_description_versions"
branch_labels = None
depends_on = None

# The tables whose rows name a link (a required party_id), set aside while case_parties is rebuilt.
CHILDREN = ("case_party_status_history", "arrests", "convictions")


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in CHILDREN:
        op.execute(f"CREATE TEMP TABLE crms_kept_{table} AS SELECT * FROM {table}")
        op.execute(f"DELETE FROM {table}")
    op.execute(
        "CREATE TEMP TABLE crms_kept_flag_links AS SELECT id, party_id FROM person_flags "
        "WHERE party_id IS NOT NULL"
    )
    op.execute("UPDATE person_flags SET party_id = NULL WHERE party_id IS NOT NULL")
    with op.batch_alter_table(
        "case_parties", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
    ):
        pass
    for table in CHILDREN:
        op.execute(f"INSERT INTO {table} SELECT * FROM temp.crms_kept_{table}")
        op.execute(f"DROP TABLE temp.crms_kept_{table}")
    op.execute(
        "UPDATE person_flags SET party_id = (SELECT k.party_id FROM temp.crms_kept_flag_links k "
        "WHERE k.id = person_flags.id) WHERE id IN (SELECT id FROM temp.crms_kept_flag_links)"
    )
    op.execute("DROP TABLE temp.crms_kept_flag_links")


def upgrade() -> None:
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)
