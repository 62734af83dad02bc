"""Passwords (Argon2id), failures slowed down per name and address (never a lockout), TOTP (mandatory for
administrators and examiners, each code once), SMS officers' phone + PIN, login rate limits.
Every attempt leaves an audit entry."""

from __future__ import annotations

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


def test_failures_never_lock_the_owner_out(db, make_account):
    """An attacker failing on purpose from one address is slowed down there; the owner, from another
    address, still logs in (finding 21.8: lockout as a weapon)."""
    user = make_account("investigating_officer")
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            users.login(db, user.username, "bad password 1", address="10.9.9.9")
    with pytest.raises(RateLimited):
        users.login(db, user.username, PASSWORD, address="10.9.9.9")
    assert users.login(db, user.username, PASSWORD, address="10.1.1.1").user_id == user.id
    with db.transaction() as s:
        assert s.get(User, user.id).locked_until is None


def test_known_and_unknown_names_answered_alike_at_the_same_cost(db, make_account, monkeypatch):
    """The same answer, the same Argon2 verification (against a dummy hash for an unknown name), and the
    same slow-down after the same number of failures, for a known and an unknown name."""
    user = make_account("sho")
    from argon2 import PasswordHasher

    calls: list[str] = []

    class CountingHasher(PasswordHasher):  # the real Argon2id verifier, counted
        def verify(self, stored, secret):
            calls.append(stored)
            return super().verify(stored, secret)

    monkeypatch.setattr(users, "_hasher", CountingHasher(time_cost=2, memory_cost=19456, parallelism=1))
    answers = {}
    for name in (user.username, "no_such_user"):
        calls.clear()
        seen = []
        for _ in range(5):
            with pytest.raises(AuthenticationError) as err:
                users.login(db, name, "wrong password!!", address="10.2.2.2")
            seen.append((type(err.value).__name__, err.value.message, err.value.field))
        assert len(calls) == 5 and all(c.startswith("$argon2id$") for c in calls)
        with pytest.raises(RateLimited) as err:
            users.login(db, name, "wrong password!!", address="10.2.2.2")
        seen.append((type(err.value).__name__, err.value.message.split(":")[0], err.value.field))
        answers[name] = seen
    assert answers[user.username] == answers["no_such_user"]


def test_successful_logins_spend_nothing(db, make_account, monkeypatch):
    monkeypatch.setenv("CRMS_RATE_LOGIN", "3/60")
    user = make_account("cro_operator")
    for _ in range(12):
        assert users.login(db, user.username, PASSWORD, address="10.3.3.3").user_id == user.id
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            users.login(db, user.username, "bad password 1", address="10.3.3.3")
    with pytest.raises(RateLimited):
        users.login(db, user.username, PASSWORD, address="10.3.3.3")
    e = last_entry(db)
    assert (e.action, e.outcome) == ("auth.login", "refused") and "too many" in e.detail


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


def test_login_failures_limited_per_name_and_address(db, make_account, monkeypatch):
    monkeypatch.setenv("CRMS_RATE_LOGIN", "3/60")
    user = make_account("cro_operator")
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            users.login(db, user.username, "bad password 1", address="10.4.4.4")
    with pytest.raises(RateLimited):
        users.login(db, user.username, PASSWORD, address="10.4.4.4")
    e = last_entry(db)
    assert (e.action, e.outcome) == ("auth.login", "refused") and "too many" in e.detail
    other = make_account("cro_operator")
    assert users.login(db, other.username, PASSWORD, address="10.4.4.4").user_id == other.id  # per name


def test_login_failures_limited_per_address(db, make_account, monkeypatch):
    monkeypatch.setenv("CRMS_RATE_LOGIN_ADDRESS", "4/60")
    user = make_account("cro_operator")
    for i in range(4):  # a different name each time: the address alone runs out
        with pytest.raises(AuthenticationError):
            users.login(db, f"guess{i}", "bad password 1", address="10.5.5.5")
    with pytest.raises(RateLimited):
        users.login(db, user.username, PASSWORD, address="10.5.5.5")
    assert users.login(db, user.username, PASSWORD, address="10.6.6.6").user_id == user.id


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
