"""Who is running a CLI command: ``cli_principal()``.

Credentials come from the environment, never from arguments (they would show in ``ps`` and shell history):
``CRMS_TOKEN`` (an API token), or ``CRMS_USER`` + ``CRMS_PASSWORD`` (+ ``CRMS_TOTP`` for roles with mandatory
MFA). The login is checked, rate limited and audited exactly like the web and API ones, and opens a CLI
session: a short-lived API token (4 hours; ``CRMS_CLI_SESSION_HOURS``, 0 turns sessions off) kept in
``<data dir>/cli-sessions/<OS user>.json`` (mode 0600), which later commands use instead of checking the
password again; ``crms logout`` revokes it. Also: ``open_db()``,
``unit_of_work()`` (a transaction whose refusals are audited) and ``cli_errors()`` (CrmsError -> message +
exit code: 1 not found, 2 invalid input or conflict, 3 not authenticated / not allowed / rate limited).
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from crms.access.principal import Principal
from crms.errors import (
    AuthenticationError,
    Conflict,
    CrmsError,
    NotFound,
    ValidationError,
)

CLI_SESSION_HOURS = 4.0  # the life of a CLI session token (CRMS_CLI_SESSION_HOURS overrides)


def open_db():
    """The configured database (schema must be up to date), bound to the data dir for the audit head."""
    from crms.access.work import open_database
    from crms.config import get_settings

    return open_database(get_settings())


def cli_address() -> str:
    try:
        who = getpass.getuser()
    except Exception:  # noqa: BLE001
        who = "?"
    return f"cli:{who}@{socket.gethostname()}"[:64]


def _anonymous(address: str) -> Principal:
    return Principal(user_id=None, username="anonymous", role="none", channel="cli", address=address)


# ------------------------------------------------------------------------------------- the CLI session file


def session_file() -> Path:
    """``<data dir>/cli-sessions/<OS user>.json`` (directory 0700, file 0600): the token of the CLI session
    of this OS user, so that later commands do not re-check the password (Argon2) on every run."""
    from crms.config import get_settings

    try:
        who = getpass.getuser()
    except Exception:  # noqa: BLE001
        who = "user"
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in who)[:64] or "user"
    return get_settings().data_dir / "cli-sessions" / f"{safe}.json"


def read_session() -> dict | None:
    path = session_file()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("token"), str):
        return None
    return data


def _write_session(username: str, token: str) -> None:
    path = session_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"username": username, "token": token}, fh)
        os.replace(tmp, path)
    except OSError:  # a read-only data dir: work without a session
        pass


def forget_session() -> None:
    try:
        session_file().unlink()
    except OSError:
        pass


def _session_hours() -> float:
    try:
        hours = float(os.environ.get("CRMS_CLI_SESSION_HOURS", CLI_SESSION_HOURS))
    except ValueError:
        raise ValidationError(
            "CRMS_CLI_SESSION_HOURS must be a number", field="CRMS_CLI_SESSION_HOURS"
        ) from None
    return min(max(hours, 0.0), 24.0)


def _from_session(db, username: str | None, address: str) -> Principal | None:
    """The caller of a live session file (for ``username`` when given); None when there is none."""
    from crms.access.tokens import principal_from_token

    data = read_session()
    if data is None or (username and data.get("username") != username):
        return None
    try:
        with db.transaction() as session:
            principal = principal_from_token(session, data["token"], address=address)
    except AuthenticationError:  # expired, revoked, or the user disabled: log in again
        forget_session()
        return None
    return dataclasses.replace(principal, channel="cli")


def cli_principal(permission_hint=None, db=None, *, use_session: bool = True) -> Principal:
    """Authenticate the CLI caller: CRMS_TOKEN; else the live CLI session of this OS user (for CRMS_USER
    when set); else CRMS_USER/CRMS_PASSWORD[/CRMS_TOTP], which opens a new session (unless
    CRMS_CLI_SESSION_HOURS=0). ``use_session=False`` insists on the password (``crms login``: a new token
    never outlives the CLI session without the password being checked)."""
    from crms.access.tokens import issue_for, principal_from_token
    from crms.access.work import authenticate_alone

    db = db or open_db()
    address = cli_address()
    token = os.environ.get("CRMS_TOKEN", "").strip()
    if token:
        principal = authenticate_alone(
            db,
            lambda session: principal_from_token(session, token, address=address),
            where="CRMS_TOKEN",
            anonymous=_anonymous(address),
        )
        return dataclasses.replace(principal, channel="cli")
    username = os.environ.get("CRMS_USER", "").strip()
    password = os.environ.get("CRMS_PASSWORD")
    hours = _session_hours()
    if hours > 0 and use_session:
        principal = _from_session(db, username or None, address)
        if principal is not None:
            return principal
    if not username or password is None:
        raise AuthenticationError(
            "log in first: set CRMS_USER and CRMS_PASSWORD (and CRMS_TOTP if your role needs it), "
            "or CRMS_TOKEN",
            field="CRMS_USER",
        )
    from crms.access.users import login  # Argon2 and TOTP: only when a password is checked

    principal = login(
        db, username, password, totp=os.environ.get("CRMS_TOTP") or None, address=address, channel="cli"
    )
    if hours > 0:
        with db.transaction() as session:
            token, _ = issue_for(session, principal, name="cli session", ttl_days=hours / 24)
        _write_session(principal.username, token)
    return principal


@contextmanager
def unit_of_work(db, principal: Principal, what: str) -> Iterator:
    """One transaction for one CLI action, the unit of work every adapter shares
    (:func:`crms.access.work.unit_of_work`): refusals audited after the rollback, a unique key written
    concurrently answered as a conflict naming the field."""
    from crms.access.work import unit_of_work as shared

    with shared(db, where=what, anonymous=_anonymous(principal.address or ""), principal=principal) as work:
        yield work.session


@contextmanager
def cli_action(what: str) -> Iterator[tuple]:
    """One CLI action: ``with cli_action("crms user list") as (session, principal):``. Its errors become a
    message and an exit code (:func:`cli_errors`); the caller is authenticated (:func:`cli_principal`); the
    block runs in one audited transaction (:func:`unit_of_work`)."""
    with cli_errors():
        db = open_db()
        principal = cli_principal(db=db)
        with unit_of_work(db, principal, what) as session:
            yield session, principal


def exit_code(exc: CrmsError) -> int:
    if isinstance(exc, NotFound):
        return 1
    if isinstance(exc, ValidationError | Conflict):
        return 2
    return 3


def error_line(exc: CrmsError) -> str:
    """``field: message``, or only the message where it names the field's subject already (a probe's
    ``text.png.image`` with ``text.png: not a supported image``: the file named once)."""
    field = exc.field or ""
    subject = field.rsplit(".", 1)[0] if "." in field else field
    if not field or exc.message.startswith(f"{subject}: ") or exc.message.startswith(f"{field}: "):
        return exc.message
    return f"{field}: {exc.message}"


@contextmanager
def cli_errors() -> Iterator[None]:
    try:
        yield
    except CrmsError as exc:
        print(f"error: {error_line(exc)}", file=sys.stderr)
        raise typer.Exit(exit_code(exc)) from None
