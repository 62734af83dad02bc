"""Records commands: ``crms lookup CNIC [--json] [--reason R]`` (instant CNIC lookup).

Exit codes: 0 found, 1 no person with this CNIC, 2 invalid input, 3 not authenticated / not allowed."""

from __future__ import annotations

import os

import typer


def register(app: typer.Typer) -> None:
    from crms.cli.light import QuickCommand

    app.command("lookup", cls=QuickCommand)(lookup)


def lookup(
    cnic: str = typer.Argument(..., help="CNIC: 13 digits, with or without dashes; Urdu digits accepted."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    reason: str = typer.Option(
        None,
        "--reason",
        "-r",
        help="Why you search (required; default: env CRMS_REASON).",
        show_default=False,
    ),
) -> None:
    """Look up a person by CNIC: identity documents, flags and criminal-history summary."""
    import json

    from crms.cli.auth import cli_errors, cli_principal, open_db, unit_of_work
    from crms.records.services import lookup_cnic

    reason = reason or os.environ.get("CRMS_REASON")
    with cli_errors():
        db = open_db()
        principal = cli_principal("search:cnic", db=db)
        with unit_of_work(db, principal, f"lookup {cnic}") as session:
            found = lookup_cnic(session, principal, cnic, reason=reason)
    if found is None:
        msg = f"no person with CNIC {cnic}"
        if as_json:
            typer.echo(json.dumps({"found": False, "cnic": cnic, "detail": msg}))
        typer.echo(f"not found: {msg}", err=True)
        raise typer.Exit(1)
    from crms.records.labels import labelled

    found = labelled(found)
    if as_json:
        typer.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return
    _print(found)


def _both(lab: dict | None) -> str:
    """A label as people read it: English, then Urdu."""
    return f"{lab['en']} / {lab['ur']}" if lab else "-"


def _print(found: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    parent = found.get("parentage_name_en") or found.get("parentage_name_ur") or ""
    rel = (found.get("parentage_relation_label") or {}).get("en", "")
    console.print(f"[bold]{found['name']}[/bold] {rel} {parent}  (person {found['id']})")
    urdu = " ".join(x for x in (found.get("given_name_ur"), found.get("family_name_ur")) if x)
    if urdu:
        console.print(urdu)
    born = found.get("date_of_birth") or found.get("birth_year") or "?"
    gender = _both(found.get("gender_label"))
    console.print(f"gender {gender}  born {born}  caste {found.get('caste') or '-'}")
    for d in found["documents"]:
        console.print(f"{d['doc_type_label']['en']}: {d['formatted']} ({d['issuing_country']})")
    for w in found["cnic"]["warnings"]:
        console.print(f"[yellow]warning: {w}[/yellow]")
    flags = [_both(lab) for lab in found["summary"]["active_flags_labels"]]
    console.print("[bold red]FLAGS: " + ", ".join(flags) + "[/bold red]" if flags else "no active flags")
    s = found["summary"]
    console.print(
        f"cases {s['cases']} (accused in {s['cases_as_accused']}), convictions {s['convictions']}, "
        f"pending {s['pending']}"
    )
    if found["cases"]:
        table = Table("FIR", "District", "Sections", "Case status", "Role", "Status")
        for c in found["cases"]:
            table.add_row(
                c["fir"],
                c["district"],
                c["sections"],
                _both(c["case_status_label"]),
                _both(c["role_label"]),
                _both(c["status_label"]),
            )
        console.print(table)
