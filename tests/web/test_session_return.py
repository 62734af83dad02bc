"""A session that ended sends the officer to sign in again and then back to the page they were on (its
query kept); a form sent after it ended is not saved, and the sign-in page says so. The page to return to is
always one of this site's."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.records._support import signed_in

CSRF = r'name="csrf_token" value="([^"]+)"'


def _login_query(r) -> dict:
    assert r.status_code == 303, r.text[:200]
    target = urlsplit(r.headers["location"])
    assert target.path == "/login"
    return {k: v[0] for k, v in parse_qs(target.query).items()}


@pytest.fixture
def ended(app):
    """A browser whose session cookie names no session any more (it timed out)."""
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        c.cookies.set("crms_session", "x" * 43)
        yield c


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_page_asked_for_after_the_session_ended_is_where_sign_in_returns(app, db, ended):
    q = _login_query(ended.get("/cases?year=2024&status=under_investigation"))
    assert q == {"expired": "1", "next": "/cases?year=2024&status=under_investigation"}
    page = ended.get("/login", params=q).text
    assert "Your session ended" in page and "taken back to the page" in page and "not saved" not in page
    assert 'name="next" value="/cases?year=2024&amp;status=under_investigation"' in page


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_form_sent_after_the_session_ended_returns_to_its_page_and_says_it_was_not_saved(app, db, ended):
    r = ended.post(
        "/cases/7/status",
        data={"csrf_token": "t", "status": "challan"},
        headers={"referer": "https://testserver/cases/7?tab=status"},
    )
    q = _login_query(r)
    assert q == {"expired": "1", "next": "/cases/7?tab=status", "unsent": "1"}
    assert "What you last sent was not saved" in ended.get("/login", params=q).text
    # a form sent from another site's page: back to the dashboard, not there
    r = ended.post("/cases/7/status", data={"csrf_token": "t"}, headers={"referer": "https://evil.example/x"})
    assert _login_query(r)["next"] == "/"


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
@pytest.mark.parametrize("target", ["//evil.example/", "/\\evil.example/", "https://evil.example/", "/\x00x"])
def test_sign_in_never_returns_to_another_site(app, db, target):
    from crms.access.users import create_user

    with db.transaction() as s:
        create_user(s, "op_return", "cro_operator", unit="BA", password="correct horse battery")
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        page = c.get("/login", params={"next": target}).text
        assert 'name="next" value="/"' in page
        token = re.search(CSRF, page).group(1)
        form = {"csrf_token": token, "username": "op_return", "password": "correct horse battery"}
        r = c.post("/login", data={**form, "next": target})
        assert r.status_code == 303 and r.headers["location"] == "/"


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_signing_in_returns_to_the_page_asked_for(app, db):
    with signed_in(app, db, "cro_operator") as (c, _):  # a session that works: the page itself
        assert c.get("/cases?year=2024").status_code == 200
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        q = _login_query(c.get("/cases?year=2024"))  # no session at all
        assert q == {"next": "/cases?year=2024"}
