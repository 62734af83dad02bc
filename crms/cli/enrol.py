"""``crms fp enrol-pending`` and ``crms fp enrolment``: the enrolment queue of fingerprint templates.

``enrol-pending [--jobs N] [--limit N] [--retry-failed] [--json]`` extracts the templates of captured prints
that have none yet (a progress bar on a terminal, a line per 5 % in a log); safe to interrupt and re-run.
``enrolment [--json]`` counts active prints by status. Both need a login (CRMS_USER/CRMS_PASSWORD or
CRMS_TOKEN) with the ``biometric:enrol`` permission (CRO operators, fingerprint examiners); the templates
are audited as enrolled by that user.
"""

from __future__ import annotations

import json

import typer


def enrol_pending_cmd(
    jobs: int = typer.Option(None, "--jobs", "-j", min=1, help="Extraction processes (default: CPUs, ≤ 2)."),
    limit: int = typer.Option(None, "--limit", min=1, help="Stop after this many prints."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Queue failed prints again first."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
) -> None:
    """Extract the templates of pending fingerprints (resumable; one run at a time)."""
    from crms.access.crypto import EncryptedStore
    from crms.access.policy import Permission, authorize
    from crms.biometrics import enrolment
    from crms.cli.auth import cli_errors, cli_principal, open_db, unit_of_work
    from crms.cli.progress import progress_display
    from crms.config import get_settings

    settings = get_settings()
    with cli_errors():
        db = open_db()
        principal = cli_principal()
        with unit_of_work(db, principal, "crms fp enrol-pending"):  # a refusal is audited
            authorize(principal, Permission.BIOMETRIC_ENROL)
        if retry_failed:
            n = enrolment.retry_failed(db, principal)
            if not as_json:
                typer.echo(f"{n} failed prints queued again", err=True)
        with progress_display(quiet=as_json) as progress:
            report = enrolment.enrol_pending(
                db,
                EncryptedStore.from_settings(settings),
                principal=principal,
                jobs=jobs,
                limit=limit,
                progress=progress,
            )
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
    else:
        done = report.enrolled + report.failed
        per = f", {report.cpu_seconds / done:.2f} s CPU per print" if done else ""
        typer.echo(
            f"{report.enrolled} templates enrolled, {report.failed} failed, {report.remaining} still pending "
            f"({report.seconds:.0f} s{per})"
        )
        for note in report.notes:
            typer.echo(f"note: {note}")
    if report.notes and not report.enrolled and report.remaining:
        raise typer.Exit(1)


def enrolment_cmd(as_json: bool = typer.Option(False, "--json", help="One JSON object.")) -> None:
    """Count active fingerprints by status (pending, enrolled, failed) and persons with ten prints."""
    from crms.biometrics.enrolment import enrolment_status
    from crms.cli.auth import cli_action

    with cli_action("crms fp enrolment") as (s, principal):
        counts = enrolment_status(s, principal)
    if as_json:
        typer.echo(json.dumps(counts))
        return
    typer.echo(
        f"{counts['prints']} fingerprints of {counts['persons']} persons "
        f"({counts['persons_ten_prints']} with all ten): {counts['enrolled']} enrolled, "
        f"{counts['pending']} pending, {counts['failed']} failed"
    )


def register(app: typer.Typer) -> None:
    from crms.cli.fp import fp_app

    fp_app.command("enrol-pending")(enrol_pending_cmd)
    fp_app.command("enrolment")(enrolment_cmd)
