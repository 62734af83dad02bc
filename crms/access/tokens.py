"""API tokens for machine clients: random, stored only as a SHA-256 hash, scoped, expiring, revocable.

Verified tokens are cached in the process for a few seconds (``CRMS_TOKEN_CACHE_SECONDS``, default 5; ``0``
turns the cache off), keyed by the token's hash: a request with a token checked less than that long ago needs
no database read. Only accepted tokens are cached (an unknown, revoked or expired token is looked up every
time), an expiry is still checked on every use, and every revocation made in this process (a token revoked,
a logout, a password change or reset, a user disabled or given another role) empties the cache of this
process when its transaction commits. The bound: a token revoked by another process (another server worker,
the CLI) is refused at most ``CRMS_TOKEN_CACHE_SECONDS`` later.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import bindparam, event, select
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


DEFAULT_CACHE_SECONDS = 5.0
CACHE_MAX_ENTRIES = 10_000
_FORGET_KEY = "crms_forget_tokens"
# token hash -> (the principal without its address, expires_at, when it was checked: monotonic seconds)
_cache: dict[str, tuple[Principal, datetime, float]] = {}
_cache_lock = threading.Lock()
_generation = [0]  # moved on by every clear: a check that began before a revocation is not cached after it
_clock = time.monotonic  # (tests move it forward)


def cache_seconds() -> float:
    """How long a verified token is trusted without a database read (``CRMS_TOKEN_CACHE_SECONDS``)."""
    from crms.config import env_number

    return env_number("CRMS_TOKEN_CACHE_SECONDS", DEFAULT_CACHE_SECONDS, 0, 60, "seconds")


def clear_token_cache() -> None:
    """Forget every verified token of this process (the next request of each reads the database)."""
    with _cache_lock:
        _cache.clear()
        _generation[0] += 1


def forget_tokens(session: Session) -> None:
    """A revocation is being written in ``session``: empty this process's token cache now and again when the
    transaction commits (so that a request which read the token before the commit cannot keep it cached)."""
    clear_token_cache()
    session.info[_FORGET_KEY] = True


@event.listens_for(Session, "after_commit")
def _forget_after_commit(session: Session) -> None:
    if session.info.pop(_FORGET_KEY, False):
        clear_token_cache()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_FORGET_KEY, None)


def principal_from_token(session: Session, token: str, *, address: str | None = None) -> Principal:
    """The caller of an API token: one indexed query for the token and its user, or this process's cache of
    tokens verified less than :func:`cache_seconds` ago (see the module docstring for the bound on
    revocation). A revoked or expired token, or a disabled user, is refused. Nothing is written."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise AuthenticationError("malformed API token")
    token_hash = _hash(token)
    ttl = cache_seconds()
    if ttl > 0:
        cached = _cache.get(token_hash)
        if cached is not None:
            who, expires_at, checked = cached
            now = _clock()
            if now - checked < ttl and 0 <= now - checked and expires_at > utcnow():
                return replace(who, address=address)
            with _cache_lock:
                if _cache.get(token_hash) is cached:
                    del _cache[token_hash]
    checked, generation = _clock(), _generation[0]
    row = session.execute(_BY_HASH, {"token_hash": token_hash}).first()
    if row is None:
        raise AuthenticationError("unknown API token")
    if row.revoked_at is not None:
        raise AuthenticationError("API token revoked")
    if as_utc(row.expires_at) <= utcnow():
        raise AuthenticationError("API token expired")
    if row.id is None or not row.is_active:
        raise AuthenticationError("user disabled")
    who = Principal(
        user_id=row.id,
        username=row.username,
        role=row.role,
        unit=row.unit,
        channel="api",
        address=None,
        scopes=frozenset(row.scopes) if row.scopes is not None else None,
    )
    if ttl > 0 and session.info.get(_FORGET_KEY) is None:  # (not while this transaction revokes)
        with _cache_lock:
            if generation == _generation[0]:
                if len(_cache) >= CACHE_MAX_ENTRIES:
                    _cache.clear()
                _cache[token_hash] = (who, as_utc(row.expires_at), checked)
    return replace(who, address=address)


def revoke_token(session: Session, token_id: int) -> None:
    row = session.get(ApiToken, token_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        forget_tokens(session)


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
            forget_tokens(session)
        audit.record(session, principal, "auth.logout", target_type="api_token", target_id=row.id)
        return
    from crms.access.sessions import end_session

    end_session(session, web_session or "")
    audit.record(session, principal, "auth.logout", target_type="user", target_id=principal.user_id)


def _authorize_other(session: Session, principal: Principal, user_id: int, what: str) -> None:
    """Another user's tokens: an administrator whose unit contains that user's (the rule of every
    user-related service, crms.access.users)."""
    if not has_permission(principal, Permission.USER_ADMIN):
        raise PermissionDenied(f"only an administrator may {what} another user's tokens", kind="role")
    owner = session.get(User, user_id)
    if owner is not None and not unit_contains(principal.unit, owner.unit):
        raise PermissionDenied(
            f"user of unit {owner.unit} is outside your jurisdiction ({principal.unit})", kind="jurisdiction"
        )


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
        forget_tokens(session)
    audit.record(session, principal, "auth.token.revoke", target_type="api_token", target_id=row.id)
    return row
