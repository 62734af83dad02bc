"""fingerprints.error_kind: the kind of a failed enrolment and the values it names, as JSON
({"type": "minutiae_too_few", "values": {"count": 3, "needed": 12}}), so that the pages say why a print
failed in the officer's language instead of the stored English words

Rows that failed before are left NULL: their reason stays in words (``error``).

Revision ID: 0015_print_error_kind
Revises: 0014_print_resolution_source
Create Date: 2026-12-07 21:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_print_error_kind"
down_revision = "0014_print_resolution_source"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fingerprints", recreate="never") as batch:  # ALTER: other rows refer to it
        batch.add_column(sa.Column("error_kind", sa.String(300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fingerprints", recreate="never") as batch:
        batch.drop_column("error_kind")
