"""persons.version and cases.version: an edit made on a copy read at an older version is refused

Revision ID: 0010_versions
Revises: 0007_web2
Create Date: 2026-12-06 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_versions"
down_revision = "0007_web2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("persons", "cases"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False))


def downgrade() -> None:
    for table in ("cases", "persons"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("version")
