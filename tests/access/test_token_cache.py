"""The cache of verified API tokens (issue 21.10): a request with a token checked moments ago needs no
database read, but a revocation still takes effect: at once when it is made in this process (token revoked,
logout, user disabled, password changed), and within ``CRMS_TOKEN_CACHE_SECONDS`` when another process
(another server worker, the CLI) writes it, which these tests stand in for by writing the database
directly."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from crms.access import tokens
from crms.access.models import ApiToken, User
from crms.timeutil import utcnow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(tokens, "_clock", c)
    monkeypatch.setenv("CRMS_TOKEN_CACHE_SECONDS", "5")
    tokens.clear_token_cache()
    yield c
    tokens.clear_token_cache()


def _me(client, headers) -> int:
    return client.get("/api/v1/auth/me", headers=headers).status_code


def _revoke_elsewhere(db, **where) -> None:
    """What another process does: the row changes, this process's cache is not told."""
    with db.engine.begin() as conn:
        if "user_id" in where:
            conn.execute(update(User).where(User.id == where["user_id"]).values(is_active=False))
        else:
            conn.execute(update(ApiToken).values(revoked_at=utcnow()))


def test_a_token_revoked_by_another_process_is_refused_within_the_bound(db, client, make_user, clock):
    _, headers = make_user("sho")
    assert _me(client, headers) == 200  # verified and cached
    _revoke_elsewhere(db)
    clock.now += 4.9
    assert _me(client, headers) == 200  # still within the bound: the cached check stands
    clock.now += 0.2  # 5.1 s after the check
    assert _me(client, headers) == 401
    clock.now += 100
    assert _me(client, headers) == 401  # refusals are never cached as acceptances


def test_a_disabled_user_elsewhere_is_refused_within_the_bound(db, client, make_user, clock):
    user, headers = make_user("sho")
    assert _me(client, headers) == 200
    _revoke_elsewhere(db, user_id=user.id)
    clock.now += 5.0
    assert _me(client, headers) == 401


def test_a_revocation_in_this_process_takes_effect_at_once(db, client, make_user, clock):
    _, headers = make_user("sho")
    assert _me(client, headers) == 200
    token_id = client.get("/api/v1/auth/tokens", headers=headers).json()[0]["id"]
    _, admin = make_user("administrator")
    assert client.delete(f"/api/v1/auth/tokens/{token_id}", headers=admin).status_code in (200, 204)
    assert _me(client, headers) == 401  # no clock movement: the cache was emptied on commit


def test_logout_takes_effect_at_once(client, make_user, clock):
    _, headers = make_user("sho")
    assert _me(client, headers) == 200
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 200
    assert _me(client, headers) == 401


def test_disabling_a_user_in_this_process_takes_effect_at_once(db, client, make_user, clock):
    from crms.access.users import principal_for, set_active

    user, headers = make_user("sho")
    admin, _ = make_user("administrator")
    assert _me(client, headers) == 200
    with db.transaction() as s:
        set_active(s, principal_for(admin, channel="cli"), user.id, False)
    assert _me(client, headers) == 401


def test_an_expiry_is_checked_on_every_use(db, client, make_user, clock):
    _, headers = make_user("sho")
    assert _me(client, headers) == 200
    with db.engine.begin() as conn:  # the token expired (its expiry moved into the past)
        conn.execute(update(ApiToken).values(expires_at=utcnow()))
    tokens.clear_token_cache()
    assert _me(client, headers) == 401


def test_a_cached_expiry_still_ends_the_token(client, make_user, clock, monkeypatch):
    from datetime import timedelta

    _, headers = make_user("sho")
    assert _me(client, headers) == 200
    later = utcnow() + timedelta(days=400)  # beyond any token's life, within the cache's seconds
    monkeypatch.setattr(tokens, "utcnow", lambda: later)
    assert _me(client, headers) == 401


def test_the_cache_can_be_turned_off(db, client, make_user, clock, monkeypatch):
    monkeypatch.setenv("CRMS_TOKEN_CACHE_SECONDS", "0")
    _, headers = make_user("sho")
    assert _me(client, headers) == 200
    _revoke_elsewhere(db)
    assert _me(client, headers) == 401  # no clock movement needed


def test_a_malformed_setting_is_refused(monkeypatch):
    monkeypatch.setenv("CRMS_TOKEN_CACHE_SECONDS", "soon")
    with pytest.raises(ValueError, match="CRMS_TOKEN_CACHE_SECONDS"):
        tokens.cache_seconds()
    monkeypatch.setenv("CRMS_TOKEN_CACHE_SECONDS", "3600")
    with pytest.raises(ValueError, match="between 0 and 60"):
        tokens.cache_seconds()
