"""Browser sessions (server-side table; the cookie holds only a random id) and CSRF tokens.

- Cookie ``crms_session``: Secure, HttpOnly, SameSite=Strict, Path=/; the table stores SHA-256 of the id.
- Idle timeout 30 minutes, absolute lifetime 12 hours; logout, disabling the user or changing the role
  revokes it.
- CSRF: a synchroniser token bound to the session, ``HMAC-SHA256(secret, "csrf:" + session id)``, required on
  every state-changing request made with the cookie (form field ``csrf_token`` or header ``X-CSRF-Token``).
  Before login (the login form itself) a double-submit token: cookie ``crms_csrf`` = random nonce, form field
  = nonce + "." + HMAC(secret, "login:" + nonce).
- The secret is CRMS_SECRET_KEY, or a random key generated once into <data dir>/keys/secret.key (0600).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from crms.access.models import User, WebSession
from crms.access.principal import Principal
from crms.errors import AuthenticationError, PermissionDenied
from crms.timeutil import as_utc, utcnow

COOKIE = "crms_session"
CSRF_COOKIE = "crms_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_LIFETIME = timedelta(hours=12)
_TOUCH_EVERY = timedelta(seconds=30)  # write last_seen_at at most this often


def cookie_options(max_age: int | None = None) -> dict:
    return {"httponly": True, "secure": True, "samesite": "strict", "path": "/", "max_age": max_age}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def load_secret(secret_key: str | None, data_dir: Path) -> bytes:
    if secret_key:
        return secret_key.encode()
    path = data_dir / "keys" / "secret.key"
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_urlsafe(48).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(value)
    return value


def create_session(session: Session, principal: Principal) -> str:
    """A new session for a freshly authenticated principal; returns the cookie value (shown once)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        WebSession(
            token_hash=_hash(token),
            user_id=principal.user_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + ABSOLUTE_LIFETIME,
            address=principal.address,
        )
    )
    session.flush()
    return token


def start_session(
    db, username: str, password: str, *, totp: str | None = None, address: str | None = None
) -> tuple[Principal, str]:
    """Log in (checked, rate limited and audited by :func:`crms.access.users.login`) and open a browser
    session; returns the caller and the cookie value (shown once)."""
    from crms.access.users import login

    principal = login(db, username, password, totp=totp, address=address, channel="web")
    with db.transaction() as session:
        return principal, create_session(session, principal)


def principal_from_session(session: Session, token: str, *, address: str | None = None) -> Principal:
    row = session.scalar(select(WebSession).where(WebSession.token_hash == _hash(token)))
    now = utcnow()
    if row is None:
        raise AuthenticationError("unknown session: log in again")
    if row.revoked_at is not None:
        raise AuthenticationError("session ended: log in again")
    if as_utc(row.expires_at) <= now:
        raise AuthenticationError("session expired (absolute lifetime): log in again")
    if as_utc(row.last_seen_at) + IDLE_TIMEOUT <= now:
        row.revoked_at = now
        raise AuthenticationError("session expired after 30 minutes idle: log in again")
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise AuthenticationError("user disabled")
    if now - as_utc(row.last_seen_at) >= _TOUCH_EVERY:
        row.last_seen_at = now
    return Principal(
        user_id=user.id,
        username=user.username,
        role=user.role,
        unit=user.unit,
        channel="web",
        address=address,
    )


def end_session(session: Session, token: str) -> bool:
    row = session.scalar(select(WebSession).where(WebSession.token_hash == _hash(token)))
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    return True


# --------------------------------------------------------------------------------------------- CSRF


def _mac(secret: bytes, message: str) -> str:
    return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()


def csrf_for_session(secret: bytes, session_token: str) -> str:
    return _mac(secret, "csrf:" + session_token)


def check_csrf_for_session(secret: bytes, session_token: str, supplied: str | None) -> None:
    if not supplied or not hmac.compare_digest(csrf_for_session(secret, session_token), supplied):
        raise PermissionDenied("missing or invalid CSRF token", field=CSRF_FIELD)


def new_login_csrf(secret: bytes) -> tuple[str, str]:
    """(cookie value, form value) for the login form (double-submit, signed)."""
    nonce = secrets.token_urlsafe(24)
    return nonce, nonce + "." + _mac(secret, "login:" + nonce)


def check_login_csrf(secret: bytes, cookie_value: str | None, supplied: str | None) -> None:
    ok = False
    if cookie_value and supplied and "." in supplied:
        nonce, _, mac = supplied.rpartition(".")
        ok = hmac.compare_digest(nonce, cookie_value) and hmac.compare_digest(
            mac, _mac(secret, "login:" + nonce)
        )
    if not ok:
        raise PermissionDenied("missing or invalid CSRF token", field=CSRF_FIELD)
