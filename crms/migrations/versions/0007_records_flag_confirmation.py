"""records: a flag raised outside the person's home district waits for that district's confirmation

Revision ID: 0006_records_flags
Revises: 0005
Create Date: 2026-12-02 13:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_records_flags"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("person_flags") as batch:
        batch.add_column(sa.Column("pending_unit", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("confirmed_by", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_person_flags_pending_unit"), ["pending_unit"], unique=False)
        batch.create_foreign_key(
            batch.f("fk_person_flags_confirmed_by_users"), "users", ["confirmed_by"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("person_flags") as batch:
        batch.drop_constraint(batch.f("fk_person_flags_confirmed_by_users"), type_="foreignkey")
        batch.drop_index(batch.f("ix_person_flags_pending_unit"))
        batch.drop_column("confirmed_by")
        batch.drop_column("confirmed_at")
        batch.drop_column("pending_unit")
