"""One unit of work per action, the same for every adapter (API, web, CLI): authenticate, run the action in
one transaction, audit refusals, and answer a unique key written concurrently as a 409 naming the field.

``unit_of_work(db, where=..., principal=... | authenticate=...)`` opens the transaction and yields a
:class:`Work` (``.session``, ``.principal``):

- ``principal``: the caller is already known (a CLI command authenticated before; an internal job).
- ``authenticate(session) -> Principal``: run inside the action's transaction (an API token: the token row is
  read in the same transaction as the work, one BEGIN and one COMMIT per request).
- ``pre_authenticate(session) -> Principal``: run before, in a transaction of its own (a browser session,
  whose check slides ``last_seen_at`` forward, which must stick even when the action then fails);
  ``after_authenticate(principal)`` then runs further checks (the session's CSRF token) whose refusal is
  audited under that principal.

Refusals roll the action back and are then audited in a transaction of their own: a failed authentication
as ``auth.refused`` under ``anonymous``; PermissionDenied, RateLimited and a missing reason (ValidationError
on field ``reason``) as ``access.refused`` under the caller. A unique key (identity document, FIR key, case
link) written by a concurrent action between a service's check and its insert fails at flush or commit: that
becomes :class:`~crms.errors.Conflict` naming the field, like the service's own check. So does a versioned
row (a person, a case) that a concurrent action changed after this one read it (SQLAlchemy's
``StaleDataError`` at flush): this action's change would silently undo the other's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from crms.access.principal import Principal
from crms.db import has_written
from crms.errors import AuthenticationError, Conflict, PermissionDenied, RateLimited, ValidationError

# Unique constraints whose violation a service checks for first (and answers 409 naming the field): a
# violation at flush or commit means that a concurrent action wrote the same key between the check and the
# insert. The field each one names, and what to say.
UNIQUE_KEYS = {
    "uq_identity_documents_type_number": ("number", "an identity document with this type and number"),
    "uq_cases_fir_key": ("fir_number", "an FIR with this police station, FIR number and year"),
    "uq_case_parties_link": ("person_id", "a link of this person to this case in this role"),
}
_SQLITE_UNIQUE = "UNIQUE constraint failed: "
T = TypeVar("T")


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


def conflict_from_stale(exc: StaleDataError) -> Conflict:
    """The Conflict for a versioned row that a concurrent action changed between this one's read and its write
    (field ``version``; the table is named when SQLAlchemy's message names it)."""
    match = re.search(r"on table '(\w+)'", str(exc))
    what = f"this {match.group(1).removesuffix('s')} record" if match else "this record"
    return Conflict(
        f"{what} was changed by another action at the same time; nothing was saved: read it again and make "
        "the change on what it holds now",
        field="version",
    )


def conflict_from_integrity(exc: IntegrityError) -> Conflict | None:
    """A 409 naming the field for a unique key written by a concurrent action; None for anything else."""
    known = UNIQUE_KEYS.get(_constraint_of(exc) or "")
    if known is None:
        return None
    field, what = known
    return Conflict(f"{what} is already recorded (by a request that ran at the same time)", field=field)


@dataclass
class Work:
    """What a unit of work hands its block: the transaction and the authenticated caller."""

    session: Session
    principal: Principal


@dataclass
class _Caller:
    principal: Principal | None = None


@contextmanager
def unit_of_work(
    db,
    *,
    where: str,
    anonymous: Principal,
    principal: Principal | None = None,
    authenticate: Callable[[Session], Principal] | None = None,
    pre_authenticate: Callable[[Session], Principal] | None = None,
    after_authenticate: Callable[[Principal], None] | None = None,
    on_principal: Callable[[Principal], None] | None = None,
    read_first: bool = False,
    deferred: list | None = None,
) -> Iterator[Work]:
    """Authenticate (exactly one of ``principal``, ``authenticate``, ``pre_authenticate``), run the block in
    one transaction, audit refusals; see the module docstring. ``where`` names the action in refusal
    entries; ``on_principal`` is told the caller as soon as it is known (the API keeps it on the request).
    ``read_first``: an action that reads and then writes only at its end (an audited read), run in
    :meth:`crms.db.Database.read_first_transaction` (it may raise :class:`crms.db.SnapshotMoved`: nothing was
    written, run the action again without ``read_first``).
    ``deferred`` (with ``read_first``): an audited read whose answer waits for its audit entries. The block's
    entries are collected (:func:`crms.access.audit.defer_entries`); if the block wrote nothing else they are
    left in ``deferred``, not written, for the caller to have written after the read's transaction and before
    its answer (:mod:`crms.access.audit_writer`); if it wrote something they are written in its
    transaction as usual."""
    from crms.access import audit

    if sum(x is not None for x in (principal, authenticate, pre_authenticate)) != 1:
        raise TypeError("give exactly one of principal, authenticate, pre_authenticate")
    caller = _Caller(principal)

    def known(who: Principal) -> None:
        caller.principal = who
        if on_principal is not None:
            on_principal(who)

    try:
        if pre_authenticate is not None:
            with db.transaction() as first:  # committed on its own, whatever the action then does
                known(pre_authenticate(first))
            if after_authenticate is not None:
                after_authenticate(caller.principal)
        elif principal is not None:
            known(principal)
        if deferred is not None and not read_first:
            raise TypeError("deferred needs read_first")
        with db.read_first_transaction() if read_first else db.transaction() as session:
            if deferred is not None:
                audit.defer_entries(session)
            if authenticate is not None:
                known(authenticate(session))
            yield Work(session, caller.principal)
            if deferred is not None:
                entries = audit.stop_deferring(session)
                if has_written(session):  # one transaction for what it wrote and its audit entries
                    audit.write_deferred(session, entries)
                else:
                    deferred.extend(entries)
    except AuthenticationError as exc:
        audit.record_refusal(db, anonymous, "auth.refused", exc.message, query=where)
        raise
    except (PermissionDenied, RateLimited) as exc:
        audit.record_refusal(db, caller.principal or anonymous, "access.refused", exc.message, query=where)
        raise
    except ValidationError as exc:
        if exc.field == "reason":
            who = caller.principal or anonymous
            audit.record_refusal(db, who, "access.refused", exc.message, query=where)
        raise
    except IntegrityError as exc:  # at flush or at commit: rolled back by now
        conflict = conflict_from_integrity(exc)
        if conflict is None:
            raise
        raise conflict from exc
    except StaleDataError as exc:  # at flush: rolled back by now
        raise conflict_from_stale(exc) from exc


def read_first(action: Callable[[bool], T]) -> T:
    """Run an action that reads first and writes only at its end: ``action(True)`` runs it in a read-first
    unit of work (``unit_of_work(..., read_first=True)``); when SQLite refused its first write because another
    connection committed during the read (:class:`crms.db.SnapshotMoved`, nothing written), ``action(False)``
    runs it once more with the write lock held from its start."""
    from crms.db import SnapshotMoved

    try:
        return action(True)
    except SnapshotMoved:
        return action(False)


def authenticate_alone(db, authenticate: Callable[[Session], Principal], *, where: str, anonymous: Principal):
    """Authenticate in a transaction of its own (committed); a refusal is audited as ``auth.refused``."""
    with unit_of_work(db, where=where, anonymous=anonymous, authenticate=authenticate) as work:
        return work.principal


_databases: dict[str, object] = {}


def database_not_ready(settings, exc: BaseException | None = None):
    """:class:`~crms.errors.DatabaseNotReady` where the database of ``settings`` has not the schema this code
    needs (an error ``exc`` of the database about a missing table or column, explained by it), else None."""
    from sqlalchemy.exc import DBAPIError

    from crms.errors import DatabaseNotReady

    if exc is not None and not _missing_schema(exc):
        return None
    try:
        problem = open_database(settings).schema_problem()
    except DBAPIError:  # the database cannot be read at all: the original error says more
        return None
    return DatabaseNotReady(problem) if problem else None


def _missing_schema(exc: BaseException) -> bool:
    """A database error about a table or column that does not exist (SQLite's words, PostgreSQL's code)."""
    from sqlalchemy.exc import DBAPIError

    if not isinstance(exc, DBAPIError):
        return False
    if getattr(exc.orig, "sqlstate", None) in {"42P01", "42703"}:  # undefined_table, undefined_column
        return True
    said = str(exc.orig)
    return said.startswith(("no such table", "no such column")) or "has no column named" in said


def set_up_new_database(settings) -> bool:
    """Give a new database (no table at all) its schema; True if it did. One that holds tables is left as it
    is (its upgrade is ``crms db upgrade``'s, never a side effect)."""
    db = open_database(settings)
    if not db.is_empty():
        return False
    db.upgrade()
    return True


def open_database(settings):
    """The Database of ``settings`` (one per URL in a process), bound to its data dir (audit head)."""
    from crms.access.audit import bind_data_dir
    from crms.db import Database

    db = _databases.get(settings.database_url)
    if db is None:
        db = Database(settings.database_url)
        _databases[settings.database_url] = db
    bind_data_dir(db, settings.data_dir)
    return db
