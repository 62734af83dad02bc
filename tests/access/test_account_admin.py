"""Administering accounts, on SQLite and PostgreSQL: SMS officers made and given a new phone or PIN (the
service, the API, the CLI and the users page), the new password typed twice on the pages that set one,
``crms user enable``, and disabling a privileged account: done at once, but raising an alert for the
auditors, and never the province's last active administrator."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from crms.access import users
from crms.access.models import User
from crms.errors import AuthenticationError, Conflict, PermissionDenied, ValidationError
from tests.records._support import signed_in, without_tokens

from .conftest import PASSWORD, entries, last_entry

CSRF = r'name="csrf_token" value="([^"]+)"'
NEW = "quiet river lantern 42"
runner = CliRunner()


def _admin(db, unit: str = "BA", name: str | None = None):
    with db.transaction() as s:
        user = users.create_user(s, name or f"admin_{unit.replace('/', '_').lower()}", "administrator",
                                 unit=unit, password=PASSWORD)  # fmt: skip
    return user, users.principal_for(user, channel="api", address="10.0.0.1")


def _sms_officer(db, name: str = "sms1", unit: str = "BA/QTA", phone: str = "03001234567", pin: str = "4321"):
    with db.transaction() as s:
        return users.create_user(s, name, "sms_officer", unit=unit, phone=phone, pin=pin)


def _row(db, user_id: int) -> User:
    with db.transaction() as s:
        return s.get(User, user_id)


# ------------------------------------------------------------------ SMS officers: a new phone or PIN


def test_an_administrator_sets_an_sms_officers_new_pin_and_phone(db):
    _, admin = _admin(db)
    officer = _sms_officer(db)
    with db.transaction() as s:
        users.reset_sms_login(s, admin, officer.id, pin="98765")
    with pytest.raises(AuthenticationError):  # the old PIN no longer works
        users.login_sms(db, "03001234567", "4321")
    assert users.login_sms(db, "03001234567", "98765").user_id == officer.id
    with db.transaction() as s:
        users.reset_sms_login(s, admin, "sms1", phone="+92 333 7654321")
    with pytest.raises(AuthenticationError):  # the old phone no longer works
        users.login_sms(db, "03001234567", "98765")
    assert users.login_sms(db, "03337654321", "98765").user_id == officer.id
    with db.transaction() as s:
        users.reset_sms_login(s, admin, "sms1", phone="0300 1112223", pin="2468")
    assert users.login_sms(db, "03001112223", "2468").user_id == officer.id
    done = entries(db, action="user.sms_reset")
    assert [json.loads(e.query) for e in done] == [
        {"phone": None, "pin": True},
        {"phone": "+923337654321", "pin": False},
        {"phone": "+923001112223", "pin": True},
    ]
    assert all(e.target_id == str(officer.id) and e.user_id == admin.user_id for e in done)
    assert not any(pin in (e.query or "") + (e.detail or "") for e in done for pin in ("98765", "2468"))


def test_a_new_phone_or_pin_refused_by_name_and_nothing_changed(db):
    _, admin = _admin(db)
    officer = _sms_officer(db)
    other = _sms_officer(db, "sms2", phone="03009998887", pin="1111")
    op = users.create_user  # an operator has a password, not a PIN
    with db.transaction() as s:
        clerk = op(s, "clerk", "cro_operator", password=PASSWORD)
    cases = [
        (officer.id, {}, ValidationError, "phone"),  # neither given
        (officer.id, {"pin": "12ab"}, ValidationError, "pin"),
        (officer.id, {"pin": "123"}, ValidationError, "pin"),
        (officer.id, {"phone": "12", "pin": "2222"}, ValidationError, "phone"),
        (officer.id, {"phone": "03009998887", "pin": "2222"}, Conflict, "phone"),  # another officer's
        (clerk.id, {"pin": "2222"}, ValidationError, "user"),  # not an SMS officer
    ]
    for target, kw, error, field in cases:
        with pytest.raises(error) as err, db.transaction() as s:
            users.reset_sms_login(s, admin, target, **kw)
        assert err.value.field == field, (kw, err.value)
    assert users.login_sms(db, "03001234567", "4321").user_id == officer.id
    assert users.login_sms(db, "03009998887", "1111").user_id == other.id
    assert entries(db, action="user.sms_reset") == []


def test_a_new_pin_is_refused_outside_the_jurisdiction_and_for_other_roles_first(db):
    _, turbat = _admin(db, "BA/MKN", name="admin_mkn")
    officer = _sms_officer(db)  # of BA/QTA
    with pytest.raises(PermissionDenied, match="jurisdiction"), db.transaction() as s:
        users.reset_sms_login(s, turbat, officer.id, pin="12ab")  # 403 before the PIN's 422
    with db.transaction() as s:
        clerk = users.create_user(s, "clerk_q", "cro_operator", unit="BA/QTA", password=PASSWORD)
    who = users.principal_for(clerk, channel="api")
    with pytest.raises(PermissionDenied), db.transaction() as s:
        users.reset_sms_login(s, who, 99999, pin="12ab")  # 403 before the unknown user's 404
    assert users.login_sms(db, "03001234567", "4321").user_id == officer.id


def test_a_pin_is_for_sms_officers_only(db):
    """A PIN opens the SMS login: an account of another role is never given one (it would sign in by SMS)."""
    _, admin = _admin(db)
    with pytest.raises(ValidationError, match="SMS officer") as err, db.transaction() as s:
        users.add_user(s, admin, "clerk_pin", "cro_operator", phone="03005556667", pin="1234")
    assert err.value.field == "pin"
    with db.transaction() as s:
        assert s.scalar(select(User).where(User.username == "clerk_pin")) is None


def test_an_account_that_is_no_longer_an_sms_officer_cannot_sign_in_by_sms(db):
    _, admin = _admin(db)
    officer = _sms_officer(db)
    with db.transaction() as s:
        users.set_role(s, admin, officer.id, "cro_operator")
    with pytest.raises(AuthenticationError):
        users.login_sms(db, "03001234567", "4321")


def test_a_password_reset_of_an_sms_officer_points_to_the_pin(db):
    _, admin = _admin(db)
    officer = _sms_officer(db)
    with pytest.raises(ValidationError, match="new PIN") as err, db.transaction() as s:
        users.reset_account(s, admin, officer.id)
    assert err.value.field == "user"


def test_reset_sms_over_the_api(db, sclient, make_user):
    _, headers = make_user("administrator", unit="BA")
    officer = _sms_officer(db)
    r = sclient.post(f"/api/v1/users/{officer.id}/reset-sms", headers=headers, json={"pin": "55555"})
    assert r.status_code == 200, r.text
    assert r.json()["username"] == "sms1" and "55555" not in without_tokens(r.text) and "pin" not in r.json()
    assert users.login_sms(db, "03001234567", "55555").user_id == officer.id
    r = sclient.post(f"/api/v1/users/{officer.id}/reset-sms", headers=headers, json={"pin": "5x"})
    assert r.status_code == 422 and r.json()["field"] == "pin", r.text
    _, clerk = make_user("cro_operator", unit="BA")
    r = sclient.post(f"/api/v1/users/{officer.id}/reset-sms", headers=clerk, json={"pin": "5x"})
    assert r.status_code == 403, r.text


@pytest.fixture
def cli(db, tmp_path, monkeypatch):
    from crms.cli.main import app as cli_app

    monkeypatch.setenv("CRMS_DATABASE_URL", db.url)
    monkeypatch.setenv("CRMS_DATA_DIR", str(tmp_path / "data"))
    for var in ("CRMS_USER", "CRMS_PASSWORD", "CRMS_TOTP", "CRMS_TOKEN", "CRMS_NEW_PIN"):
        monkeypatch.delenv(var, raising=False)

    def run(*args, env=None, input=None):
        return runner.invoke(cli_app, list(args), env=env or {}, input=input)

    return run


def _token_env(db, user):
    from crms.access.tokens import issue_token

    with db.transaction() as s:
        return {"CRMS_TOKEN": issue_token(s, s.get(User, user.id))}


def test_reset_sms_and_enable_from_the_cli(db, cli, make_account):
    admin = make_account("administrator")
    env = _token_env(db, admin)
    officer = _sms_officer(db)
    r = cli("user", "reset", "sms1", env=env)  # a password reset: it says what to do instead
    assert r.exit_code == 2 and "crms user reset-sms" in r.output, r.output
    r = cli("user", "reset-sms", "sms1", env=env, input="2468\n2468\n")  # the PIN asked for, twice, hidden
    assert r.exit_code == 0, r.output
    assert "2468" not in r.output and "sms1" in r.output
    assert users.login_sms(db, "03001234567", "2468").user_id == officer.id
    r = cli("user", "reset-sms", "sms1", "--phone", "03337654321", env=env)  # the phone only
    assert r.exit_code == 0, r.output
    assert users.login_sms(db, "03337654321", "2468").user_id == officer.id
    r = cli("user", "reset-sms", "sms1", env={**env, "CRMS_NEW_PIN": "13579"})
    assert r.exit_code == 0, r.output
    assert users.login_sms(db, "03337654321", "13579").user_id == officer.id
    r = cli("user", "reset-sms", "sms1", env={**env, "CRMS_NEW_PIN": "13"})
    assert r.exit_code == 2 and "PIN" in r.output, r.output
    # Disabled, then enabled again, from the CLI.
    assert cli("user", "disable", "sms1", env=env).exit_code == 0
    with pytest.raises(AuthenticationError, match="disabled"):
        users.login_sms(db, "03337654321", "13579")
    r = cli("user", "enable", "sms1", env=env)
    assert r.exit_code == 0 and "user sms1 enabled" in r.output, r.output
    assert [e.action for e in entries(db, target_type="user", target_id=str(officer.id))][-2:] == [
        "user.disable",
        "user.enable",
    ]
    assert users.login_sms(db, "03337654321", "13579").user_id == officer.id
    r = cli("user", "enable", "ghost", env=env)
    assert r.exit_code == 1 and "no user" in r.output


def test_the_users_page_makes_an_sms_officer_and_sets_a_new_pin(app, db):
    with signed_in(app, db, "administrator") as (c, _):
        page = c.get("/users").text
        assert 'id="f-phone"' in page and 'id="f-pin"' in page and "SMS officers only" in page
        token = re.search(CSRF, page).group(1)
        form = {"csrf_token": token, "username": "sms_q", "role": "sms_officer", "unit": "BA/QTA"}
        r = c.post("/users", data={**form, "phone": "0300 1234567"})  # no PIN: said at the PIN field
        assert r.status_code == 422 and 'id="e-pin"' in r.text, r.text[:500]
        r = c.post("/users", data={**form, "phone": "0300 1234567", "pin": "4321"})
        assert r.status_code == 200 and "Account sms_q created" in r.text, r.text[:500]
        assert "4321" not in without_tokens(r.text)
        assert users.login_sms(db, "03001234567", "4321").username == "sms_q"
        r = c.post("/users", data={**form, "username": "op_q", "role": "cro_operator", "pin": "1234"})
        assert r.status_code == 422 and 'id="e-pin"' in r.text, r.text[:500]
        with db.transaction() as s:
            uid = s.scalar(select(User.id).where(User.username == "sms_q"))
        page = c.get("/users").text
        row = page[page.index("sms_q") : page.index("</tr>", page.index("sms_q"))]
        assert f'action="/users/{uid}/reset"' not in row and f'href="/users/{uid}/sms"' in row
        form_page = c.get(f"/users/{uid}/sms")
        assert form_page.status_code == 200 and "+923001234567" in form_page.text
        token = re.search(CSRF, form_page.text).group(1)
        r = c.post(f"/users/{uid}/sms", data={"csrf_token": token, "phone": "", "pin": "12"})
        assert r.status_code == 422 and 'id="e-pin"' in r.text, r.text[:500]
        assert users.login_sms(db, "03001234567", "4321").username == "sms_q"
        r = c.post(f"/users/{uid}/sms", data={"csrf_token": token, "phone": "+923001234567", "pin": "86420"})
        assert r.status_code == 200 and "sms_q" in r.text, r.text[:500]
        assert "86420" not in without_tokens(r.text)
        assert users.login_sms(db, "03001234567", "86420").username == "sms_q"
    with signed_in(app, db, "cro_operator") as (c, _):
        assert c.get(f"/users/{uid}/sms").status_code == 403


# ------------------------------------------------------------------ the new password typed twice


def _public_token(c, path: str) -> str:
    return re.search(CSRF, c.get(path).text).group(1)


def test_the_password_page_refuses_two_different_new_passwords(db, sclient, make_account):
    user = make_account("cro_operator")
    page = sclient.get("/password").text
    assert 'id="f-new_password_again"' in page
    form = {"csrf_token": _public_token(sclient, "/password"), "username": user.username}
    form["password"] = PASSWORD
    r = sclient.post("/password", data={**form, "new_password": NEW, "new_password_again": NEW + "!"})
    assert r.status_code == 422 and 'id="e-new_password_again"' in r.text, r.text[:500]
    assert 'id="e-new_password"' not in r.text
    assert users.login(db, user.username, PASSWORD).user_id == user.id  # nothing changed
    assert entries(db, action="user.password") == []
    form["csrf_token"] = _public_token(sclient, "/password")
    r = sclient.post("/password", data={**form, "new_password": NEW}, follow_redirects=False)
    assert r.status_code == 422 and 'id="e-new_password_again"' in r.text  # not typed again: refused too
    form["csrf_token"] = re.search(CSRF, r.text).group(1)  # (each form shown comes with its own token)
    r = sclient.post("/password", data={**form, "new_password": NEW, "new_password_again": NEW},
                     follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == "/login?changed=1", r.text[:500]
    assert users.login(db, user.username, NEW).user_id == user.id


def test_the_activation_page_refuses_two_different_new_passwords_and_keeps_the_code(db, app):
    from fastapi.testclient import TestClient

    _, admin = _admin(db)
    with db.transaction() as s:
        code = users.add_user(s, admin, "clerk_a", "cro_operator").enrolment_code
    with TestClient(app, base_url="https://testserver", client=("10.7.7.7", 40000)) as c:
        assert 'id="f-new_password_again"' in c.get("/activate").text
        form = {"csrf_token": _public_token(c, "/activate"), "username": "clerk_a", "enrolment_code": code}
        r = c.post("/activate", data={**form, "new_password": NEW, "new_password_again": NEW.upper()})
        assert r.status_code == 422 and 'id="e-new_password_again"' in r.text, r.text[:500]
        assert entries(db, action="user.activate") == []
        assert _row_by_name(db, "clerk_a").password_hash is None  # nothing set: the code still works
        form["csrf_token"] = _public_token(c, "/activate")
        r = c.post("/activate", data={**form, "new_password": NEW, "new_password_again": NEW})
        assert r.status_code == 200 and "Your password is set." in r.text, r.text[:500]
    assert users.login(db, "clerk_a", NEW).username == "clerk_a"


def _row_by_name(db, name: str) -> User:
    with db.transaction() as s:
        return s.scalar(select(User).where(User.username == name))


# ------------------------------------------------------------------ disabling a privileged account


@pytest.mark.parametrize("role", ["administrator", "auditor", "fingerprint_examiner"])
def test_disabling_a_privileged_account_is_immediate_and_raises_an_alert(db, role):
    _, admin = _admin(db)
    with db.transaction() as s:
        target = users.create_user(s, f"priv_{role[:8]}", role, unit="BA/QTA", password=PASSWORD)
    with db.transaction() as s:
        users.set_active(s, admin, target.id, False)
    assert not _row(db, target.id).is_active
    alert = last_entry(db)
    assert (alert.action, alert.outcome, alert.target_id, alert.user_id) == (
        "alert.privileged_disabled",
        "alert",
        str(target.id),
        admin.user_id,
    )
    assert target.username in alert.detail and role in alert.detail
    assert [e.action for e in entries(db, target_id=str(target.id))] == ["user.disable", alert.action]
    with db.transaction() as s:  # enabling again raises none
        users.set_active(s, admin, target.id, True)
    assert len(entries(db, outcome="alert")) == 1


def test_a_refused_disable_on_the_users_page_says_why_there(app, db):
    with signed_in(app, db, "administrator") as (c, _):
        page = c.get("/users").text
        with db.transaction() as s:  # the signed-in administrator, the only one
            uid = s.scalar(select(User.id).where(User.role == "administrator"))
        r = c.post(f"/users/{uid}/active", data={"csrf_token": re.search(CSRF, page).group(1), "active": "0"})
        assert r.status_code == 422 and "you cannot disable your own account" in r.text, r.text[:500]
        assert 'action="/users"' in r.text  # the users page, not a bare error page
    assert _row(db, uid).is_active


def test_disabling_an_operator_raises_no_alert(db):
    _, admin = _admin(db)
    with db.transaction() as s:
        clerk = users.create_user(s, "clerk_d", "cro_operator", password=PASSWORD)
    with db.transaction() as s:
        users.set_active(s, admin, clerk.id, False)
    assert entries(db, outcome="alert") == [] and last_entry(db).action == "user.disable"


def test_the_last_active_administrator_of_the_province_is_never_disabled(db):
    from crms.access.principal import system_principal

    only, admin = _admin(db, name="only_admin")
    with db.transaction() as s:  # a second one awaiting approval, one disabled, one of a division: none count
        users.create_user(s, "pending_admin", "administrator", password=PASSWORD).approval_pending = True
        users.create_user(s, "old_admin", "administrator", password=PASSWORD).is_active = False
        users.create_user(s, "qta_admin", "administrator", unit="BA/QTA", password=PASSWORD)
    console = system_principal("cli")
    with pytest.raises(Conflict, match="only_admin is the last active administrator of the province") as err:
        with db.transaction() as s:
            users.set_active(s, console, only.id, False)
    assert err.value.field == "user"
    assert _row(db, only.id).is_active
    second, _ = _admin(db, name="second_admin")
    with db.transaction() as s:  # with another active one, either may be disabled
        users.set_active(s, console, only.id, False)
    with pytest.raises(Conflict, match="second_admin"), db.transaction() as s:
        users.set_active(s, console, second.id, False)
    with db.transaction() as s:  # a division's administrator is not the province's
        users.set_active(s, console, "qta_admin", False)
