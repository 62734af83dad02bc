"""audit: an HMAC of each entry under the audit key kept outside the database (entry_mac)

Entries written before this revision have no MAC: the first entry written after it links to them and carries
a MAC, which covers them through the chain (``crms audit verify`` says so); ``crms audit seal`` (an auditor)
adds MACs to a chain that has no keyed entry yet, after a clean check against the audit-head file.

Revision ID: 0005_audit
Revises: 0006_records_flags
Create Date: 2026-12-02 13:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_audit"
down_revision = "0006_records_flags"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("entry_mac", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("entry_mac")
