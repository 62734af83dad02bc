"""``crms demo [--people N] [--seed S] [--stage all|records|fingerprints] [--jobs J] [--no-templates]``.

The fingerprint stage stops cleanly on SIGTERM or Ctrl-C (a second one stops at once): it finishes the
print in hand, prints ``demo fingerprints: stopped at N of M persons`` and exits 0; the next run resumes.
New demo users' logins are printed once and kept in ``<data dir>/demo/logins.txt`` (mode 0600), whose path
is the last line printed.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer


@contextmanager
def stop_on_signals() -> Iterator[Callable[[], bool]]:
    """Yield ``stop()``, which turns True after SIGTERM or SIGINT; a second SIGINT interrupts at once."""
    asked = threading.Event()

    def on_signal(signum, _frame) -> None:
        if asked.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        asked.set()

    if threading.current_thread() is not threading.main_thread():  # signals go to the main thread only
        yield asked.is_set
        return
    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield asked.is_set
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


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

    from crms.access.work import set_up_new_database
    from crms.cli.auth import cli_errors, open_db
    from crms.cli.progress import progress_display
    from crms.config import get_settings
    from crms.demo.builder import build_demo

    settings = get_settings()
    with cli_errors(), stop_on_signals() as stop:
        if set_up_new_database(settings):  # the demo fills a new database: set it up first
            Console(stderr=True).print("demo: a new database, set up (crms db upgrade)", highlight=False)
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
                stop=stop,
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
    from crms.demo.logins import HOW_TO_LOG_IN, LOGINS_FILE, login_lines, write_logins

    for note in report.notes[:10]:
        out.print(f"note: {note}", highlight=False)
    if report.stopped:
        out.print(
            f"demo fingerprints: stopped at {report.persons_enrolled} of {report.persons_total} persons "
            "(asked to stop); run the same command again to resume",
            highlight=False,
            soft_wrap=True,
        )
    elif stage != "records" and fingerprints and report.persons_total:
        out.print(f"demo fingerprints: done, {report.persons_total} persons", highlight=False, soft_wrap=True)
    if report.users:
        out.print("demo users (unit BA):", highlight=False)
    for u in report.users:
        if not u["created"]:
            out.print(f"  {u['username']:<18} {u['role']:<22} exists; password unchanged", highlight=False)
    lines = login_lines(report.users)
    for line in lines:
        out.print(line, highlight=False, soft_wrap=True)
    logins = settings.data_dir / LOGINS_FILE
    if lines:
        out.print("Passwords are stored only as hashes and are not shown again.", highlight=False)
        for line in HOW_TO_LOG_IN:
            out.print(line, highlight=False, soft_wrap=True)
        logins = write_logins(settings.data_dir, lines)
    if logins.exists():
        out.print(f"demo logins are kept in {logins} (readable by you only)", highlight=False, soft_wrap=True)
