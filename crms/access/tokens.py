"""API tokens for machine clients: random, stored only as a SHA-256 hash, scoped, expiring, revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from crms.access import audit
from crms.access.models import ApiToken, User
from crms.access.policy import Permission, check_scopes, has_permission, unit_contains
from crms.access.principal import Principal
from crms.errors import AuthenticationError, NotFound, PermissionDenied, ValidationError
from crms.timeutil import as_utc, iso_or_none, utcnow

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
    """A token's description (never the token): timestamps in UTC with their offset on both backends."""
    return {
        "id": row.id,
        "user_id": row.user_id,
        "name": row.name,
        "scopes": row.scopes,
        "created_at": iso_or_none(row.created_at),
        "expires_at": iso_or_none(row.expires_at),
        "revoked_at": iso_or_none(row.revoked_at),
    }


def issue_for(
    session: Session,
    principal: Principal,
    *,
    name: str = "",
    scopes: list[str] | None = None,
    ttl_days: float = 30,
) -> tuple[str, ApiToken]:
    """Issue a token to the authenticated ``principal`` itself (a token never outlives nor widens its
    login: the scopes must be held by the role, and by the principal's own scopes when it has any). Audited
    as ``auth.token.issue``. Returns (the token, shown once; its row)."""
    if principal.user_id is None:
        raise PermissionDenied("only a user may hold an API token")
    user = session.get(User, principal.user_id)
    if user is None or not user.is_active:
        raise AuthenticationError("user disabled")
    if principal.scopes is not None:
        scopes = sorted(principal.scopes) if scopes is None else scopes
        wider = [s for s in scopes if s not in principal.scopes]
        if wider:
            raise PermissionDenied(f"scopes beyond your own: {', '.join(wider)}", field="scopes")
    token = issue_token(session, user, name=name, scopes=scopes, ttl_days=ttl_days)
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(token)))
    audit.record(
        session,
        principal,
        "auth.token.issue",
        target_type="api_token",
        target_id=row.id,
        query={"name": name, "scopes": row.scopes, "ttl_days": ttl_days},
    )
    return token, row


def create_token(
    db,
    username: str,
    password: str,
    *,
    totp: str | None = None,
    address: str | None = None,
    channel: str = "api",
    name: str = "",
    scopes: list[str] | None = None,
    ttl_days: float = 30,
) -> dict:
    """Exchange credentials for a token: the login (checked, rate limited and audited by
    :func:`crms.access.users.login`, in its own transaction) then the issue (audited). Returns the token
    (shown once) with its id, expiry and scopes."""
    from crms.access.users import login

    principal = login(db, username, password, totp=totp, address=address, channel=channel)
    with db.transaction() as session:
        token, row = issue_for(session, principal, name=name, scopes=scopes, ttl_days=ttl_days)
        return {"id": row.id, "token": token, "expires_at": iso_or_none(row.expires_at), "scopes": row.scopes}


def logout(
    session: Session, principal: Principal, *, token: str | None = None, web_session: str | None = None
) -> None:
    """End what the caller is logged in with: revoke the API ``token`` it presented, or end its browser
    session (the cookie value ``web_session``). Audited as ``auth.logout``."""
    if token is not None:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(token)))
        if row is None or row.user_id != principal.user_id:
            raise AuthenticationError("unknown API token")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        audit.record(session, principal, "auth.logout", target_type="api_token", target_id=row.id)
        return
    from crms.access.sessions import end_session

    end_session(session, web_session or "")
    audit.record(session, principal, "auth.logout", target_type="user", target_id=principal.user_id)


def _authorize_other(session: Session, principal: Principal, user_id: int, what: str) -> None:
    """Another user's tokens: an administrator whose unit contains that user's (the rule of every
    user-related service, crms.access.users)."""
    if not has_permission(principal, Permission.USER_ADMIN):
        raise PermissionDenied(f"only an administrator may {what} another user's tokens")
    owner = session.get(User, user_id)
    if owner is not None and not unit_contains(principal.unit, owner.unit):
        raise PermissionDenied(f"user of unit {owner.unit} is outside your jurisdiction ({principal.unit})")


def list_tokens(session: Session, principal: Principal, *, user_id: int | None = None) -> list[ApiToken]:
    """Your own tokens; an administrator may list those of a user within its unit (audited)."""
    if principal.user_id is None:
        raise PermissionDenied("no user")
    target = principal.user_id if user_id is None else user_id
    if target != principal.user_id:
        _authorize_other(session, principal, target, "list")
        audit.record(session, principal, "auth.token.list", target_type="user", target_id=target)
    rows = list(session.scalars(select(ApiToken).where(ApiToken.user_id == target).order_by(ApiToken.id)))
    return rows


def revoke(session: Session, principal: Principal, token_id: int) -> ApiToken:
    """Revoke one of your own tokens (an administrator: anyone's). Audited."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no token {token_id}", field="token_id")
    if row.user_id != principal.user_id:
        _authorize_other(session, principal, row.user_id, "revoke")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    audit.record(session, principal, "auth.token.revoke", target_type="api_token", target_id=row.id)
    return row
