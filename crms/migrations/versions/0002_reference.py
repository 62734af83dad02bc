"""reference data: divisions, districts, police stations, statutes, statute sections

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "divisions",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("name_ur", sa.String(length=100), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_divisions")),
    )
    op.create_table(
        "districts",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("name_ur", sa.String(length=100), nullable=False),
        sa.Column("division_code", sa.String(length=16), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("successor_code", sa.String(length=32), nullable=True),
        sa.Column("aliases", sa.String(length=300), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["division_code"], ["divisions.code"], name=op.f("fk_districts_division_code_divisions")
        ),
        sa.ForeignKeyConstraint(
            ["successor_code"], ["districts.code"], name=op.f("fk_districts_successor_code_districts")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_districts")),
    )
    with op.batch_alter_table("districts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_districts_division_code"), ["division_code"], unique=False)

    op.create_table(
        "police_stations",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=150), nullable=False),
        sa.Column("name_ur", sa.String(length=150), nullable=False),
        sa.Column("district_code", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("merged_into_code", sa.String(length=64), nullable=True),
        sa.Column("unit_path", sa.String(length=200), nullable=False),
        sa.Column("aliases", sa.String(length=300), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["district_code"], ["districts.code"], name=op.f("fk_police_stations_district_code_districts")
        ),
        sa.ForeignKeyConstraint(
            ["merged_into_code"],
            ["police_stations.code"],
            name=op.f("fk_police_stations_merged_into_code_police_stations"),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_police_stations")),
    )
    with op.batch_alter_table("police_stations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_police_stations_district_code"), ["district_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_police_stations_unit_path"), ["unit_path"], unique=False)

    op.create_table(
        "statutes",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_statutes")),
    )
    op.create_table(
        "statute_sections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("statute_code", sa.String(length=16), nullable=False),
        sa.Column("section", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["statute_code"], ["statutes.code"], name=op.f("fk_statute_sections_statute_code_statutes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statute_sections")),
        sa.UniqueConstraint("statute_code", "section", name=op.f("uq_statute_sections_statute_code")),
    )
    with op.batch_alter_table("statute_sections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_statute_sections_statute_code"), ["statute_code"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("statute_sections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_statute_sections_statute_code"))
    op.drop_table("statute_sections")
    op.drop_table("statutes")
    with op.batch_alter_table("police_stations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_police_stations_unit_path"))
        batch_op.drop_index(batch_op.f("ix_police_stations_district_code"))
    op.drop_table("police_stations")
    with op.batch_alter_table("districts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_districts_division_code"))
    op.drop_table("districts")
    op.drop_table("divisions")
