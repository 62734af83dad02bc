"""Through the HTTP API: tokens (forged, expired, revoked, scoped), browser sessions (cookie flags, idle and
absolute timeouts, CSRF), the login form, user administration and the auditors' queries. Each refusal has the
right status and leaves an audit entry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from crms.access.models import ApiToken, WebSession
from crms.timeutil import utcnow

from .conftest import PASSWORD, entries, last_entry, totp_now


def _refused_entry(db, path_part):
    e = last_entry(db)
    assert e.outcome == "refused", (e.action, e.outcome, e.detail)
    assert path_part in (e.query or ""), e.query
    return e


# ------------------------------------------------------------------------------------------------ tokens


def test_token_issue_use_and_revoke(db, sclient, make_account):
    user = make_account("cro_operator")
    r = sclient.post(
        "/api/v1/auth/tokens", json={"username": user.username, "password": PASSWORD, "name": "bot"}
    )
    assert r.status_code == 201, r.text
    token, token_id = r.json()["token"], r.json()["id"]
    with db.transaction() as s:
        row = s.get(ApiToken, token_id)
        assert row.token_hash != token and len(row.token_hash) == 64  # stored hashed
    h = {"Authorization": f"Bearer {token}"}
    assert sclient.get("/api/v1/auth/me", headers=h).json()["username"] == user.username
    assert sclient.delete(f"/api/v1/auth/tokens/{token_id}", headers=h).status_code == 200
    r = sclient.get("/api/v1/auth/me", headers=h)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    e = _refused_entry(db, "/api/v1/auth/me")
    assert e.action == "auth.refused"


def test_forged_token_refused_and_audited(sclient, db):
    for forged in ("crms_" + "A" * 43, "not-even-a-token", "crms_' OR '1'='1"):
        r = sclient.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"})
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.headers["www-authenticate"] == "Bearer"
        _refused_entry(db, "/api/v1/auth/me")


def test_expired_token_refused_and_audited(db, sclient, make_user):
    user, headers = make_user("sho")
    with db.transaction() as s:
        s.execute(
            update(ApiToken)
            .where(ApiToken.user_id == user.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    r = sclient.get("/api/v1/auth/me", headers=headers)
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    _refused_entry(db, "/api/v1/auth/me")


def test_token_of_disabled_user_refused(db, sclient, make_user):
    admin, admin_h = make_user("administrator")
    user, headers = make_user("sho")
    assert (
        sclient.patch(f"/api/v1/users/{user.id}", json={"is_active": False}, headers=admin_h).status_code
        == 200
    )
    assert sclient.get("/api/v1/auth/me", headers=headers).status_code == 401


def test_scoped_token_limits_and_cannot_widen_role(db, sclient, make_account):
    auditor = make_account("auditor")
    body = {"username": auditor.username, "password": PASSWORD, "scopes": ["audit:verify"]}
    token = sclient.post("/api/v1/auth/tokens", json=body).json()["token"]
    h = {"Authorization": f"Bearer {token}"}
    assert sclient.get("/api/v1/audit/verify", headers=h).status_code == 200
    assert sclient.get("/api/v1/audit", headers=h).status_code == 403  # audit:read not in scope
    _refused_entry(db, "/api/v1/audit")
    body["scopes"] = ["user:admin"]
    r = sclient.post("/api/v1/auth/tokens", json=body)
    assert r.status_code == 422 and r.json()["field"] == "scopes"


def test_token_needs_totp_for_administrator(sclient, make_account):
    admin = make_account("administrator")
    body = {"username": admin.username, "password": PASSWORD}
    assert sclient.post("/api/v1/auth/tokens", json=body).status_code == 401
    body["totp"] = totp_now(admin)
    assert sclient.post("/api/v1/auth/tokens", json=body).status_code == 201


# ------------------------------------------------------------------------------------------------ sessions


def _login_form(sclient, username, password=PASSWORD, totp="", with_csrf=True):
    page = sclient.get("/login")
    assert page.status_code == 200
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    data = {"username": username, "password": password, "totp": totp}
    if with_csrf:
        data["csrf_token"] = token
    return sclient.post("/login", data=data, follow_redirects=False)


def test_login_form_sets_strict_cookie(db, sclient, make_account):
    user = make_account("cro_operator")
    r = _login_form(sclient, user.username)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = [c for c in r.headers.get_list("set-cookie") if c.startswith("crms_session=")][0].lower()
    for flag in ("secure", "httponly", "samesite=strict", "path=/"):
        assert flag in cookie, cookie
    home = sclient.get("/")
    assert home.status_code == 200 and user.username in home.text
    assert sclient.get("/api/v1/auth/me").json()["channel"] == "web"
    assert entries(db, action="auth.login", outcome="ok")[-1].channel == "web"


def test_login_form_without_csrf_token_refused_and_audited(db, sclient, make_account):
    user = make_account("cro_operator")
    r = _login_form(sclient, user.username, with_csrf=False)
    assert r.status_code == 403
    assert "crms_session" not in r.headers.get("set-cookie", "")
    e = last_entry(db)
    assert (e.action, e.outcome) == ("auth.login", "refused") and "CSRF" in e.detail


def test_login_form_with_forged_csrf_token_refused(db, sclient, make_account):
    user = make_account("cro_operator")
    sclient.get("/login")
    r = sclient.post(
        "/login", data={"username": user.username, "password": PASSWORD, "csrf_token": "abc.def"}
    )
    assert r.status_code == 403


def test_login_form_wrong_password(sclient, make_account):
    user = make_account("cro_operator")
    r = _login_form(sclient, user.username, password="wrong password")
    assert r.status_code == 401 and "invalid username or password" in r.text


def test_login_form_with_a_password_that_must_be_changed_goes_to_the_change_form(db, sclient, make_account):
    """A demo or reset password is right but works once: the login form sends its user straight to the
    change form (their name filled in, told why), not to an error that names a CLI command; no session."""
    user = make_account("cro_operator", must_change_password=True)
    r = _login_form(sclient, user.username)
    assert r.status_code == 303, r.text[:300]
    assert r.headers["location"] == f"/password?username={user.username}&required=1"
    assert "set-cookie" not in r.headers or "crms_session" not in r.headers["set-cookie"]
    assert last_entry(db).outcome == "refused" and "password change required" in last_entry(db).detail
    page = sclient.get(r.headers["location"])
    assert page.status_code == 200 and "choose a new one before you sign in" in page.text
    assert f'value="{user.username}"' in page.text and "crms passwd" not in page.text
    assert "choose a new one" not in sclient.get(f"/password?username={user.username}").text


def test_cookie_request_needs_csrf_for_changes(db, sclient, make_account):
    user = make_account("cro_operator")
    r = sclient.post("/api/v1/auth/login", json={"username": user.username, "password": PASSWORD})
    assert r.status_code == 200
    csrf = r.json()["csrf_token"]
    # A state-changing request with the cookie but without the CSRF token: refused and audited.
    r = sclient.post("/api/v1/auth/logout")
    assert r.status_code == 403 and r.json()["field"] == "csrf_token"
    e = last_entry(db)
    assert (e.action, e.outcome, e.username) == ("access.refused", "refused", user.username)
    r = sclient.post("/api/v1/auth/logout", headers={"X-CSRF-Token": "0" * 64})
    assert r.status_code == 403
    # With it: logged out, the session is dead.
    assert sclient.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert sclient.get("/api/v1/auth/me").status_code == 401


def test_logout_form_needs_csrf(db, sclient, make_account):
    user = make_account("cro_operator")
    _login_form(sclient, user.username)
    assert sclient.post("/logout", data={}, follow_redirects=False).status_code == 403
    assert last_entry(db).action == "access.refused"
    import re

    csrf = re.search(r'name="csrf_token" value="([^"]+)"', sclient.get("/").text).group(1)
    r = sclient.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert last_entry(db).action == "auth.logout"
    assert sclient.get("/api/v1/auth/me").status_code == 401


def test_session_idle_timeout(db, sclient, make_account):
    user = make_account("cro_operator")
    _login_form(sclient, user.username)
    with db.transaction() as s:
        s.execute(update(WebSession).values(last_seen_at=utcnow() - timedelta(minutes=31)))
    r = sclient.get("/api/v1/auth/me")
    assert r.status_code == 401 and "idle" in r.json()["detail"]


def test_session_absolute_lifetime(db, sclient, make_account):
    user = make_account("cro_operator")
    _login_form(sclient, user.username)
    with db.transaction() as s:
        s.execute(update(WebSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    r = sclient.get("/api/v1/auth/me")
    assert r.status_code == 401 and "lifetime" in r.json()["detail"]


def test_session_survives_activity_within_idle_window(db, sclient, make_account):
    user = make_account("cro_operator")
    _login_form(sclient, user.username)
    with db.transaction() as s:
        s.execute(update(WebSession).values(last_seen_at=utcnow() - timedelta(minutes=29)))
    assert sclient.get("/api/v1/auth/me").status_code == 200
    with db.transaction() as s:
        seen = s.query(WebSession).one().last_seen_at
    from crms.timeutil import as_utc

    assert utcnow() - as_utc(seen) < timedelta(minutes=1)  # activity refreshed the idle clock


# ------------------------------------------------------------------------------------------------ admin


def test_operator_on_admin_endpoints_refused_and_audited(db, sclient, make_user):
    _, op = make_user("cro_operator")
    calls = [
        ("get", "/api/v1/users", None),
        ("post", "/api/v1/users", {"username": "evil", "role": "administrator", "password": PASSWORD}),
        ("patch", "/api/v1/users/1", {"role": "administrator"}),
        ("post", "/api/v1/users/1/reset-mfa", None),
        ("get", "/api/v1/audit", None),
    ]
    for method, path, body in calls:
        r = sclient.request(method, path, headers=op, json=body)
        assert r.status_code == 403, (path, r.status_code, r.text)
        _refused_entry(db, path)
    from crms.access.models import User

    with db.transaction() as s:
        assert s.query(User).filter(User.username == "evil").count() == 0


def test_admin_manages_users_within_own_unit(db, sclient, make_user):
    _, admin = make_user("administrator", unit="BA/QTA")
    r = sclient.post(
        "/api/v1/users",
        headers=admin,
        json={"username": "op1", "role": "cro_operator", "unit": "BA/QTA/QUETTA"},
    )
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    assert r.json()["enrolment_code"] and r.json()["enrolment_pending"]
    # A user for another division: outside the administrator's jurisdiction.
    r = sclient.post(
        "/api/v1/users",
        headers=admin,
        json={"username": "op2", "role": "cro_operator", "unit": "BA/KLT"},
    )
    assert r.status_code == 403
    r = sclient.patch(f"/api/v1/users/{uid}", headers=admin, json={"unit": "BA/KLT/KHUZDAR"})
    assert r.status_code == 403
    r = sclient.patch(f"/api/v1/users/{uid}", headers=admin, json={"role": "sho"})
    assert r.status_code == 200 and r.json()["role"] == "sho"
    r = sclient.post(f"/api/v1/users/{uid}/reset-mfa", headers=admin)
    assert r.status_code == 200 and r.json()["enrolment_code"] and "totp_uri" not in r.json()
    actions = [e.action for e in entries(db, target_type="user", target_id=str(uid))]
    assert actions == ["user.create", "user.role", "user.reset"]


def test_role_change_revokes_tokens(db, sclient, make_user):
    _, admin = make_user("administrator")
    user, headers = make_user("cro_operator")
    assert sclient.patch(f"/api/v1/users/{user.id}", headers=admin, json={"role": "sho"}).status_code == 200
    assert sclient.get("/api/v1/auth/me", headers=headers).status_code == 401


# ------------------------------------------------------------------------------------------------ audit API


def test_auditor_queries_by_user_record_and_time(db, sclient, make_user):
    from crms.access import audit
    from crms.access.principal import Principal

    _, auditor = make_user("auditor")
    a = Principal(user_id=101, username="op_a", role="cro_operator")
    b = Principal(user_id=102, username="op_b", role="cro_operator")
    with db.transaction() as s:
        audit.record(s, a, "person.read", target_type="person", target_id=5)
        audit.record(s, b, "person.read", target_type="person", target_id=6)
        audit.record(s, a, "search.cnic", query={"cnic": "3520212345671"}, reason="FIR 7/2026")
        audit.record(s, b, "access.refused", outcome="refused", detail="role may not audit:read")
    r = sclient.get("/api/v1/audit", params={"username": "op_a"}, headers=auditor)
    assert r.status_code == 200
    assert [i["action"] for i in r.json()["items"]] == ["search.cnic", "person.read"]
    r = sclient.get("/api/v1/audit", params={"target_type": "person", "target_id": "6"}, headers=auditor)
    assert [i["username"] for i in r.json()["items"]] == ["op_b"]
    future = (utcnow() + timedelta(hours=1)).isoformat()
    r = sclient.get("/api/v1/audit", params={"since": future}, headers=auditor)
    assert r.json()["total"] == 0
    r = sclient.get("/api/v1/audit", params={"action": "search"}, headers=auditor)
    assert r.json()["items"][0]["reason"] == "FIR 7/2026"
    r = sclient.get("/api/v1/audit", params={"outcome": "refused", "username": "op_b"}, headers=auditor)
    assert [i["action"] for i in r.json()["items"]] == ["access.refused"]
    r = sclient.get("/api/v1/audit", params={"outcome": "maybe"}, headers=auditor)
    assert r.status_code == 422 and "outcome" in r.text
    # The auditors' own queries are in the trail too (the refused one is not a query made).
    assert len(entries(db, action="audit.query")) == 5
    r = sclient.get("/api/v1/audit/verify", headers=auditor)
    assert r.status_code == 200 and r.json()["ok"] is True, r.json()


def test_audit_api_reports_tampering(db, sclient, make_user):
    from sqlalchemy import text

    _, auditor = make_user("auditor")
    sclient.get("/api/v1/audit", headers=auditor)
    sclient.get("/api/v1/audit", headers=auditor)
    with db.engine.begin() as conn:
        conn.execute(text("update audit_log set username = 'someone_else' where seq = 1"))
    body = sclient.get("/api/v1/audit/verify", headers=auditor).json()
    assert body["ok"] is False and "entry #1" in body["problems"][0]


def test_malformed_rate_limit_setting_stops_the_start_naming_it(monkeypatch, sqlite_db):
    """A mistyped CRMS_RATE_* must stop the server at start-up, not fail every search with a 500."""
    from crms.api.app import create_app

    monkeypatch.setenv("CRMS_RATE_SEARCH", "on")
    with pytest.raises(ValueError, match="CRMS_RATE_SEARCH"):
        create_app(database=sqlite_db)
    monkeypatch.setenv("CRMS_RATE_SEARCH", "120/60")
    assert create_app(database=sqlite_db) is not None
