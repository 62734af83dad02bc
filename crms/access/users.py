"""User accounts (the access-control issue completes this: lockout, MFA, sessions)."""

from __future__ import annotations

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from crms.access.models import User
from crms.access.policy import Role
from crms.errors import Conflict, ValidationError

_hasher = PasswordHasher()  # Argon2id


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def create_user(
    session: Session,
    username: str,
    role: str,
    *,
    unit: str = "BA",
    full_name: str = "",
    password: str | None = None,
    phone: str | None = None,
) -> User:
    try:
        role = Role(role).value
    except ValueError:
        raise ValidationError(f"unknown role '{role}'", field="role") from None
    if not username or len(username) > 64:
        raise ValidationError("username must be 1-64 characters", field="username")
    if session.scalar(select(User).where(User.username == username)):
        raise Conflict(f"user '{username}' already exists", field="username")
    user = User(
        username=username,
        role=role,
        unit=unit,
        full_name=full_name,
        phone=phone,
        password_hash=hash_password(password) if password else None,
    )
    session.add(user)
    session.flush()
    return user
