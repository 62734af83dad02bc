"""Who is running a CLI command: ``cli_principal()``.

Credentials come from the environment, never from arguments (they would show in ``ps`` and shell history):
``CRMS_TOKEN`` (an API token), or ``CRMS_USER`` + ``CRMS_PASSWORD`` (+ ``CRMS_TOTP`` for roles with mandatory
MFA). The login is checked, rate limited and audited exactly like the web and API ones. Also: ``open_db()``,
``unit_of_work()`` (a transaction whose refusals are audited) and ``cli_errors()`` (CrmsError -> message +
exit code: 1 not found, 2 invalid input or conflict, 3 not authenticated / not allowed / rate limited).
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer

from crms.access.principal import Principal
from crms.errors import (
    AuthenticationError,
    Conflict,
    CrmsError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationError,
)

_db_cache: dict[str, object] = {}


def open_db():
    """The configured database (schema must be up to date), bound to the data dir for the audit head."""
    from crms.access.audit import bind_data_dir
    from crms.config import get_settings
    from crms.db import Database

    settings = get_settings()
    db = _db_cache.get(settings.database_url)
    if db is None:
        db = Database(settings.database_url)
        bind_data_dir(db, settings.data_dir)
        _db_cache[settings.database_url] = db
    return db


def cli_address() -> str:
    try:
        who = getpass.getuser()
    except Exception:  # noqa: BLE001
        who = "?"
    return f"cli:{who}@{socket.gethostname()}"[:64]


def cli_principal(permission_hint=None, db=None) -> Principal:
    """Authenticate the CLI caller from CRMS_TOKEN or CRMS_USER/CRMS_PASSWORD[/CRMS_TOTP]."""
    from crms.access import audit
    from crms.access.tokens import principal_from_token
    from crms.access.users import login

    db = db or open_db()
    address = cli_address()
    token = os.environ.get("CRMS_TOKEN", "").strip()
    if token:
        try:
            with db.transaction() as session:
                principal = principal_from_token(session, token, address=address)
        except AuthenticationError as exc:
            anon = Principal(user_id=None, username="anonymous", role="none", channel="cli", address=address)
            audit.record_refusal(db, anon, "auth.refused", exc.message, query="CRMS_TOKEN")
            raise
        return dataclasses.replace(principal, channel="cli")
    username = os.environ.get("CRMS_USER", "").strip()
    password = os.environ.get("CRMS_PASSWORD")
    if not username or password is None:
        raise AuthenticationError(
            "log in first: set CRMS_USER and CRMS_PASSWORD (and CRMS_TOTP if your role needs it), "
            "or CRMS_TOKEN",
            field="CRMS_USER",
        )
    return login(
        db, username, password, totp=os.environ.get("CRMS_TOTP") or None, address=address, channel="cli"
    )


@contextmanager
def unit_of_work(db, principal: Principal, what: str) -> Iterator:
    """One transaction for one CLI action; PermissionDenied / RateLimited / a missing reason are audited in
    a transaction of their own after the rollback."""
    from crms.access import audit

    try:
        with db.transaction() as session:
            yield session
    except (PermissionDenied, RateLimited) as exc:
        audit.record_refusal(db, principal, "access.refused", exc.message, query=what)
        raise
    except ValidationError as exc:
        if exc.field == "reason":
            audit.record_refusal(db, principal, "access.refused", exc.message, query=what)
        raise


def exit_code(exc: CrmsError) -> int:
    if isinstance(exc, NotFound):
        return 1
    if isinstance(exc, ValidationError | Conflict):
        return 2
    return 3


@contextmanager
def cli_errors() -> Iterator[None]:
    try:
        yield
    except CrmsError as exc:
        where = f"{exc.field}: " if exc.field else ""
        print(f"error: {where}{exc.message}", file=sys.stderr)
        raise typer.Exit(exit_code(exc)) from None
