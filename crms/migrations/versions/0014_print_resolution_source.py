"""fingerprints.image_ppi_source and image_ppi_reason: where a captured print's resolution came from (the
officer, the file's tag, the estimate from the ridge period, or the 500 ppi default) and why, in words

Rows captured before are left NULL: their resolution was the officer's or the file's, which is not known now.

Revision ID: 0014_print_resolution_source
Revises: 0013_link_ids
Create Date: 2026-12-07 19:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_print_resolution_source"
down_revision = "0013_link_ids"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fingerprints", recreate="never") as batch:  # ALTER: other rows refer to it
        batch.add_column(sa.Column("image_ppi_source", sa.String(10), nullable=True))
        batch.add_column(sa.Column("image_ppi_reason", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fingerprints", recreate="never") as batch:
        batch.drop_column("image_ppi_reason")
        batch.drop_column("image_ppi_source")
