"""FastAPI dependencies shared by every router: the database, the authenticated principal, and a
transaction (one unit of work per request).

Authentication: ``Authorization: Bearer <API token>`` (machine clients) or the browser session cookie; a
state-changing request (POST/PUT/PATCH/DELETE) authenticated by the cookie must carry the session's CSRF token
(header ``X-CSRF-Token`` or form field ``csrf_token``). Failures raise AuthenticationError (401) or
PermissionDenied (403).

One request, one transaction: ``get_session`` opens it and checks the API token inside it (the token row is
read unless this process verified the token less than ``CRMS_TOKEN_CACHE_SECONDS`` ago: a revocation made in
this process is refused at once, one made elsewhere within those seconds; crms.access.tokens), the route runs
in it, and it commits
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
from typing import TYPE_CHECKING, Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from crms.access.audit_writer import writer_for
from crms.access.principal import Principal
from crms.access.work import conflict_from_integrity  # noqa: F401  (re-exported: older imports)
from crms.access.work import read_first as run_read_first
from crms.errors import AuthenticationError

if TYPE_CHECKING:
    from crms.db import Database

T = TypeVar("T")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_db(request: Request) -> Database:
    return request.app.state.db


def biometric_store(request: Request):
    """The encrypted store of biometric files (images, templates), made once per application."""
    store = getattr(request.app.state, "biometric_store", None)
    if store is None:
        from crms.access.crypto import EncryptedStore

        store = request.app.state.biometric_store = EncryptedStore.from_settings(request.app.state.settings)
    return store


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
    return f"{request.method} {request.scope['path']}"  # (request.url builds a URL object: 1 % of a lookup)


def _bearer(request: Request) -> str | None:
    """The API token of an ``Authorization`` header; None without the header."""
    header = request.headers.get("authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("use 'Authorization: Bearer <token>'")
    return token.strip()


def _cookie_check(request: Request):
    """Check the browser session (in a transaction of its own, see crms.access.work)."""
    from crms.access.sessions import COOKIE, principal_from_session

    def check(session: Session) -> Principal:
        cookie = request.cookies.get(COOKIE)
        if not cookie:
            raise AuthenticationError(
                "authentication required: send 'Authorization: Bearer <token>' or log in"
            )
        return principal_from_session(session, cookie, address=client_address(request))

    return check


def _csrf_check(request: Request):
    """For a change made with the cookie: the session's CSRF token (refused as PermissionDenied)."""
    from crms.access.sessions import COOKIE, CSRF_HEADER, check_csrf_for_session

    def check(principal: Principal) -> None:
        if request.method not in SAFE_METHODS:
            cookie = request.cookies.get(COOKIE, "")
            check_csrf_for_session(app_secret(request), cookie, request.headers.get(CSRF_HEADER))

    return check


def _token_check(request: Request):
    from crms.access.tokens import principal_from_token

    def check(session: Session) -> Principal:
        return principal_from_token(session, _bearer(request) or "", address=client_address(request))

    return check


@contextmanager
def request_transaction(
    request: Request, *, read_first: bool = False, deferred: list | None = None
) -> Iterator[Session]:
    """Authenticate and run the request in one transaction: the shared unit of work of
    :func:`crms.access.work.unit_of_work` (committed when the block ends, rolled back on any error, refusals
    audited in a transaction of their own, a concurrent unique key answered 409); ``read_first`` and
    ``deferred`` as there."""
    from crms.access.work import unit_of_work

    db: Database = request.app.state.db
    request.state.principal = None

    def keep(principal: Principal) -> None:
        request.state.principal = principal

    where, anon = _where(request), anonymous(request)
    if request.headers.get("authorization"):
        auth = {"authenticate": _token_check(request)}
    else:
        auth = {"pre_authenticate": _cookie_check(request), "after_authenticate": _csrf_check(request)}
    with unit_of_work(
        db, where=where, anonymous=anon, on_principal=keep, read_first=read_first, deferred=deferred, **auth
    ) as work:
        yield work.session


def get_session(request: Request) -> Iterator[Session]:
    """The request's transaction as a FastAPI dependency (:func:`request_transaction`)."""
    with request_transaction(request) as session:
        yield session


async def in_transaction(
    request: Request, work: Callable[[Session, Principal], T], *, read_first: bool = False
) -> T:
    """Run ``work(session, principal)`` in the request's transaction with one hand-over to the thread pool
    (none for ``read_first``): authentication, the work and the commit all happen in that one call. The same
    rules as :data:`SessionDep` (it is the same :func:`request_transaction`); for the hot reads (CNIC lookup,
    full record), where each extra hand-over to a thread and back costs a wake-up of two threads, which on a
    busy machine is a wait for a free core.

    ``read_first``: ``work`` is an audited read: it reads, and its only writes are its audit entries (with
    their rate-limit tokens). It runs on the event loop itself, without the hand-over to a thread and back
    (measured: 0.7 ms of CPU less per lookup on SQLite, and on PostgreSQL on the same machine 358-398 against
    247-275 lookups/s), in a transaction that holds no write lock
    (:meth:`crms.db.Database.read_first_transaction`), its entries collected instead of written; they are
    then written together with those of the other reads of this turn of the loop, in one transaction
    (:mod:`crms.access.audit_writer`), and the answer is given once they are committed (a refusal by the
    search rate limit is audited there and answered 429). If ``work`` wrote something else after all, its
    entries go into its own transaction (on SQLite, when another request committed during the read, nothing
    has been written and the whole action runs once more holding the write lock from its start). The loop
    waits while the database answers: with a database on another machine, serve with more workers."""
    deferred: list | None = [] if read_first else None

    def attempt(first: bool) -> T:
        if deferred is not None:
            deferred.clear()
        with request_transaction(request, read_first=first, deferred=deferred if first else None) as session:
            return work(session, request.state.principal)

    if not read_first:
        return await run_in_threadpool(attempt, False)
    result = run_read_first(attempt)
    if deferred:
        await writer_for(request.app.state.db).submit(deferred, where=_where(request))
    return result


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
