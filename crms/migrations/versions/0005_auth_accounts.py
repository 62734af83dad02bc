"""access: account lifecycle (enrolment codes, forced password change, second-administrator approval) and
TOTP secrets encrypted at rest with the data key

Revision ID: 0005_auth
Revises: 0004
Create Date: 2026-12-02 13:20:00

Existing TOTP secrets are encrypted here with the data key of the configured data dir (CRMS_DATA_KEY or
<CRMS_DATA_DIR>/keys/data.key): run ``crms db upgrade`` with the same settings as the server.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_auth"
down_revision = "0004"
branch_labels = None
depends_on = None


def _key() -> bytes:
    from crms.access.crypto import load_data_key
    from crms.config import get_settings

    return load_data_key(get_settings().data_dir)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.alter_column("totp_secret", existing_type=sa.String(64), type_=sa.String(255))
        batch.add_column(
            sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("enrolment_code_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("enrolment_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("set_up_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("set_up_address", sa.String(64), nullable=True))
        batch.add_column(
            sa.Column("approval_pending", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("approved_by", sa.Integer(), nullable=True))
    from crms.access.sealed import is_sealed, seal

    conn = op.get_bind()
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("totp_secret", sa.String))
    rows = [r for r in conn.execute(sa.select(users.c.id, users.c.totp_secret)) if r.totp_secret]
    plain = [r for r in rows if not is_sealed(r.totp_secret)]
    if plain:
        key = _key()
        for r in plain:
            conn.execute(
                users.update()
                .where(users.c.id == r.id)
                .values(totp_secret=seal(key, r.totp_secret, f"totp:{r.id}"))
            )


def downgrade() -> None:
    from crms.access.sealed import is_sealed, unseal

    conn = op.get_bind()
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("totp_secret", sa.String))
    rows = [r for r in conn.execute(sa.select(users.c.id, users.c.totp_secret)) if is_sealed(r.totp_secret)]
    if rows:
        key = _key()
        for r in rows:
            conn.execute(
                users.update()
                .where(users.c.id == r.id)
                .values(totp_secret=unseal(key, r.totp_secret, f"totp:{r.id}"))
            )
    with op.batch_alter_table("users") as batch:
        for name in ("approved_by", "approval_pending", "set_up_address", "set_up_by", "enrolment_expires_at",
                     "enrolment_code_hash", "password_changed_at", "must_change_password"):  # fmt: skip
            batch.drop_column(name)
        batch.alter_column("totp_secret", existing_type=sa.String(255), type_=sa.String(64))
