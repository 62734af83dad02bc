"""API tokens as services: issue and list answer timestamps in UTC with their offset on both backends
(finding 20.8), a token never widens its holder's scopes, and logout revokes the token it was made with."""

from __future__ import annotations

from datetime import datetime

from .conftest import PASSWORD, entries


def _aware(text: str) -> bool:
    return datetime.fromisoformat(text).utcoffset() is not None


def test_token_timestamps_carry_their_utc_offset(db, sclient, make_account):
    user = make_account("cro_operator")
    r = sclient.post("/api/v1/auth/tokens", json={"username": user.username, "password": PASSWORD})
    assert r.status_code == 201, r.text
    assert _aware(r.json()["expires_at"]) and r.json()["expires_at"].endswith("+00:00")
    h = {"Authorization": f"Bearer {r.json()['token']}"}
    listed = sclient.get("/api/v1/auth/tokens", headers=h).json()
    assert listed and all(_aware(t["created_at"]) and _aware(t["expires_at"]) for t in listed)
    sclient.delete(f"/api/v1/auth/tokens/{listed[0]['id']}", headers=h)
    from crms.access.tokens import list_tokens, token_dict
    from crms.access.users import principal_for

    with db.transaction() as s:
        rows = [token_dict(t) for t in list_tokens(s, principal_for(user, channel="api"))]
    assert _aware(rows[0]["revoked_at"])


def test_logout_revokes_the_presented_token_and_is_audited(db, sclient, make_user):
    user, headers = make_user("sho")
    assert sclient.post("/api/v1/auth/logout", headers=headers).status_code == 200
    assert sclient.get("/api/v1/auth/me", headers=headers).status_code == 401
    e = entries(db, action="auth.logout")[-1]
    assert (e.user_id, e.target_type) == (user.id, "api_token")


def test_a_scoped_token_cannot_mint_a_wider_one(db, make_account):
    import pytest

    from crms.access.tokens import issue_for
    from crms.access.users import principal_for
    from crms.errors import PermissionDenied

    user = make_account("cro_operator")
    narrow = principal_for(user, channel="api", scopes=frozenset({"search:cnic"}))
    with pytest.raises(PermissionDenied), db.transaction() as s:
        issue_for(s, narrow, scopes=["search:cnic", "person:write"])
    with db.transaction() as s:
        _, row = issue_for(s, narrow)
        assert row.scopes == ["search:cnic"]
