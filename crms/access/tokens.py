"""API tokens for machine clients: random, stored only as a SHA-256 hash, scoped, expiring, revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from crms.access import audit
from crms.access.models import ApiToken, User
from crms.access.policy import Permission, check_scopes, has_permission
from crms.access.principal import Principal
from crms.errors import AuthenticationError, NotFound, PermissionDenied, ValidationError
from crms.timeutil import as_utc, utcnow

TOKEN_PREFIX = "crms_"
MAX_TTL_DAYS = 365


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session, user: User, *, name: str = "", scopes: list[str] | None = None, ttl_days: float = 30
) -> str:
    """Create a token for ``user`` (no permission check: callers authenticate the user first)."""
    if not 0 < ttl_days <= MAX_TTL_DAYS:
        raise ValidationError(f"ttl_days must be in (0, {MAX_TTL_DAYS}]", field="ttl_days")
    if len(name) > 100:
        raise ValidationError("token name must be at most 100 characters", field="name")
    scopes = check_scopes(user.role, scopes)
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


_BY_HASH = (
    select(
        ApiToken.scopes,
        ApiToken.revoked_at,
        ApiToken.expires_at,
        User.id,
        User.username,
        User.role,
        User.unit,
        User.is_active,
    )
    .outerjoin(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
)  # built once: runs on every API request


def principal_from_token(session: Session, token: str, *, address: str | None = None) -> Principal:
    """The caller of an API token, read from the database on every call (one indexed query for the token
    and its user), so a revoked or expired token, or a disabled user, is refused at once. Nothing is
    written."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise AuthenticationError("malformed API token")
    row = session.execute(_BY_HASH, {"token_hash": _hash(token)}).first()
    if row is None:
        raise AuthenticationError("unknown API token")
    if row.revoked_at is not None:
        raise AuthenticationError("API token revoked")
    if as_utc(row.expires_at) <= utcnow():
        raise AuthenticationError("API token expired")
    if row.id is None or not row.is_active:
        raise AuthenticationError("user disabled")
    return Principal(
        user_id=row.id,
        username=row.username,
        role=row.role,
        unit=row.unit,
        channel="api",
        address=address,
        scopes=frozenset(row.scopes) if row.scopes is not None else None,
    )


def revoke_token(session: Session, token_id: int) -> None:
    row = session.get(ApiToken, token_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()


def token_dict(row: ApiToken) -> dict:
    return {
        "id": row.id,
        "user_id": row.user_id,
        "name": row.name,
        "scopes": row.scopes,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
    }


def list_tokens(session: Session, principal: Principal, *, user_id: int | None = None) -> list[ApiToken]:
    """Your own tokens; an administrator may list another user's."""
    if principal.user_id is None:
        raise PermissionDenied("no user")
    target = principal.user_id if user_id is None else user_id
    if target != principal.user_id and not has_permission(principal, Permission.USER_ADMIN):
        raise PermissionDenied("only an administrator may list another user's tokens")
    rows = list(session.scalars(select(ApiToken).where(ApiToken.user_id == target).order_by(ApiToken.id)))
    return rows


def revoke(session: Session, principal: Principal, token_id: int) -> ApiToken:
    """Revoke one of your own tokens (an administrator: anyone's). Audited."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no token {token_id}", field="token_id")
    if row.user_id != principal.user_id and not has_permission(principal, Permission.USER_ADMIN):
        raise PermissionDenied("you may only revoke your own tokens")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    audit.record(session, principal, "auth.token.revoke", target_type="api_token", target_id=row.id)
    return row
