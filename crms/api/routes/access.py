"""User administration (``/api/v1/users``): administrators only, within their unit. Thin: the rules live in
crms.access.users."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from crms.access import users as svc
from crms.access.principal import PROVINCE
from crms.api.deps import PrincipalDep, SessionDep
from crms.api.params import IdPath
from crms.timeutil import iso_or_none

router = APIRouter(prefix="/users", tags=["users"])


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    role: str = Field(max_length=32)
    unit: str = Field(default=PROVINCE, max_length=200)
    full_name: str = Field(default="", max_length=200)
    # Refused when given: the user sets the password with the enrolment code (kept so that a client that
    # sends one is told so, rather than having it silently dropped).
    password: str | None = Field(default=None, max_length=256)
    phone: str | None = Field(default=None, max_length=32)
    pin: str | None = Field(default=None, max_length=8)
    totp: bool | None = None


class UserPatch(BaseModel):
    role: str | None = Field(default=None, max_length=32)
    unit: str | None = Field(default=None, max_length=200)
    is_active: bool | None = None


class SmsLoginIn(BaseModel):
    phone: str | None = Field(default=None, max_length=32)
    pin: str | None = Field(default=None, max_length=8)


@router.get("")
def list_users(principal: PrincipalDep, session: SessionDep) -> list[dict]:
    return [svc.user_dict(u) for u in svc.list_users(session, principal)]


def _with_code(user) -> dict:
    """The account and, when one was just issued, its enrolment code (shown once, to hand to the user)."""
    out = svc.user_dict(user)
    code = getattr(user, "enrolment_code", None)
    if code:
        out.update(enrolment_code=code, enrolment_expires_at=iso_or_none(user.enrolment_expires_at))
    return out


@router.post("", status_code=201)
def add_user(body: UserIn, principal: PrincipalDep, session: SessionDep) -> dict:
    """Create an account: answered with a one-time enrolment code for the user (the administrator never
    chooses the password); a privileged role waits for a second administrator's approval."""
    user = svc.add_user(
        session, principal, body.username, body.role, **body.model_dump(exclude={"username", "role"})
    )
    return _with_code(user)


@router.get("/{user_id}")
def get_user(user_id: IdPath, principal: PrincipalDep, session: SessionDep) -> dict:
    return svc.user_dict(svc.get_user(session, principal, user_id))


@router.patch("/{user_id}")
def patch_user(user_id: IdPath, body: UserPatch, principal: PrincipalDep, session: SessionDep) -> dict:
    user = svc.get_user(session, principal, user_id)
    if body.role is not None or body.unit is not None:
        user = svc.set_role(session, principal, user_id, body.role or user.role, body.unit)
    if body.is_active is not None:
        user = svc.set_active(session, principal, user_id, body.is_active)
    return _with_code(user)


@router.post("/{user_id}/reset")
def reset_account(user_id: IdPath, principal: PrincipalDep, session: SessionDep) -> dict:
    """Reset an account (forgotten password, lost authenticator): a new enrolment code for the user."""
    return _with_code(svc.reset_account(session, principal, user_id))


@router.post("/{user_id}/reset-mfa")
def reset_mfa(user_id: IdPath, principal: PrincipalDep, session: SessionDep) -> dict:
    """A lost authenticator: the same as a reset (the user enrols the new one with the enrolment code)."""
    return _with_code(svc.reset_mfa(session, principal, user_id))


@router.post("/{user_id}/reset-sms")
def reset_sms_login(user_id: IdPath, body: SmsLoginIn, principal: PrincipalDep, session: SessionDep) -> dict:
    """An SMS officer's lost phone or PIN: the administrator sets a new phone number and/or PIN (told to the
    officer in person, never answered back); the old ones stop working at once."""
    return svc.user_dict(svc.reset_sms_login(session, principal, user_id, phone=body.phone, pin=body.pin))


@router.post("/{user_id}/approve")
def approve(user_id: IdPath, principal: PrincipalDep, session: SessionDep) -> dict:
    """A second administrator approves a privileged account (not the one who set it up)."""
    return svc.user_dict(svc.approve(session, principal, user_id))
