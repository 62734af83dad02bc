"""identification: probable-duplicate cases for examiners; fingerprints indexed by last change (gallery sync)

Revision ID: 0005
Revises: 0005_auth
Create Date: 2026-12-02 13:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0005_auth"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "duplicate_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("fingers", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("merged_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.CheckConstraint("person_id <> candidate_id", name=op.f("ck_duplicate_cases_distinct_persons")),
        sa.ForeignKeyConstraint(
            ["candidate_id"], ["persons.id"], name=op.f("fk_duplicate_cases_candidate_id_persons")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_duplicate_cases_person_id_persons")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["users.id"], name=op.f("fk_duplicate_cases_decided_by_users")
        ),
        sa.ForeignKeyConstraint(["merged_by"], ["users.id"], name=op.f("fk_duplicate_cases_merged_by_users")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_duplicate_cases_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["users.id"], name=op.f("fk_duplicate_cases_updated_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duplicate_cases")),
    )
    with op.batch_alter_table("duplicate_cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_duplicate_cases_candidate_id"), ["candidate_id"], unique=False)
        batch_op.create_index("ix_duplicate_cases_status_id", ["status", "id"], unique=False)
        batch_op.create_index("uq_duplicate_cases_pair", ["person_id", "candidate_id"], unique=True)
    with op.batch_alter_table("fingerprints", schema=None) as batch_op:
        batch_op.create_index("ix_fingerprints_updated_at", ["updated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("fingerprints", schema=None) as batch_op:
        batch_op.drop_index("ix_fingerprints_updated_at")
    with op.batch_alter_table("duplicate_cases", schema=None) as batch_op:
        batch_op.drop_index("uq_duplicate_cases_pair")
        batch_op.drop_index("ix_duplicate_cases_status_id")
        batch_op.drop_index(batch_op.f("ix_duplicate_cases_candidate_id"))
    op.drop_table("duplicate_cases")
