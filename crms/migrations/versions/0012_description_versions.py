"""physical_descriptions.version: a correction of a physical description made on a copy read at an older
version is refused, as edits of persons, cases and links are

Revision ID: 0012_description_versions
Revises: 0011_link_versions
Create Date: 2026-12-06 19:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_description_versions"
down_revision = "0011_link_versions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("physical_descriptions", recreate="never") as batch:  # ALTER: marks refer to it
        batch.add_column(sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("physical_descriptions", recreate="never") as batch:  # ALTER: marks refer to it
        batch.drop_column("version")
