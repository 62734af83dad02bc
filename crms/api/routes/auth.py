"""Login, logout and API tokens (``/api/v1/auth``). Thin: the rules live in crms.access."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from crms.access import audit
from crms.access.principal import Principal
from crms.api.deps import PrincipalDep, SessionDep, app_secret, client_address, get_db
from crms.api.params import IdPath, IdQuery
from crms.db import Database

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
def login(body: LoginIn, request: Request, response: Response, db: Database = Depends(get_db)) -> dict:
    """Start a browser session: sets the Secure, HttpOnly, SameSite=Strict session cookie and returns the
    CSRF token to send (header X-CSRF-Token) with state-changing requests."""
    from crms.access.sessions import COOKIE, IDLE_TIMEOUT, cookie_options, create_session, csrf_for_session
    from crms.access.users import login as do_login

    principal = do_login(
        db, body.username, body.password, totp=body.totp, address=client_address(request), channel="web"
    )
    with db.transaction() as session:
        token = create_session(session, principal)
    response.set_cookie(COOKIE, token, **cookie_options(int(IDLE_TIMEOUT.total_seconds()) * 24))
    return {"user": _me(principal), "csrf_token": csrf_for_session(app_secret(request), token)}


@router.post("/logout")
def logout(request: Request, response: Response, principal: PrincipalDep, session: SessionDep) -> dict:
    """End the browser session, or revoke the API token this request was made with."""
    from crms.access.models import ApiToken
    from crms.access.sessions import COOKIE, end_session
    from crms.access.tokens import _hash

    header = request.headers.get("authorization", "")
    if header:
        row = (
            session.query(ApiToken)
            .filter(ApiToken.token_hash == _hash(header.partition(" ")[2].strip()))
            .one()
        )
        from crms.timeutil import utcnow

        row.revoked_at = utcnow()
        audit.record(session, principal, "auth.logout", target_type="api_token", target_id=row.id)
    else:
        end_session(session, request.cookies.get(COOKIE, ""))
        audit.record(session, principal, "auth.logout", target_type="user", target_id=principal.user_id)
        response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return {"logged_out": True}


@router.get("/me")
def me(request: Request, principal: PrincipalDep) -> dict:
    from crms.access.sessions import COOKIE, csrf_for_session

    out = _me(principal)
    cookie = request.cookies.get(COOKIE)
    if principal.channel == "web" and cookie:
        out["csrf_token"] = csrf_for_session(app_secret(request), cookie)
    return out


@router.post("/tokens", status_code=201)
def create_token(body: TokenIn, request: Request, db: Database = Depends(get_db)) -> dict:
    """Exchange credentials (password, and TOTP where required) for a scoped, expiring API token. The
    token is shown once; only its hash is stored."""
    from crms.access.models import ApiToken, User
    from crms.access.tokens import _hash, issue_token
    from crms.access.users import login as do_login

    principal = do_login(
        db, body.username, body.password, totp=body.totp, address=client_address(request), channel="api"
    )
    with db.transaction() as session:
        user = session.get(User, principal.user_id)
        token = issue_token(session, user, name=body.name, scopes=body.scopes, ttl_days=body.ttl_days)
        row = session.query(ApiToken).filter(ApiToken.token_hash == _hash(token)).one()
        audit.record(
            session,
            principal,
            "auth.token.issue",
            target_type="api_token",
            target_id=row.id,
            query={"name": body.name, "scopes": body.scopes, "ttl_days": body.ttl_days},
        )
        return {"id": row.id, "token": token, "expires_at": row.expires_at.isoformat(), "scopes": row.scopes}


@router.get("/tokens")
def my_tokens(principal: PrincipalDep, session: SessionDep, user_id: IdQuery = None) -> list[dict]:
    from crms.access.tokens import list_tokens, token_dict

    return [token_dict(t) for t in list_tokens(session, principal, user_id=user_id)]


@router.delete("/tokens/{token_id}")
def revoke_token(token_id: IdPath, principal: PrincipalDep, session: SessionDep) -> dict:
    from crms.access.tokens import revoke, token_dict

    return token_dict(revoke(session, principal, token_id))
