"""Helpers for the access tests: an HTTPS test client (Secure cookies are only sent over HTTPS), users with
passwords, and reading the audit trail."""

from __future__ import annotations

import uuid

import pyotp
import pytest
from sqlalchemy import select

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _own_data_dir(tmp_path, monkeypatch):
    """As the project-wide fixture of the same name (its own data directory, none of the user's settings),
    but the directory is the ``app`` fixture's (``tmp_path/data``): accounts made here (their TOTP secrets
    sealed with that directory's data key) then log in through the app as well."""
    for name in ("CRMS_DATA_DIR", "CRMS_DATABASE_URL", "CRMS_DATA_KEY", "CRMS_AUDIT_KEY", "CRMS_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CRMS_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture
def sclient(app):
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="https://testserver") as c:
        yield c


@pytest.fixture
def data_dir(app):
    return app.state.settings.data_dir


@pytest.fixture
def make_account(db):
    """make_account(role, unit='BA', **kw) -> User with PASSWORD (and a TOTP secret where the role
    needs one)."""
    from crms.access.users import create_user

    def _make(role: str, unit: str = "BA", username: str | None = None, **kw):
        with db.transaction() as session:
            return create_user(
                session,
                username or f"{role[:10]}_{uuid.uuid4().hex[:6]}",
                role,
                unit=unit,
                password=kw.pop("password", PASSWORD),
                **kw,
            )

    return _make


def totp_now(user, offset_steps: int = 0) -> str:
    import time

    return pyotp.TOTP(user.new_totp_secret).at(time.time() + 30 * offset_steps)


def entries(db, **where):
    """Audit entries matching column=value filters, oldest first."""
    from crms.access.models import AuditEntry

    with db.transaction() as session:
        stmt = select(AuditEntry).order_by(AuditEntry.seq)
        for k, v in where.items():
            stmt = stmt.where(getattr(AuditEntry, k) == v)
        return list(session.scalars(stmt))


def last_entry(db):
    from crms.access.models import AuditEntry

    with db.transaction() as session:
        return session.scalar(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1))
