"""``crms user add|list|disable|enable|role|reset|reset-mfa|reset-sms|approve``, ``crms login|logout|passwd|
activate`` and ``crms audit verify|seal|show``."""

from __future__ import annotations

import json
from datetime import datetime

import typer

from crms.access.principal import PROVINCE

user_app = typer.Typer(help="User accounts (administrators).", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail (auditors).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
    app.add_typer(audit_app, name="audit")
    app.command("login")(login)
    app.command("logout")(logout)
    app.command("passwd")(passwd)
    app.command("activate")(activate)


def login(
    hours: float = typer.Option(8.0, min=0.05, max=24.0, help="How long the token lives."),
    scopes: list[str] = typer.Option(None, "--scope", help="Limit the token to these permissions."),
) -> None:
    """Log in once (CRMS_USER, CRMS_PASSWORD, CRMS_TOTP) and print a short-lived API token for CRMS_TOKEN,
    so that later commands do not need a fresh one-time code each: eval "$(crms login)"."""
    from crms.access.tokens import issue_for
    from crms.cli.auth import cli_errors, cli_principal, open_db

    with cli_errors():
        db = open_db()
        principal = cli_principal(use_session=False)
        with db.transaction() as session:
            token, _ = issue_for(
                session, principal, name="cli login", scopes=scopes or None, ttl_days=hours / 24
            )
    typer.echo(f"export CRMS_TOKEN={token}")


def logout() -> None:
    """End the CLI session: revoke its token (and CRMS_TOKEN when set) and delete the session file."""
    import os

    from crms.access.tokens import logout as end
    from crms.access.tokens import principal_from_token
    from crms.cli.auth import cli_address, cli_errors, forget_session, open_db, read_session
    from crms.errors import AuthenticationError

    ended = 0
    with cli_errors():
        db = open_db()
        tokens = [os.environ.get("CRMS_TOKEN", "").strip(), (read_session() or {}).get("token", "")]
        for token in dict.fromkeys(t for t in tokens if t):
            try:
                with db.transaction() as session:
                    who = principal_from_token(session, token, address=cli_address())
                    end(session, who, token=token)
                ended += 1
            except AuthenticationError:
                pass  # already expired or revoked
        forget_session()
    typer.echo("logged out" if ended else "no CLI session was open")


def _show_secret(user) -> None:
    """Show, once, what was just issued: a TOTP secret (to its own user at the bootstrap) or an enrolment
    code (to hand to the user, who turns it into a password with ``crms activate``)."""
    from crms.access.users import totp_uri
    from crms.timeutil import iso_or_none

    uri = totp_uri(user)
    if uri:
        typer.echo(f"TOTP secret (shown once): {user.new_totp_secret}")
        typer.echo(f"TOTP URI for an authenticator app: {uri}")
    code = getattr(user, "enrolment_code", None)
    if code:
        until = iso_or_none(user.enrolment_expires_at)
        typer.echo(f"enrolment code (shown once, valid until {until}): {code}")
        typer.echo(f"give it to {user.username}, who sets a password with: crms activate {user.username}")
    if getattr(user, "approval_pending", False):
        typer.echo("a second administrator must approve this account: crms user approve " + user.username)


@user_app.command("add")
def user_add(
    username: str = typer.Argument(..., help="Login name."),
    role: str = typer.Option(
        ..., "--role", "-r", help="administrator, cro_operator, fingerprint_examiner, ..."
    ),
    unit: str = typer.Option(PROVINCE, help="Unit path, e.g. BA/QTA/QUETTA/QUETTA-CANTT."),
    full_name: str = typer.Option("", "--full-name"),
    password: str = typer.Option(
        None, help="Bootstrap only: your own password (prompted for when omitted; or CRMS_NEW_PASSWORD)."
    ),
    phone: str = typer.Option(None, help="Phone number (SMS officers)."),
    pin: str = typer.Option(None, help="PIN, 4-8 digits (SMS officers)."),
    totp: bool = typer.Option(None, "--totp/--no-totp", help="Bootstrap only: enrol TOTP."),
    bootstrap: bool = typer.Option(
        False,
        "--bootstrap",
        help="Create one of the first two administrators at the console, without a login (automatic "
        "for the very first user).",
    ),
) -> None:
    """Create a user. An administrator's new account gets a one-time enrolment code for its user (who sets
    the password with ``crms activate``); privileged roles wait for a second administrator's approval. The
    first administrators are created at the console without a login (``--bootstrap``)."""
    import os

    from crms.access.users import add_user, bootstrap_administrator, needs_bootstrap
    from crms.cli.auth import cli_address, cli_errors, cli_principal, open_db, unit_of_work

    with cli_errors():
        db = open_db()
        if bootstrap or needs_bootstrap(db):
            if password is None:
                password = os.environ.get("CRMS_NEW_PASSWORD") or typer.prompt(
                    f"Password for {username}", hide_input=True, confirmation_prompt=True
                )
            kw = dict(unit=unit, full_name=full_name, password=password, totp=totp)
            user = bootstrap_administrator(db, username, role=role, address=cli_address(), **kw)
        else:
            kw = dict(unit=unit, full_name=full_name, password=password, phone=phone, pin=pin)
            principal = cli_principal()
            with unit_of_work(db, principal, "crms user add") as session:
                user = add_user(session, principal, username, role, **kw)
        typer.echo(f"created user {user.username} (id {user.id}, {user.role}, {user.unit})")
        _show_secret(user)


@user_app.command("list")
def user_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """List users within your unit."""
    from crms.access.users import list_users, user_dict
    from crms.cli.auth import cli_action

    with cli_action("crms user list") as (session, principal):
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
    """Disable a user (revokes their tokens and sessions); at once, even for a privileged account (an alert
    entry tells the auditors), never the province's last active administrator."""
    _set_active(username, enable)


@user_app.command("enable")
def user_enable(username: str) -> None:
    """Enable a disabled user again (they sign in with their own password, or phone and PIN)."""
    _set_active(username, True)


def _set_active(username: str, active: bool) -> None:
    from crms.access.users import set_active
    from crms.cli.auth import cli_action

    with cli_action("crms user enable" if active else "crms user disable") as (session, principal):
        user = set_active(session, principal, username, active)
    typer.echo(f"user {user.username} {'enabled' if active else 'disabled'}")


@user_app.command("role")
def user_role(
    username: str,
    role: str,
    unit: str = typer.Option(None, help="Also move the user to this unit."),
) -> None:
    """Change a user's role (and unit); their tokens and sessions are revoked."""
    from crms.access.users import set_role
    from crms.cli.auth import cli_action

    with cli_action("crms user role") as (session, principal):
        user = set_role(session, principal, username, role, unit)
        typer.echo(f"user {user.username}: {user.role} at {user.unit}")
        _show_secret(user)


@user_app.command("reset")
def user_reset(username: str) -> None:
    """Reset a user's account (forgotten password, lost authenticator): their password, authenticator,
    tokens and sessions stop working; a one-time enrolment code lets them set new ones."""
    from crms.access.users import reset_account
    from crms.cli.auth import cli_action

    with cli_action("crms user reset") as (session, principal):
        user = reset_account(session, principal, username)
    _show_secret(user)


@user_app.command("reset-mfa")
def user_reset_mfa(username: str) -> None:
    """A lost authenticator: the same as ``crms user reset``."""
    user_reset(username)


@user_app.command("reset-sms")
def user_reset_sms(
    username: str,
    phone: str = typer.Option(None, help="The officer's new phone number (omit to keep the current one)."),
    pin: str = typer.Option(
        None, help="The new PIN, 4-8 digits (better: CRMS_NEW_PIN or the hidden prompt, kept out of history)."
    ),
) -> None:
    """An SMS officer's lost phone or forgotten PIN: set a new phone number and/or PIN; the old ones stop
    working at once. The new PIN comes from --pin, CRMS_NEW_PIN, or is asked for (hidden, twice) when no
    new phone is given; it is never shown: tell it to the officer in person."""
    import os

    from crms.access.users import reset_sms_login
    from crms.cli.auth import cli_action

    pin = pin or os.environ.get("CRMS_NEW_PIN") or None
    if pin is None and phone is None:
        pin = typer.prompt(f"New PIN for {username}", hide_input=True, confirmation_prompt=True)
    with cli_action("crms user reset-sms") as (session, principal):
        user = reset_sms_login(session, principal, username, phone=phone, pin=pin)
    done = " and ".join(w for w, given in (("phone", phone), ("PIN", pin)) if given)
    typer.echo(f"new {done} set for {user.username} ({user.phone}): tell the officer in person")


@user_app.command("approve")
def user_approve(username: str) -> None:
    """Approve a privileged account (auditor, examiner, administrator) set up by another administrator."""
    from crms.access.users import approve
    from crms.cli.auth import cli_action

    with cli_action("crms user approve") as (session, principal):
        user = approve(session, principal, username)
    typer.echo(f"user {user.username} approved")


def _new_password(username: str) -> str:
    import os

    return os.environ.get("CRMS_NEW_PASSWORD") or typer.prompt(
        f"New password for {username}", hide_input=True, confirmation_prompt=True
    )


def passwd() -> None:
    """Change your own password (CRMS_USER, CRMS_PASSWORD and CRMS_TOTP where enrolled; the new one from
    CRMS_NEW_PASSWORD or prompted for). Required at the first login with a demo password. Every token and
    session of the account, this CLI's included, ends: log in again with the new password."""
    import os

    from crms.access.users import change_password
    from crms.cli.auth import cli_address, cli_errors, forget_session, open_db
    from crms.errors import AuthenticationError

    with cli_errors():
        username = os.environ.get("CRMS_USER", "").strip()
        password = os.environ.get("CRMS_PASSWORD")
        if not username or password is None:
            raise AuthenticationError("set CRMS_USER and CRMS_PASSWORD (your current one)", field="CRMS_USER")
        new = _new_password(username)
        change_password(
            open_db(),
            username,
            password,
            new,
            totp=os.environ.get("CRMS_TOTP") or None,
            address=cli_address(),
            channel="cli",
        )
        forget_session()
    typer.echo(f"password of {username} changed: log in again with the new one")


def activate(username: str = typer.Argument(..., help="Your login name.")) -> None:
    """Set your password with the one-time enrolment code an administrator gave you (CRMS_ENROLMENT_CODE,
    or prompted for; the new password from CRMS_NEW_PASSWORD or prompted for). Where your role needs a
    one-time code app, its secret is shown here, once."""
    import os

    from crms.access.users import activate as redeem
    from crms.cli.auth import cli_address, cli_errors, open_db

    with cli_errors():
        code = os.environ.get("CRMS_ENROLMENT_CODE") or typer.prompt("Enrolment code", hide_input=True)
        out = redeem(open_db(), username, code, _new_password(username), address=cli_address(), channel="cli")
    typer.echo(f"password set for {username}")
    if out.get("totp_secret"):
        typer.echo(f"TOTP secret (shown once): {out['totp_secret']}")
        typer.echo(f"TOTP URI for an authenticator app: {out['totp_uri']}")
    if out.get("approval_pending"):
        typer.echo("you can log in once a second administrator has approved the account")


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
    from crms.cli.auth import cli_action

    with cli_action("crms audit seal") as (session, principal):
        report = audit.seal(session, principal)
    what = f"entries #1..#{report.unsealed} sealed" if report.unsealed else "audit-head file re-anchored"
    typer.echo(f"{what}; run `crms audit verify`")


def _when(value: str | None, field: str, *, end: bool = False) -> datetime | None:
    """A --since/--until as the service's UTC time: a date is the office's day (as on the web page's
    filter), a date and time UTC unless it carries an offset (crms.timeutil.time_bound)."""
    from crms.errors import ValidationError
    from crms.timeutil import time_bound

    if value is None:
        return None
    try:
        return time_bound(value, end=end)
    except ValueError:
        raise ValidationError(
            f"{field} must be a date (YYYY-MM-DD, the office's day) or a date and time (ISO 8601, UTC unless "
            f"it carries an offset such as +05:00), not {value!r}",
            field=field,
        ) from None


TIME_HELP = (
    "A date (YYYY-MM-DD) is the office's day (CRMS_TIMEZONE, Pakistan's by default), as on the web page; "
    "a date and time (2026-12-07T04:00) is UTC, like the table's times, unless it carries an offset "
    "(2026-12-07T04:00+05:00)."
)


def audit_table(items: list[dict], total: int):
    """The entries as a table that a terminal of 80 columns shows whole (narrower: ``--json``): two lines a
    cell (number and outcome; time and user; action and record), none of them wrapped or cut; the channel
    and address, reason, query and detail wrapped in the last column, the only one that gives way."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
        title=f"{total} entries",
        title_justify="left",
    )
    table.add_column("#\noutcome", no_wrap=True)
    table.add_column("at (UTC)\nuser", no_wrap=True)
    table.add_column("action\nrecord", no_wrap=True, overflow="fold", max_width=28)
    table.add_column("from, reason,\nquery, detail", overflow="fold")  # the one column that wraps
    for e in items:
        target = f"{e['target_type'] or ''}:{e['target_id'] or ''}".strip(":")
        outcome = Text(e["outcome"], style="" if e["outcome"] == "ok" else "bold red")
        said = [f"{e['channel'] or ''} {e['address'] or ''}".strip()]
        if e["reason"]:
            said.append(f"reason: {e['reason']}")
        for key in ("query", "detail"):
            if e[key]:
                said.append(e[key] if isinstance(e[key], str) else json.dumps(e[key], ensure_ascii=False))
        table.add_row(  # Text: what the trail holds is shown as it is, never read as Rich markup
            Text.assemble(str(e["seq"]), "\n", outcome),
            Text(f"{e['at'][:19]}\n{e['username']}"),
            Text(f"{e['action']}\n{target}"),
            Text("\n".join(x for x in said if x)),
        )
    return table


@audit_app.command("show")
def audit_show(
    user: str = typer.Option(None, "--user", help="Username."),
    target_type: str = typer.Option(None, "--target-type", help="e.g. person, case, user."),
    target_id: str = typer.Option(None, "--target-id", help="Record id."),
    action: str = typer.Option(None, help="Action prefix, e.g. search or auth.login."),
    since: str = typer.Option(None, help="From this time or day on. " + TIME_HELP),
    until: str = typer.Option(None, help="Up to this time, or to the end of this day. " + TIME_HELP),
    outcome: str = typer.Option(None, help="ok, refused, not_found, alert or failed."),
    limit: int = typer.Option(50, min=1, max=1000),
    offset: int = typer.Option(0, min=0),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Query the audit trail by user, record, action, outcome and time range (newest first)."""
    from crms.access import audit
    from crms.cli.auth import cli_errors, cli_principal, open_db, unit_of_work

    with cli_errors():
        s, u = _when(since, "since"), _when(until, "until", end=True)
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
                outcome=outcome,
                limit=limit,
                offset=offset,
            )
            items = [audit.as_dict(e) for e in rows]
    if as_json:
        typer.echo(json.dumps({"total": total, "items": items}, ensure_ascii=False, indent=2))
        return
    from rich.console import Console

    Console().print(audit_table(items, total))
