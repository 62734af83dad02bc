"""``crms demo [--people N] [--seed S] [--stage all|records|fingerprints] [--jobs J] [--no-templates]``."""

from __future__ import annotations

import json

import typer


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    people: int = typer.Option(500, "--people", min=0, help="Synthetic offenders to create."),
    seed: int = typer.Option(1, "--seed", help="Same seed, same people (re-runs add nothing)."),
    stage: str = typer.Option(
        "all",
        "--stage",
        help="records: persons, cases, mugshots, users (quick); fingerprints: ten synthetic fingers per "
        "recorded demo person and their templates (slow; resumable); all: both.",
    ),
    fingerprints: bool = typer.Option(
        True, "--fingerprints/--no-fingerprints", help="Synthetic fingerprints (ten per person)."
    ),
    templates: bool = typer.Option(
        True, "--templates/--no-templates", help="Extract templates of the fingerprints (needs pyfing)."
    ),
    jobs: int = typer.Option(2, "--jobs", "-j", min=1, help="Worker processes for fingerprints."),
    mugshots: bool = typer.Option(True, "--mugshots/--no-mugshots", help="Placeholder mugshots."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Load the demo database: synthetic offenders with FIRs, statuses, descriptions, fingerprints, mugshots,
    and one demo user per role (passwords are printed once, when the user is created)."""
    from rich.console import Console

    from crms.cli.auth import cli_errors, open_db
    from crms.cli.progress import progress_display
    from crms.config import get_settings
    from crms.demo.builder import build_demo

    settings = get_settings()
    with cli_errors():
        db = open_db()
        with progress_display(quiet=as_json) as progress:
            report = build_demo(
                db,
                settings,
                people=people,
                seed=seed,
                stage=stage,
                fingerprints=fingerprints,
                mugshots=mugshots,
                templates=templates,
                jobs=jobs,
                progress=progress,
            )
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return
    out = Console()
    if stage != "fingerprints":
        out.print(
            f"demo: {report.created} persons created, {report.skipped} already present; "
            f"{report.cases} cases; {report.mugshots} mugshots stored encrypted",
            highlight=False,
        )
    if report.flags:
        out.print("flags: " + ", ".join(f"{k} {v}" for k, v in sorted(report.flags.items())), highlight=False)
    if report.fingerprint_counts:
        c = report.fingerprint_counts
        out.print(
            f"fingerprints: {report.fingerprints} generated and {report.templates} templates enrolled now; "
            f"in all {c['prints']} prints of {c['persons']} persons: {c['enrolled']} enrolled, "
            f"{c['pending']} pending, {c['failed']} failed",
            highlight=False,
        )
    if report.users:
        out.print("demo users (unit BA):", highlight=False)
    for u in report.users:
        if not u["created"]:
            out.print(f"  {u['username']:<18} {u['role']:<22} exists; password unchanged", highlight=False)
            continue
        secret = f"password {u['password']}" if u.get("password") else f"phone {u['phone']}  PIN {u['pin']}"
        line = f"  {u['username']:<18} {u['role']:<22} {secret}"
        if u.get("totp_secret"):
            line += f"  TOTP secret {u['totp_secret']}"
        out.print(line, highlight=False, soft_wrap=True)
    if any(u["created"] for u in report.users):
        out.print("Write these down now: passwords are stored only as hashes and are not shown again.")
        out.print(
            "Each password works once: the first login must set a new one "
            "(CRMS_USER=... CRMS_PASSWORD=... crms passwd, or POST /api/v1/auth/password)."
        )
    for note in report.notes[:10]:
        out.print(f"note: {note}", highlight=False)
