"""``crms fp mark-missing PERSON_ID POSITION REASON [--note TEXT] [--json]``: record that a finger cannot be
printed (amputated, missing, bandaged, unable). Needs a login with ``biometric:enrol``; audited. The rules
are in crms.biometrics.marks."""

from __future__ import annotations

import json

import typer


def mark_missing_cmd(
    person_id: int = typer.Argument(..., help="The person's id."),
    position: int = typer.Argument(..., help="ANSI/NIST finger position: 1 right thumb ... 10 left little."),
    reason: str = typer.Argument(..., help="amputated, missing, bandaged or unable."),
    note: str = typer.Option(None, "--note", help="What the officer saw (at most 300 characters)."),
    as_json: bool = typer.Option(False, "--json", help="Print the mark as one JSON object."),
) -> None:
    """Record a finger that cannot be printed; capturing it later clears the mark."""
    from crms.biometrics import marks
    from crms.cli.auth import cli_action

    with cli_action("crms fp mark-missing") as (s, principal):
        out = marks.mark_dict(marks.record_missing_finger(s, principal, person_id, position, reason, note))
    if as_json:
        typer.echo(json.dumps(out))
    else:
        typer.echo(f"person {person_id}: finger {position} ({out['finger']}) recorded as {out['reason']}")


def register(app: typer.Typer) -> None:
    from crms.cli.fp import fp_app

    fp_app.command("mark-missing")(mark_missing_cmd)
