"""FastAPI dependencies shared by every router: the database, the authenticated principal, and a
transaction (one unit of work per request).

Authentication: ``Authorization: Bearer <API token>`` (machine clients) or the browser session cookie; a
state-changing request (POST/PUT/PATCH/DELETE) authenticated by the cookie must carry the session's CSRF token
(header ``X-CSRF-Token`` or form field ``csrf_token``). Failures raise AuthenticationError (401) or
PermissionDenied (403).

One request, one transaction: ``get_session`` opens it and checks the API token inside it (the token row is
read on every request, so a revoked or expired token is refused at once), the route runs in it, and it commits
before the response is sent. A browser session is checked in a short transaction of its own before that one,
because the check may slide the session's ``last_seen_at`` forward, which must stick even when the request
then fails. Refusals (a failed authentication, PermissionDenied, RateLimited, a missing search reason) roll
the request's transaction back and are then audited in a transaction of their own. A unique key (identity
document, FIR key, case link) written by a concurrent request between a service's check and its insert
fails at flush or commit: that is answered 409 naming the field, like the service's own check.

Cost: ``get_session`` is the only dependency that runs in the thread pool (entered once, left once);
``get_principal`` and ``get_db`` run on the event loop and do no I/O. A route on SessionDep crosses to a
worker thread three times (session in, route, session out); the hot reads use :func:`in_transaction`
instead, which does the same work in one crossing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crms.access.principal import Principal
from crms.db import Database
from crms.errors import AuthenticationError, Conflict, PermissionDenied, RateLimited, ValidationError

T = TypeVar("T")

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


def _bearer(request: Request) -> str | None:
    """The API token of an ``Authorization`` header; None without the header."""
    header = request.headers.get("authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("use 'Authorization: Bearer <token>'")
    return token.strip()


def _cookie_principal(request: Request, db: Database) -> Principal:
    """Check the browser session (own transaction) and, for a change, its CSRF token."""
    from crms.access.sessions import COOKIE, CSRF_HEADER, check_csrf_for_session, principal_from_session

    cookie = request.cookies.get(COOKIE)
    if not cookie:
        raise AuthenticationError("authentication required: send 'Authorization: Bearer <token>' or log in")
    with db.transaction() as session:
        principal = principal_from_session(session, cookie, address=client_address(request))
    request.state.principal = principal  # a CSRF refusal below is audited under this user
    if request.method not in SAFE_METHODS:
        check_csrf_for_session(app_secret(request), cookie, request.headers.get(CSRF_HEADER))
    return principal


# Unique constraints whose violation a service checks for first (and answers 409 naming the field): a
# violation at flush or commit means that a concurrent request wrote the same key between the check and the
# insert. The field each one names, and what to say.
UNIQUE_KEYS = {
    "uq_identity_documents_type_number": ("number", "an identity document with this type and number"),
    "uq_cases_fir_key": ("fir_number", "an FIR with this police station, FIR number and year"),
    "uq_case_parties_link": ("person_id", "a link of this person to this case in this role"),
}
_SQLITE_UNIQUE = "UNIQUE constraint failed: "


def _constraint_of(exc: IntegrityError) -> str | None:
    """The name of the unique constraint an IntegrityError violated (PostgreSQL reports it; SQLite reports
    the table's columns, matched here against the constraints of the models)."""
    diag = getattr(exc.orig, "diag", None)
    if diag is not None:
        return getattr(diag, "constraint_name", None)
    text = str(exc.orig)
    if not text.startswith(_SQLITE_UNIQUE):
        return None
    columns = text[len(_SQLITE_UNIQUE) :].strip()
    from sqlalchemy import UniqueConstraint

    from crms.db import Base

    for table in Base.metadata.tables.values():
        for constraint in table.constraints:
            if isinstance(constraint, UniqueConstraint):
                key = ", ".join(f"{table.name}.{c.name}" for c in constraint.columns)
                if key == columns:
                    return str(constraint.name)
    return None


def conflict_from_integrity(exc: IntegrityError) -> Conflict | None:
    """A 409 naming the field for a unique key written by a concurrent request; None for anything else."""
    known = UNIQUE_KEYS.get(_constraint_of(exc) or "")
    if known is None:
        return None
    field, what = known
    return Conflict(f"{what} is already recorded (by a request that ran at the same time)", field=field)


@contextmanager
def request_transaction(request: Request) -> Iterator[Session]:
    """Authenticate and run the request in one transaction: committed when the block ends, rolled back on
    any error; refusals are then audited in a transaction of their own (see the module docstring)."""
    from crms.access import audit
    from crms.access.tokens import principal_from_token

    db: Database = request.app.state.db
    request.state.principal = None
    try:
        token = _bearer(request)
        if token is None:
            principal = _cookie_principal(request, db)
        with db.transaction() as session:
            if token is not None:
                principal = principal_from_token(session, token, address=client_address(request))
                request.state.principal = principal
            yield session
    except AuthenticationError as exc:
        audit.record_refusal(db, anonymous(request), "auth.refused", exc.message, query=_where(request))
        raise
    except (PermissionDenied, RateLimited) as exc:
        who = request.state.principal or anonymous(request)
        audit.record_refusal(db, who, "access.refused", exc.message, query=_where(request))
        raise
    except ValidationError as exc:
        if exc.field == "reason":
            who = request.state.principal or anonymous(request)
            audit.record_refusal(db, who, "access.refused", exc.message, query=_where(request))
        raise
    except IntegrityError as exc:  # at flush or at commit: rolled back by now
        conflict = conflict_from_integrity(exc)
        if conflict is None:
            raise
        raise conflict from exc


def get_session(request: Request) -> Iterator[Session]:
    """The request's transaction as a FastAPI dependency (:func:`request_transaction`)."""
    with request_transaction(request) as session:
        yield session


async def in_transaction(request: Request, work: Callable[[Session, Principal], T]) -> T:
    """Run ``work(session, principal)`` in the request's transaction with exactly one hand-over to the
    thread pool: authentication, the work and the commit all happen in that one call. The same rules as
    :data:`SessionDep` (it is the same :func:`request_transaction`); for the hot reads (CNIC lookup, full
    record), where each extra hand-over to a thread and back costs a wake-up of two threads, which on a busy
    machine is a wait for a free core."""

    def call() -> T:
        with request_transaction(request) as session:
            return work(session, request.state.principal)

    return await run_in_threadpool(call)


# Use these in routes. scope="function" commits before the response is sent, so a failed commit is an error
# response, never a 200 for something that was not written.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def get_principal(request: Request, session: SessionDep) -> Principal:
    """The caller authenticated by :func:`get_session` (no I/O, so it runs on the event loop)."""
    return request.state.principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(permission):
    """A dependency that authenticates and checks one permission up front (for routes whose service takes
    no principal); a refusal rolls the request back and is audited by :func:`get_session`."""
    from crms.access.policy import authorize

    async def _dep(principal: PrincipalDep) -> Principal:
        authorize(principal, permission)
        return principal

    return _dep
