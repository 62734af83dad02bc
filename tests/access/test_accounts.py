"""Accounts over their life (findings 20.4 and 21.5), on both backends: password rules, changing your own
password, a demo-style password that must be changed at the first login, new and reset accounts that get a
one-time enrolment code only their user can turn into a password (never from the setting-up administrator's
address), privileged roles waiting for a second administrator, the console bootstrap of the first two
administrators, and TOTP secrets encrypted at rest (finding 21.13) with a migration for existing rows."""

from __future__ import annotations

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from crms.access import users
from crms.access.models import User
from crms.errors import AuthenticationError, PermissionDenied, ValidationError

from .conftest import PASSWORD, entries, totp_now

NEW = "quiet river lantern 42"


def _admin(db, unit: str = "BA", name: str | None = None):
    from crms.access.users import create_user, principal_for

    with db.transaction() as s:
        user = create_user(s, name or f"admin_{unit.replace('/', '_').lower()}", "administrator", unit=unit,
                           password=PASSWORD)  # fmt: skip
    return user, principal_for(user, channel="api", address="10.0.0.1")


def _row(db, user_id: int) -> User:
    with db.transaction() as s:
        return s.get(User, user_id)


@pytest.mark.parametrize(
    "password, why",
    [
        ("short1!", "at least 10"),
        ("password1234", "common"),
        ("qwertyuiop", "common"),
        ("Pakistan@123", "too easy"),
        ("aslamkhan2024", "too easy"),
    ],
)
def test_password_rules(db, password, why):
    with pytest.raises(ValidationError, match=why) as err, db.transaction() as s:
        users.create_user(s, "aslamkhan", "cro_operator", full_name="Aslam Khan", password=password)
    assert err.value.field == "password"


def test_a_good_password_passes_the_rules():
    users.check_password_rules(NEW, username="aslam")
    users.check_password_rules(PASSWORD, username="aslam")


def test_a_long_passphrase_passes_the_rules_and_a_longer_one_is_refused_by_name():
    """Up to 256 characters are allowed; the estimator (zxcvbn, which raises on more than 72) reads the first
    100, so a long passphrase is judged rather than crashing the request (a 500 found by fuzzing the API)."""
    passphrase = "quiet river lantern 42, " * 8  # 192 characters
    users.check_password_rules(passphrase, username="aslam")
    with pytest.raises(ValidationError, match="at most 256") as err:
        users.check_password_rules("x7!" * 90, username="aslam")
    assert err.value.field == "password"


def test_activate_with_a_long_new_password_is_judged_not_a_server_error(db, sclient):
    body = {"username": "nobody", "enrolment_code": "0", "new_password": "w" * 200}
    r = sclient.post("/api/v1/auth/activate", json=body)
    assert r.status_code in (401, 422), r.text


def test_change_your_own_password(db, make_account, make_user):
    from crms.access.tokens import issue_token

    user = make_account("cro_operator")
    with db.transaction() as s:
        issue_token(s, s.get(User, user.id))
    with pytest.raises(AuthenticationError):
        users.change_password(db, user.username, "not my password", NEW, address="10.0.0.5")
    with pytest.raises(ValidationError, match="differ"):
        users.change_password(db, user.username, PASSWORD, PASSWORD, address="10.0.0.5")
    with pytest.raises(ValidationError, match="common"):
        users.change_password(db, user.username, PASSWORD, "password1234", address="10.0.0.5")
    users.change_password(db, user.username, PASSWORD, NEW, address="10.0.0.5")
    with pytest.raises(AuthenticationError):
        users.login(db, user.username, PASSWORD)
    assert users.login(db, user.username, NEW).user_id == user.id
    from crms.access.models import ApiToken

    with db.transaction() as s:
        assert all(s.scalars(select(ApiToken.revoked_at).where(ApiToken.user_id == user.id)))
    assert [e.outcome for e in entries(db, action="user.password")] == ["refused", "ok"]


def test_change_password_over_the_api(db, sclient, make_account):
    user = make_account("sho")
    body = {"username": user.username, "password": PASSWORD, "new_password": NEW}
    r = sclient.post("/api/v1/auth/password", json=body)
    assert r.status_code == 200, r.text
    r = sclient.post("/api/v1/auth/password", json=body)  # the old password no longer works
    assert r.status_code == 401


def test_a_demo_password_must_be_changed_at_the_first_login(db):
    with db.transaction() as s:
        user = users.create_user(s, "demo_like", "cro_operator", password=PASSWORD, must_change_password=True)
    with pytest.raises(AuthenticationError, match="password change required"):
        users.login(db, user.username, PASSWORD)
    users.change_password(db, user.username, PASSWORD, NEW)
    assert users.login(db, user.username, NEW).user_id == user.id
    assert not _row(db, user.id).must_change_password


def test_an_administrator_cannot_choose_a_password_or_log_in_as_the_new_account(db):
    _, admin = _admin(db)
    with pytest.raises(ValidationError) as err, db.transaction() as s:
        users.add_user(s, admin, "clerk1", "cro_operator", password=PASSWORD)
    assert err.value.field == "password"
    with db.transaction() as s:
        user = users.add_user(s, admin, "clerk1", "cro_operator")
        code, uid = user.enrolment_code, user.id
    assert code and _row(db, uid).password_hash is None
    assert code not in (_row(db, uid).enrolment_code_hash or "")  # only its hash is kept
    # The administrator, from its own address, cannot turn the code into a password.
    with pytest.raises(PermissionDenied, match="administrator who set it up"):
        users.activate(db, "clerk1", code, NEW, address=admin.address)
    with pytest.raises(AuthenticationError):
        users.activate(db, "clerk1", "0000-wrong-code", NEW, address="10.0.0.9")
    with pytest.raises(AuthenticationError):  # an unknown name: the same answer
        users.activate(db, "nobody_here", code, NEW, address="10.0.0.9")
    users.activate(db, "clerk1", code, NEW, address="10.0.0.9")
    assert users.login(db, "clerk1", NEW, address="10.0.0.9").user_id == uid
    with pytest.raises(AuthenticationError, match="enrolment code"):  # once only
        users.activate(db, "clerk1", code, "another long passphrase 7", address="10.0.0.9")
    assert [e.outcome for e in entries(db, action="user.activate")] == ["refused"] * 3 + ["ok", "refused"]


def test_privileged_roles_wait_for_a_second_administrator(db):
    first, admin_a = _admin(db, name="admin_a")
    _, admin_b = _admin(db, name="admin_b")
    with db.transaction() as s:
        user = users.add_user(s, admin_a, "auditor1", "auditor")
        code = user.enrolment_code
    out = users.activate(db, "auditor1", code, NEW, address="10.0.0.20")
    assert out["approval_pending"] and "totp_secret" not in out  # auditors: TOTP optional
    with pytest.raises(AuthenticationError, match="second administrator"):
        users.login(db, "auditor1", NEW, address="10.0.0.20")
    with pytest.raises(PermissionDenied, match="second administrator"), db.transaction() as s:
        users.approve(s, admin_a, "auditor1")
    with db.transaction() as s:
        users.approve(s, admin_b, "auditor1")
    assert users.login(db, "auditor1", NEW, address="10.0.0.20").role == "auditor"
    # Promoting an operator to administrator waits for approval again; its TOTP goes to the user.
    with db.transaction() as s:
        op = users.add_user(s, admin_a, "clerk2", "cro_operator")
        op_code = op.enrolment_code
    users.activate(db, "clerk2", op_code, NEW, address="10.0.0.21")
    with db.transaction() as s:
        promoted = users.set_role(s, admin_b, "clerk2", "administrator")
        promo_code = promoted.enrolment_code
    assert promo_code and _row(db, promoted.id).approval_pending
    out = users.activate(db, "clerk2", promo_code, "promoted lantern river 9", address="10.0.0.21")
    assert out["totp_uri"].startswith("otpauth://totp/")
    with db.transaction() as s:
        users.approve(s, admin_a, "clerk2")
    code_now = pyotp.TOTP(out["totp_secret"]).now()
    p = users.login(db, "clerk2", "promoted lantern river 9", totp=code_now, address="10.0.0.21")
    assert p.role == "administrator"


def test_reset_forces_a_new_password_through_an_enrolment_code(db, sclient, make_user, make_account):
    _, headers = make_user("administrator", unit="BA")
    user = make_account("investigating_officer", unit="BA/QTA")
    r = sclient.post(f"/api/v1/users/{user.id}/reset", headers=headers)
    assert r.status_code == 200, r.text
    code = r.json()["enrolment_code"]
    assert r.json()["enrolment_expires_at"].endswith("+00:00")
    with pytest.raises(AuthenticationError):
        users.login(db, user.username, PASSWORD)
    # Over the API from the administrator's own address (the test client's): refused.
    body = {"username": user.username, "enrolment_code": code, "new_password": NEW}
    assert sclient.post("/api/v1/auth/activate", json=body).status_code == 403
    with TestClient(sclient.app, base_url="https://testserver", client=("10.7.7.7", 40000)) as elsewhere:
        assert elsewhere.post("/api/v1/auth/activate", json=body).status_code == 200
    assert users.login(db, user.username, NEW).user_id == user.id


def test_console_bootstrap_of_the_first_two_administrators_only(db):
    first = users.bootstrap_administrator(db, "root1", password=PASSWORD)
    second = users.bootstrap_administrator(db, "root2", password=PASSWORD)
    assert first.role == second.role == "administrator"
    with pytest.raises(PermissionDenied, match="administrators exist"):
        users.bootstrap_administrator(db, "root3", password=PASSWORD)
    with pytest.raises(PermissionDenied), db.transaction():
        users.bootstrap_administrator(db, "op", role="cro_operator", password=PASSWORD)
    assert [e.username for e in entries(db, action="user.bootstrap")] == ["system", "system"]


# --------------------------------------------------------------------------------------- TOTP at rest


def test_totp_secret_encrypted_at_rest(db, make_account):
    user = make_account("administrator")
    secret = user.new_totp_secret
    with db.engine.connect() as conn:
        stored = conn.execute(text("select totp_secret from users where id = :i"), {"i": user.id}).scalar()
    assert stored.startswith("v1.") and secret not in stored
    assert users.login(db, user.username, PASSWORD, totp=totp_now(user)).user_id == user.id
    # A sealed secret copied to another account does not decrypt there (bound to its row).
    other = make_account("administrator")
    with db.engine.begin() as conn:
        conn.execute(text("update users set totp_secret = :s where id = :i"), {"s": stored, "i": other.id})
    with pytest.raises(Exception, match="does not decrypt"):
        users.login(db, other.username, PASSWORD, totp=totp_now(user, 1))


def test_migration_0005_encrypts_existing_totp_secrets(tmp_path, monkeypatch):
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from crms.access.crypto import load_data_key
    from crms.access.sealed import unseal
    from crms.db import Base, Database, alembic_config, import_all_models

    monkeypatch.setenv("CRMS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CRMS_DATA_KEY", raising=False)
    import_all_models()
    db = Database(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    db.upgrade("0004")
    with db.engine.begin() as conn:
        conn.execute(text(
            "insert into users (id, username, role, unit, full_name, totp_secret, failed_logins, is_active, "
            "created_at) values (7, 'old_admin', 'administrator', 'BA', '', 'JBSWY3DPEHPK3PXP', 0, 1, "
            "'2026-01-01 00:00:00')"
        ))  # fmt: skip
    db.upgrade()
    with db.engine.connect() as conn:
        stored = conn.execute(text("select totp_secret from users where id = 7")).scalar()
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if "users" in repr(d)] == []
    key = load_data_key(tmp_path / "data")
    assert stored.startswith("v1.") and unseal(key, stored, "totp:7") == "JBSWY3DPEHPK3PXP"
    command.downgrade(alembic_config(db.url), "0004")
    with db.engine.connect() as conn:
        assert conn.execute(text("select totp_secret from users where id = 7")).scalar() == "JBSWY3DPEHPK3PXP"
    db.dispose()
