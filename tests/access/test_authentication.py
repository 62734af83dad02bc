"""Passwords (Argon2id), lockout after 5 failures, TOTP (mandatory for administrators and examiners, each code
once), SMS officers' phone + PIN, login rate limits. Every attempt leaves an audit entry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from crms.access import users
from crms.access.models import User
from crms.errors import AuthenticationError, RateLimited, ValidationError

from .conftest import PASSWORD, entries, last_entry, totp_now


def test_password_stored_as_argon2id(db, make_account):
    user = make_account("cro_operator")
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_login_ok_and_audited(db, make_account):
    user = make_account("cro_operator", unit="BA/QTA")
    p = users.login(db, user.username, PASSWORD, address="10.1.1.1")
    assert (p.user_id, p.role, p.unit, p.address) == (user.id, "cro_operator", "BA/QTA", "10.1.1.1")
    e = last_entry(db)
    assert (e.action, e.outcome, e.username, e.address) == ("auth.login", "ok", user.username, "10.1.1.1")


def test_wrong_password_and_unknown_user_refused_alike(db, make_account):
    user = make_account("sho")
    with pytest.raises(AuthenticationError) as a:
        users.login(db, user.username, "wrong password!!")
    with pytest.raises(AuthenticationError) as b:
        users.login(db, "nobody", "wrong password!!")
    assert a.value.message == b.value.message
    refused = entries(db, action="auth.login", outcome="refused")
    assert [e.username for e in refused] == [user.username, "nobody"]


def test_lockout_after_five_failures_for_ten_minutes(db, make_account):
    user = make_account("investigating_officer")
    for _ in range(4):
        with pytest.raises(AuthenticationError):
            users.login(db, user.username, "bad password 1")
    with pytest.raises(AuthenticationError, match="locked for 10 minutes"):
        users.login(db, user.username, "bad password 1")
    # Even the right password is refused while locked.
    with pytest.raises(AuthenticationError, match="locked"):
        users.login(db, user.username, PASSWORD)
    assert last_entry(db).outcome == "refused"
    with db.transaction() as s:
        locked_until = s.get(User, user.id).locked_until
    from crms.timeutil import as_utc, utcnow

    assert timedelta(minutes=9) < as_utc(locked_until) - utcnow() <= timedelta(minutes=10)
    # After the lock expires, the right password works again.
    with db.transaction() as s:
        s.execute(update(User).where(User.id == user.id).values(locked_until=utcnow() - timedelta(seconds=1)))
    assert users.login(db, user.username, PASSWORD).user_id == user.id


def test_disabled_user_cannot_log_in(db, make_account):
    user = make_account("sho")
    with db.transaction() as s:
        s.execute(update(User).where(User.id == user.id).values(is_active=False))
    with pytest.raises(AuthenticationError, match="disabled"):
        users.login(db, user.username, PASSWORD)


def test_totp_mandatory_for_administrator_and_examiner(db, make_account):
    for role in ("administrator", "fingerprint_examiner"):
        user = make_account(role)
        assert user.totp_secret, role
        with pytest.raises(AuthenticationError) as err:
            users.login(db, user.username, PASSWORD)
        assert err.value.field == "totp"
        assert users.login(db, user.username, PASSWORD, totp=totp_now(user)).role == role


def test_totp_optional_for_others(db, make_account):
    plain = make_account("cro_operator")
    assert plain.totp_secret is None
    assert users.login(db, plain.username, PASSWORD).user_id == plain.id
    enrolled = make_account("cro_operator", totp=True)
    with pytest.raises(AuthenticationError):
        users.login(db, enrolled.username, PASSWORD)
    assert users.login(db, enrolled.username, PASSWORD, totp=totp_now(enrolled)).user_id == enrolled.id


def test_replayed_totp_refused_and_audited(db, make_account):
    user = make_account("administrator")
    code = totp_now(user)
    users.login(db, user.username, PASSWORD, totp=code)
    with pytest.raises(AuthenticationError, match="already used"):
        users.login(db, user.username, PASSWORD, totp=code)
    e = last_entry(db)
    assert (e.action, e.outcome, e.username) == ("auth.login", "refused", user.username)
    assert "already used" in e.detail
    # An older code (previous step) is a replay too once a later step was used.
    with pytest.raises(AuthenticationError):
        users.login(db, user.username, PASSWORD, totp=totp_now(user, -1))
    # The next step's code is fresh and accepted.
    assert users.login(db, user.username, PASSWORD, totp=totp_now(user, 1)).user_id == user.id


def test_wrong_totp_counts_as_failure(db, make_account):
    user = make_account("administrator")
    with pytest.raises(AuthenticationError):
        users.login(db, user.username, PASSWORD, totp="000000" if totp_now(user) != "000000" else "111111")
    with db.transaction() as s:
        assert s.get(User, user.id).failed_logins == 1


def test_sms_officer_phone_and_pin(db, make_account):
    from crms.access.users import create_user

    with db.transaction() as s:
        officer = create_user(s, "sms1", "sms_officer", unit="BA/QTA", phone="0300-1234567", pin="4321")
    assert officer.phone == "+923001234567"
    assert officer.pin_hash.startswith("$argon2id$") and officer.password_hash is None
    p = users.login_sms(db, "+92 300 1234567", "4321")
    assert (p.channel, p.address, p.role) == ("sms", "+923001234567", "sms_officer")
    with pytest.raises(AuthenticationError):
        users.login_sms(db, "+923001234567", "0000")
    assert entries(db, action="auth.sms", outcome="refused")[-1].address == "+923001234567"
    # SMS officers cannot log in with a password.
    with pytest.raises(AuthenticationError):
        users.login(db, "sms1", "4321")


def test_login_rate_limited_per_username(db, make_account, monkeypatch):
    monkeypatch.setenv("CRMS_RATE_LOGIN", "3/60")
    user = make_account("cro_operator")
    for _ in range(3):
        users.login(db, user.username, PASSWORD)
    with pytest.raises(RateLimited):
        users.login(db, user.username, PASSWORD)
    e = last_entry(db)
    assert (e.action, e.outcome) == ("auth.login", "refused") and "too many" in e.detail
    other = make_account("cro_operator")
    assert users.login(db, other.username, PASSWORD).user_id == other.id  # per user


def test_search_rate_limited_per_user(db, monkeypatch):
    from crms.access import audit
    from crms.access.principal import Principal

    monkeypatch.setenv("CRMS_RATE_SEARCH", "2/60")
    a = Principal(user_id=1, username="a", role="cro_operator")
    b = Principal(user_id=2, username="b", role="cro_operator")
    for _ in range(2):
        with db.transaction() as s:
            audit.record(s, a, "search.cnic", reason="FIR 1/2026")
    with pytest.raises(RateLimited), db.transaction() as s:
        audit.record(s, a, "search.cnic", reason="FIR 1/2026")
    with db.transaction() as s:
        audit.record(s, b, "search.cnic", reason="FIR 1/2026")


def test_user_validation(db):
    from crms.access.users import create_user

    cases = [
        (dict(username="x y", role="sho"), "username"),
        (dict(username="ok", role="king"), "role"),
        (dict(username="ok", role="system"), "role"),
        (dict(username="ok", role="sho", unit="../etc"), "unit"),
        (dict(username="ok", role="sho", password="short"), "password"),
        (dict(username="ok", role="sms_officer", phone="+923001234567", pin="12ab"), "pin"),
        (dict(username="ok", role="sms_officer", phone="12", pin="1234"), "phone"),
    ]
    for kw, field in cases:
        with pytest.raises(ValidationError) as err, db.transaction() as s:
            create_user(s, **kw)
        assert err.value.field == field, kw
