"""Helpers and fixtures for the records tests (conftest.py offers the fixtures to every test here)."""

from __future__ import annotations

import html
import re
import uuid
from contextlib import contextmanager

import pytest
from sqlalchemy import select

from crms.access.audit import bind_data_dir


@pytest.fixture
def rdb(db, tmp_path):
    """The ``db`` fixture (SQLite and PostgreSQL) with the audit head file under tmp_path."""
    bind_data_dir(db, tmp_path / "data")
    return db


@pytest.fixture
def principal(rdb):
    """principal(role='cro_operator', unit='BA') -> Principal of a fresh real user."""
    from crms.access.users import create_user, principal_for

    def _make(role: str = "cro_operator", unit: str = "BA"):
        with rdb.transaction() as session:
            user = create_user(session, f"{role[:10]}_{uuid.uuid4().hex[:6]}", role, unit=unit)
        return principal_for(user, channel="api")

    return _make


def audit_entries(db, **where):
    from crms.access.models import AuditEntry

    with db.transaction() as session:
        stmt = select(AuditEntry).order_by(AuditEntry.seq)
        for key, value in where.items():
            stmt = stmt.where(getattr(AuditEntry, key) == value)
        return list(session.scalars(stmt))


def person_data(**kw) -> dict:
    data = {
        "given_name_en": "Abdul Rauf",
        "family_name_en": "Kakar",
        "given_name_ur": "عبدالرؤف",
        "family_name_ur": "کاکڑ",
        "parentage_relation": "s/o",
        "parentage_name_en": "Haji Gul Muhammad",
        "parentage_name_ur": "حاجی گل محمد",
        "caste": "Kakar",
        "birth_year": 1988,
        "gender": "M",
    }
    data.update(kw)
    return data


def case_data(**kw) -> dict:
    data = {
        "police_station": "QUETTA-CANTT",
        "fir_number": 112,
        "year": 2024,
        "registered_on": "2024-03-14",
        "occurred_on": "2024-03-13",
        "place": "Zarghoon Road",
        "sections": "392/411/34 PPC",
    }
    data.update(kw)
    return data


@contextmanager
def signed_in(app, db, role: str, unit: str = "BA"):
    """(TestClient with a browser session of a fresh user of ROLE, that user's API headers)."""
    from fastapi.testclient import TestClient

    from crms.access.models import User
    from crms.access.sessions import COOKIE, create_session
    from crms.access.tokens import issue_token
    from crms.access.users import create_user, principal_for

    with db.transaction() as s:
        user = create_user(s, f"{role[:10]}_{uuid.uuid4().hex[:6]}", role, unit=unit)
        api = {"Authorization": f"Bearer {issue_token(s, user)}"}
        cookie = create_session(s, principal_for(s.get(User, user.id), channel="web"))
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        c.cookies.set(COOKIE, cookie)
        yield c, api


def without_tokens(html: str) -> str:
    """The page without its CSRF tokens' values: random hex that may hold any run of digits, so a test
    that a secret (a PIN, a code) is not shown looks at the rest of the page."""
    return re.sub(r'(name="csrf_token" value=")[^"]*"', r'\1"', html)


def error_at(page: str, field: str) -> str:
    """The error a page shows at a form's ``field`` (its box), as its words."""
    m = re.search(rf'<p class="error" id="e-{field}" role="alert">(.*?)</p>', page, re.S)
    assert m, f"no error shown at {field}"
    return html.unescape(m.group(1))
