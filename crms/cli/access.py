"""``crms user add|list|disable|role|reset-mfa`` and ``crms audit verify|seal|show``."""

from __future__ import annotations

import json
from datetime import datetime

import typer

user_app = typer.Typer(help="User accounts (administrators).", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail (auditors).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
    app.add_typer(audit_app, name="audit")
    app.command("login")(login)


def login(
    hours: float = typer.Option(8.0, min=0.05, max=24.0, help="How long the token lives."),
    scopes: list[str] = typer.Option(None, "--scope", help="Limit the token to these permissions."),
) -> None:
    """Log in once (CRMS_USER, CRMS_PASSWORD, CRMS_TOTP) and print a short-lived API token for CRMS_TOKEN,
    so that later commands do not need a fresh one-time code each."""
    from crms.access import audit
    from crms.access.models import User
    from crms.access.tokens import issue_token
    from crms.cli.auth import cli_errors, cli_principal, open_db

    with cli_errors():
        db = open_db()
        principal = cli_principal()
        with db.transaction() as session:
            user = session.get(User, principal.user_id)
            token = issue_token(session, user, name="cli login", scopes=scopes or None, ttl_days=hours / 24)
            audit.record(
                session,
                principal,
                "auth.token.issue",
                target_type="user",
                target_id=user.id,
                query={"name": "cli login", "hours": hours, "scopes": scopes or None},
            )
    typer.echo(f"export CRMS_TOKEN={token}")


def _show_secret(user) -> None:
    from crms.access.users import totp_uri

    uri = totp_uri(user)
    if uri:
        typer.echo(f"TOTP secret (shown once): {user.totp_secret}")
        typer.echo(f"TOTP URI for an authenticator app: {uri}")


@user_app.command("add")
def user_add(
    username: str = typer.Argument(..., help="Login name."),
    role: str = typer.Option(
        ..., "--role", "-r", help="administrator, cro_operator, fingerprint_examiner, ..."
    ),
    unit: str = typer.Option("BA", help="Unit path, e.g. BA/QTA/QUETTA/QUETTA-CANTT."),
    full_name: str = typer.Option("", "--full-name"),
    password: str = typer.Option(None, help="Password (prompted for when omitted; or CRMS_NEW_PASSWORD)."),
    phone: str = typer.Option(None, help="Phone number (SMS officers)."),
    pin: str = typer.Option(None, help="PIN, 4-8 digits (SMS officers)."),
    totp: bool = typer.Option(
        None, "--totp/--no-totp", help="Enrol TOTP (default: when the role requires it)."
    ),
) -> None:
    """Create a user. The very first user (an administrator) can be created without logging in."""
    import os

    from crms.access import audit
    from crms.access.policy import Role
    from crms.access.principal import system_principal
    from crms.access.users import add_user, count_users, create_user
    from crms.cli.auth import cli_address, cli_errors, cli_principal, open_db, unit_of_work
    from crms.errors import PermissionDenied

    with cli_errors():
        db = open_db()
        with db.transaction() as session:
            bootstrap = count_users(session) == 0
        if role != Role.SMS_OFFICER and password is None:
            password = os.environ.get("CRMS_NEW_PASSWORD") or typer.prompt(
                f"Password for {username}", hide_input=True, confirmation_prompt=True
            )
        kw = dict(unit=unit, full_name=full_name, password=password, phone=phone, pin=pin, totp=totp)
        if bootstrap:
            if role != Role.ADMINISTRATOR:
                raise PermissionDenied("the first user must be an administrator", field="role")
            with db.transaction() as session:
                user = create_user(session, username, role, **kw)
                who = system_principal("cli")
                who = type(who)(**{**who.__dict__, "address": cli_address()})
                audit.record(
                    session,
                    who,
                    "user.bootstrap",
                    target_type="user",
                    target_id=user.id,
                    query={"username": username, "role": role, "unit": user.unit},
                )
        else:
            principal = cli_principal()
            with unit_of_work(db, principal, "crms user add") as session:
                user = add_user(session, principal, username, role, **kw)
        typer.echo(f"created user {user.username} (id {user.id}, {user.role}, {user.unit})")
        _show_secret(user)


@user_app.command("list")
def user_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """List users within your unit."""
    from crms.access.users import list_users, user_dict
    from crms.cli.auth import cli_errors, cli_principal, open_db, unit_of_work

    with cli_errors():
        db = open_db()
        principal = cli_principal()
        with unit_of_work(db, principal, "crms user list") as session:
            rows = [user_dict(u) for u in list_users(session, principal)]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "username", "role", "unit", "active", "mfa", "last login")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["username"],
            r["role"],
            r["unit"],
            "yes" if r["is_active"] else "no",
            "yes" if r["mfa"] else "no",
            r["last_login_at"] or "",
        )
    Console().print(table)


@user_app.command("disable")
def user_disable(
    username: str,
    enable: bool = typer.Option(False, "--enable", help="Re-enable instead."),
) -> None:
    """Disable a user (revokes their tokens and sessions)."""
    from crms.access.users import set_active
    from crms.cli.auth import cli_errors, cli_principal, open_db, unit_of_work

    with cli_errors():
        db = open_db()
        principal = cli_principal()
        with unit_of_work(db, principal, "crms user disable") as session:
            user = set_active(session, principal, username, enable)
    typer.echo(f"user {user.username} {'enabled' if enable else 'disabled'}")


@user_app.command("role")
def user_role(
    username: str,
    role: str,
    unit: str = typer.Option(None, help="Also move the user to this unit."),
) -> None:
    """Change a user's role (and unit); their tokens and sessions are revoked."""
    from crms.access.users import set_role
    from crms.cli.auth import cli_errors, cli_principal, open_db, unit_of_work

    with cli_errors():
        db = open_db()
        principal = cli_principal()
        with unit_of_work(db, principal, "crms user role") as session:
            user = set_role(session, principal, username, role, unit)
            typer.echo(f"user {user.username}: {user.role} at {user.unit}")
            _show_secret(user) if user.totp_last_step is None and user.totp_secret else None


@user_app.command("reset-mfa")
def user_reset_mfa(username: str) -> None:
    """Issue a new TOTP secret for a user (the old authenticator stops working)."""
    from crms.access.users import reset_mfa
    from crms.cli.auth import cli_errors, cli_principal, open_db, unit_of_work

    with cli_errors():
        db = open_db()
        principal = cli_principal()
        with unit_of_work(db, principal, "crms user reset-mfa") as session:
            user = reset_mfa(session, principal, username)
    _show_secret(user)


@audit_app.command("verify")
def audit_verify(as_json: bool = typer.Option(False, "--json")) -> None:
    """Check the hash chain, each entry's MAC and the audit-head file; exit 1 and name the entries when
    tampered with. The chain is checked before anything is written, this command's own login included."""
    from crms.access import audit
    from crms.cli.auth import cli_errors, cli_principal, open_db

    with cli_errors():
        db = open_db()
        _principal, report = audit.verify_then_login(db, lambda: cli_principal(db=db))
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        for w in report.warnings:
            typer.echo(f"warning: {w}")
        for p in report.problems:
            typer.echo(f"TAMPERED: {p}")
        if report.ok:
            typer.echo(f"audit chain OK: {report.entries} entries, head #{report.last_seq}")
        elif report.sealable:
            typer.echo(
                "only MACs of entries written before the audit key and/or the audit-head file are missing: "
                "an auditor may run `crms audit seal`"
            )
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("seal")
def audit_seal() -> None:
    """Once, after upgrading or losing the data dir: add the MACs of entries written before the audit key
    and re-anchor the audit-head file -- only when the chain is otherwise intact (exit 2 otherwise)."""
    from crms.access import audit
    from crms.cli.auth import cli_errors, cli_principal, open_db, unit_of_work

    with cli_errors():
        db = open_db()
        principal = cli_principal(db=db)
        with unit_of_work(db, principal, "crms audit seal") as session:
            report = audit.seal(session, principal)
    what = f"entries #1..#{report.unsealed} sealed" if report.unsealed else "audit-head file re-anchored"
    typer.echo(f"{what}; run `crms audit verify`")


def _when(value: str | None, field: str) -> datetime | None:
    from crms.errors import ValidationError

    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"not an ISO date/time: {value!r}", field=field) from None


@audit_app.command("show")
def audit_show(
    user: str = typer.Option(None, "--user", help="Username."),
    target_type: str = typer.Option(None, "--target-type", help="e.g. person, case, user."),
    target_id: str = typer.Option(None, "--target-id", help="Record id."),
    action: str = typer.Option(None, help="Action prefix, e.g. search or auth.login."),
    since: str = typer.Option(None, help="From (ISO date/time, UTC)."),
    until: str = typer.Option(None, help="To (ISO date/time, UTC)."),
    limit: int = typer.Option(50, min=1, max=1000),
    offset: int = typer.Option(0, min=0),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Query the audit trail by user, record and time range (newest first)."""
    from crms.access import audit
    from crms.cli.auth import cli_errors, cli_principal, open_db, unit_of_work

    with cli_errors():
        s, u = _when(since, "since"), _when(until, "until")
        db = open_db()
        principal = cli_principal()
        with unit_of_work(db, principal, "crms audit show") as session:
            total, rows = audit.query(
                session,
                principal,
                username=user,
                target_type=target_type,
                target_id=target_id,
                action=action,
                since=s,
                until=u,
                limit=limit,
                offset=offset,
            )
            items = [audit.as_dict(e) for e in rows]
    if as_json:
        typer.echo(json.dumps({"total": total, "items": items}, ensure_ascii=False, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        "#",
        "at (UTC)",
        "user",
        "from",
        "action",
        "target",
        "outcome",
        "reason / query",
        title=f"{total} entries",
    )
    for e in items:
        target = f"{e['target_type'] or ''}:{e['target_id'] or ''}".strip(":")
        table.add_row(
            str(e["seq"]),
            e["at"][:19],
            e["username"],
            e["address"] or "",
            e["action"],
            target,
            e["outcome"],
            e["reason"] or e["query"] or e["detail"] or "",
        )
    Console().print(table)
