"""case_parties.version: a person-in-case edit (modus operandi, gang) made on a copy read at an older version
is refused, as persons' and cases' are

Revision ID: 0011_link_versions
Revises: 0010_versions
Create Date: 2026-12-06 16:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_link_versions"
down_revision = "0010_versions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("case_parties", recreate="never") as batch:  # ALTER: rows refer to it
        batch.add_column(sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("case_parties", recreate="never") as batch:  # ALTER: rows refer to it
        batch.drop_column("version")
