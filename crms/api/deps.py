"""FastAPI dependencies shared by every router: the database, the authenticated principal, and a
transaction (one unit of work per request).

Authentication: ``Authorization: Bearer <API token>`` (machine clients) or the browser session cookie; a
state-changing request (POST/PUT/PATCH/DELETE) authenticated by the cookie must carry the session's CSRF token
(header ``X-CSRF-Token`` or form field ``csrf_token``). Failures raise AuthenticationError (401) or
PermissionDenied (403) and are audited in their own transaction. Refusals raised by services inside the
request transaction (PermissionDenied, RateLimited, a missing search reason) are audited by ``get_session``
after the rollback.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from crms.access.principal import Principal
from crms.db import Database
from crms.errors import AuthenticationError, PermissionDenied, RateLimited, ValidationError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_db(request: Request) -> Database:
    return request.app.state.db


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def anonymous(request: Request) -> Principal:
    return Principal(
        user_id=None, username="anonymous", role="none", channel="api", address=client_address(request)
    )


def app_secret(request: Request) -> bytes:
    secret = getattr(request.app.state, "_secret", None)
    if secret is None:
        from crms.access.sessions import load_secret

        settings = request.app.state.settings
        secret = load_secret(settings.secret_key, settings.data_dir)
        request.app.state._secret = secret
    return secret


def _where(request: Request) -> str:
    return f"{request.method} {request.url.path}"


def get_principal(request: Request, db: Database = Depends(get_db)) -> Principal:
    """Authenticate the caller (API token or browser session); see the module docstring."""
    from crms.access import audit
    from crms.access.sessions import COOKIE, CSRF_HEADER, check_csrf_for_session, principal_from_session
    from crms.access.tokens import principal_from_token

    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    cookie = request.cookies.get(COOKIE)
    address = client_address(request)
    try:
        if header:
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthenticationError("use 'Authorization: Bearer <token>'")
            with db.transaction() as session:
                principal = principal_from_token(session, token.strip(), address=address)
        elif cookie:
            with db.transaction() as session:
                principal = principal_from_session(session, cookie, address=address)
            if request.method not in SAFE_METHODS:
                try:
                    check_csrf_for_session(app_secret(request), cookie, request.headers.get(CSRF_HEADER))
                except PermissionDenied as exc:
                    audit.record_refusal(db, principal, "access.refused", exc.message, query=_where(request))
                    raise
        else:
            raise AuthenticationError(
                "authentication required: send 'Authorization: Bearer <token>' or log in"
            )
    except AuthenticationError as exc:
        audit.record_refusal(db, anonymous(request), "auth.refused", exc.message, query=_where(request))
        raise
    request.state.principal = principal
    return principal


def get_session(request: Request, db: Database = Depends(get_db)) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back on any error. Refusals
    are then audited in a transaction of their own."""
    from crms.access import audit

    try:
        with db.transaction() as session:
            yield session
    except (PermissionDenied, RateLimited) as exc:
        who = getattr(request.state, "principal", None) or anonymous(request)
        audit.record_refusal(db, who, "access.refused", exc.message, query=_where(request))
        raise
    except ValidationError as exc:
        if exc.field == "reason":
            who = getattr(request.state, "principal", None) or anonymous(request)
            audit.record_refusal(db, who, "access.refused", exc.message, query=_where(request))
        raise


def require(permission):
    """A dependency that authenticates and checks one permission up front (for routes whose service takes
    no principal); refusals are audited."""
    from crms.access.policy import authorize

    def _dep(request: Request, principal: Principal = Depends(get_principal), db: Database = Depends(get_db)):
        try:
            authorize(principal, permission)
        except PermissionDenied as exc:
            from crms.access import audit

            audit.record_refusal(db, principal, "access.refused", exc.message, query=_where(request))
            raise
        return principal

    return _dep


# Use these in routes. scope="function" commits before the response is sent, so a failed commit is an error
# response, never a 200 for something that was not written.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
