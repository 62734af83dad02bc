"""Login, logout and API tokens (``/api/v1/auth``). Thin: the rules live in crms.access."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from crms.access.principal import Principal
from crms.api.deps import PrincipalDep, SessionDep, app_secret, client_address
from crms.api.params import IdPath, IdQuery

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    totp: str | None = Field(default=None, max_length=10)


class TokenIn(LoginIn):
    name: str = Field(default="", max_length=100)
    scopes: list[str] | None = Field(default=None, max_length=50)
    ttl_days: float = Field(default=30, gt=0, le=365)


def _me(principal: Principal) -> dict:
    return {
        "user_id": principal.user_id,
        "username": principal.username,
        "role": principal.role,
        "unit": principal.unit,
        "channel": principal.channel,
        "scopes": sorted(principal.scopes) if principal.scopes is not None else None,
    }


@router.post("/login")
def login(body: LoginIn, request: Request, response: Response) -> dict:
    """Start a browser session: sets the Secure, HttpOnly, SameSite=Strict session cookie and returns the
    CSRF token to send (header X-CSRF-Token) with state-changing requests."""
    from crms.access.sessions import COOKIE, IDLE_TIMEOUT, cookie_options, csrf_for_session, start_session

    principal, token = start_session(
        request.app.state.db, body.username, body.password, totp=body.totp, address=client_address(request)
    )
    response.set_cookie(COOKIE, token, **cookie_options(int(IDLE_TIMEOUT.total_seconds()) * 24))
    return {"user": _me(principal), "csrf_token": csrf_for_session(app_secret(request), token)}


@router.post("/logout")
def logout(request: Request, response: Response, principal: PrincipalDep, session: SessionDep) -> dict:
    """End the browser session, or revoke the API token this request was made with."""
    from crms.access.sessions import COOKIE
    from crms.access.tokens import logout as end

    header = request.headers.get("authorization", "")
    if header:
        end(session, principal, token=header.partition(" ")[2].strip())
    else:
        end(session, principal, web_session=request.cookies.get(COOKIE, ""))
        response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return {"logged_out": True}


class PasswordIn(LoginIn):
    new_password: str = Field(min_length=1, max_length=256)


class ActivateIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    enrolment_code: str = Field(min_length=1, max_length=64)
    new_password: str = Field(min_length=1, max_length=256)


@router.post("/password")
def change_password(body: PasswordIn, request: Request) -> dict:
    """Change your own password (the current one, and TOTP where enrolled, checked like a login; also when
    a change is required). Every token and session of the account is revoked: log in again."""
    from crms.access.users import change_password as change

    principal = change(
        request.app.state.db,
        body.username,
        body.password,
        body.new_password,
        totp=body.totp,
        address=client_address(request),
        channel="api",
    )
    return {"changed": True, "user": _me(principal)}


@router.post("/activate")
def activate(body: ActivateIn, request: Request) -> dict:
    """Turn the one-time enrolment code of a new or reset account into a password; where the role needs
    TOTP, the answer carries the new secret (once) for the user's authenticator app."""
    from crms.access.users import activate as redeem

    return redeem(
        request.app.state.db,
        body.username,
        body.enrolment_code,
        body.new_password,
        address=client_address(request),
        channel="api",
    )


@router.get("/me")
def me(request: Request, principal: PrincipalDep) -> dict:
    from crms.access.sessions import COOKIE, csrf_for_session

    out = _me(principal)
    cookie = request.cookies.get(COOKIE)
    if principal.channel == "web" and cookie:
        out["csrf_token"] = csrf_for_session(app_secret(request), cookie)
    return out


@router.post("/tokens", status_code=201)
def create_token(body: TokenIn, request: Request) -> dict:
    """Exchange credentials (password, and TOTP where required) for a scoped, expiring API token. The
    token is shown once; only its hash is stored."""
    from crms.access.tokens import create_token as exchange

    return exchange(
        request.app.state.db,
        body.username,
        body.password,
        totp=body.totp,
        address=client_address(request),
        channel="api",
        name=body.name,
        scopes=body.scopes,
        ttl_days=body.ttl_days,
    )


@router.get("/tokens")
def my_tokens(principal: PrincipalDep, session: SessionDep, user_id: IdQuery = None) -> list[dict]:
    from crms.access.tokens import list_tokens, token_dict

    return [token_dict(t) for t in list_tokens(session, principal, user_id=user_id)]


@router.delete("/tokens/{token_id}")
def revoke_token(token_id: IdPath, principal: PrincipalDep, session: SessionDep) -> dict:
    from crms.access.tokens import revoke, token_dict

    return token_dict(revoke(session, principal, token_id))
