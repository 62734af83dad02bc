"""``crms import persons FILE.csv|FILE.xlsx [--dry-run] [--skip-invalid] [--reject-file PATH] [--json]``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

import_app = typer.Typer(
    help="Bulk import of digitised registers (the template: `crms import template`).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")


@import_app.command("persons")
def import_persons_cmd(
    file: Path = typer.Argument(..., help="A .csv (UTF-8) or .xlsx register (see crms import template)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate everything, write nothing."),
    skip_invalid: bool = typer.Option(
        False, "--skip-invalid", help="Import the valid rows; write the rejected ones to the reject file."
    ),
    reject_file: Path = typer.Option(
        None, "--reject-file", help="Where rejected rows go (default: FILE.rejects.csv beside FILE)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    max_errors: int = typer.Option(50, "--max-errors", help="Errors to print (the JSON report has all)."),
) -> None:
    """Import persons. All-or-nothing unless --skip-invalid; re-running the same file adds nothing.

    Exit codes: 0 done, 2 invalid rows (nothing written) or unreadable file, 3 not logged in / not allowed."""
    from rich.console import Console

    from crms.cli.auth import cli_errors, cli_principal, open_db
    from crms.cli.progress import stage_progress
    from crms.records.importer import import_persons_file

    with cli_errors():
        db = open_db()
        principal = cli_principal()
        with stage_progress(disable=as_json) as progress:
            # validation in a read transaction, the write in one short transaction (no write lock held
            # while the file is checked: the server's requests go on); refusals are audited by the service
            report = import_persons_file(
                db,
                principal,
                file,
                dry_run=dry_run,
                skip_invalid=skip_invalid,
                reject_file=reject_file,
                progress=progress,
            )
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        out = Console()
        label = "[yellow]rejected[/yellow]" if skip_invalid else "[red]error[/red]"
        for e in report.errors[:max_errors]:
            out.print(f"{label} {e}", highlight=False)
        if len(report.errors) > max_errors:
            out.print(f"... and {len(report.errors) - max_errors} more errors (use --json for all)")
        for w in report.warnings[:max_errors]:
            out.print(f"[yellow]warning[/yellow] {w}", highlight=False)
        if len(report.warnings) > max_errors:
            out.print(f"... and {len(report.warnings) - max_errors} more warnings")
        if report.errors and not skip_invalid:
            verdict = "nothing written: fix the rows above or use --skip-invalid"
        elif dry_run:
            verdict = "dry run: nothing written"
        else:
            verdict = f"imported {report.imported}"
        out.print(
            f"{report.file}: {report.rows} rows, {report.valid} valid, "
            f"{report.already_present} already present, {report.rejected} rejected; {verdict}",
            highlight=False,
        )
        if report.reject_file:
            out.print(f"rejected rows written to {report.reject_file}", highlight=False)
    if not report.ok:
        raise typer.Exit(2)


@import_app.command("template")
def template_cmd(
    out: Path = typer.Option(None, "--out", help="Write it to this file (a new one) instead of printing it."),
    examples: bool = typer.Option(False, "--examples", help="Add two filled-in rows (to see, or a dry run)."),
) -> None:
    """The register's template: a CSV (UTF-8, for Excel) of every column, in the importer's order."""
    from crms.cli.fp_common import fail
    from crms.records.importer import template_csv

    text = template_csv(examples=examples)
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        with open(out, "x", encoding="utf-8", newline="") as fh:
            fh.write(text)
    except FileExistsError:
        fail(f"{out} already exists: name a new file")
    except OSError as exc:
        fail(f"{out}: {exc.strerror}")
    typer.echo(f"template written to {out}: fill in a row per person, then `crms import persons {out}`")
