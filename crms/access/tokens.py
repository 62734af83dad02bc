"""API tokens for machine clients: random, stored only as a SHA-256 hash, scoped, expiring, revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from crms.access.models import ApiToken, User
from crms.access.principal import Principal
from crms.errors import AuthenticationError
from crms.timeutil import as_utc, utcnow

TOKEN_PREFIX = "crms_"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session, user: User, *, name: str = "", scopes: list[str] | None = None, ttl_days: float = 30
) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            user_id=user.id,
            token_hash=_hash(token),
            name=name,
            scopes=scopes,
            expires_at=utcnow() + timedelta(days=ttl_days),
        )
    )
    session.flush()
    return token


def principal_from_token(session: Session, token: str, *, address: str | None = None) -> Principal:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(token)))
    if row is None:
        raise AuthenticationError("unknown API token")
    if row.revoked_at is not None:
        raise AuthenticationError("API token revoked")
    if as_utc(row.expires_at) <= utcnow():
        raise AuthenticationError("API token expired")
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise AuthenticationError("user disabled")
    return Principal(
        user_id=user.id,
        username=user.username,
        role=user.role,
        unit=user.unit,
        channel="api",
        address=address,
        scopes=frozenset(row.scopes) if row.scopes is not None else None,
    )


def revoke_token(session: Session, token_id: int) -> None:
    row = session.get(ApiToken, token_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
