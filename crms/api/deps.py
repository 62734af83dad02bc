"""FastAPI dependencies shared by every router: the database, the authenticated principal, and a
transaction (one unit of work per request)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from crms.access.principal import Principal
from crms.db import Database
from crms.errors import AuthenticationError


def get_db(request: Request) -> Database:
    return request.app.state.db


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def get_principal(request: Request, db: Database = Depends(get_db)) -> Principal:
    """Authenticate the caller: a Bearer API token (machine clients). The access-control area adds
    browser sessions. Failures raise AuthenticationError (401) and are audited."""
    from crms.access import audit
    from crms.access.principal import Principal as _P
    from crms.access.tokens import principal_from_token

    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    anonymous = _P(
        user_id=None, username="anonymous", role="none", channel="api", address=client_address(request)
    )
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("authentication required: send 'Authorization: Bearer <token>'")
    try:
        with db.transaction() as session:
            return principal_from_token(session, token.strip(), address=client_address(request))
    except AuthenticationError as exc:
        audit.record_refusal(db, anonymous, "auth.token", str(exc), query=request.url.path)
        raise


def get_session(db: Database = Depends(get_db)) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back on any error."""
    with db.transaction() as session:
        yield session


# Use these in routes. scope="function" commits before the response is sent, so a failed commit is an error
# response, never a 200 for something that was not written.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
