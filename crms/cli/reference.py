"""``crms reference``: load the packaged reference data, list districts / police stations / sections, and
try the offence parser."""

from __future__ import annotations

import json

import typer

ref_app = typer.Typer(help="Reference data: districts, police stations, statutes.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(ref_app, name="reference")


def _database(database_url: str | None = None):
    """The configured database (or the one at ``database_url``), opened the one way every adapter opens it
    (crms.access.work.open_database)."""
    from dataclasses import replace

    from crms.access.work import open_database
    from crms.config import get_settings

    settings = get_settings()
    if database_url is not None and database_url != settings.database_url:
        settings = replace(settings, database_url=database_url)
    return open_database(settings)


def load_into(database_url: str) -> dict:
    """Upsert the packaged reference data files into the database (idempotent)."""
    from crms.records.reference import load_reference_data

    db = _database(database_url)
    try:
        with db.transaction() as session:
            counts = load_reference_data(session)
    finally:
        db.dispose()  # a one-shot command: close the pool's connections (the engine stays usable)
    typer.echo(
        f"reference data {counts['version']}: {counts['inserted']} inserted, {counts['updated']} updated, "
        f"{counts['kept_edited']} kept (edited by an administrator)"
    )
    return counts


def _fail(exc) -> None:
    typer.echo(f"error: {exc.message}", err=True)
    raise typer.Exit(2)


@ref_app.command("load")
def load() -> None:
    """Load or refresh the packaged reference data (rows edited by an administrator are kept)."""
    from crms.config import get_settings
    from crms.errors import CrmsError

    try:
        load_into(get_settings().database_url)
    except CrmsError as exc:
        _fail(exc)


@ref_app.command("districts")
def districts(
    division: str = typer.Option(None, help="Division code, e.g. QTA."),
    historical: bool = typer.Option(False, "--historical", help="Include units no longer current."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List districts."""
    _list("districts", {"division": division}, historical, as_json)


@ref_app.command("stations")
def stations(
    district: str = typer.Option(None, help="District code or name."),
    historical: bool = typer.Option(False, "--historical", help="Include merged/closed stations."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List police and Levies stations."""
    _list("stations", {"district": district}, historical, as_json)


@ref_app.command("sections")
def sections(
    statute: str = typer.Argument(..., help="Statute code, e.g. PPC"), as_json: bool = False
) -> None:
    """List the sections of a statute."""
    _list("sections", {"statute": statute}, False, as_json)


def _list(what: str, args: dict, historical: bool, as_json: bool) -> None:
    from crms.errors import CrmsError
    from crms.records.reference import service as svc

    db = _database()
    try:
        with db.transaction() as session:
            if what == "districts":
                rows = svc.list_districts(session, division=args["division"], include_historical=historical)
                cols = ("code", "name_en", "name_ur", "division_code", "valid_from", "valid_to")
            elif what == "stations":
                rows = svc.list_police_stations(
                    session, district=args["district"], include_historical=historical
                )
                cols = ("code", "name_en", "name_ur", "kind", "valid_to", "merged_into_code", "unit_path")
            else:
                rows = svc.list_sections(session, args["statute"])
                cols = ("statute_code", "section", "title")
            items = [svc.as_dict(r) for r in rows]
    except CrmsError as exc:
        _fail(exc)
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*cols)
    for item in items:
        table.add_row(*("" if item.get(c) is None else str(item.get(c)) for c in cols))
    Console().print(table)


@ref_app.command("parse")
def parse(text: str = typer.Argument(..., help="Offence text, e.g. '392/411/34 PPC'")) -> None:
    """Parse FIR offence text against the database's statute tables."""
    from crms.errors import CrmsError
    from crms.records.reference import parse_offences

    db = _database()
    try:
        with db.transaction() as session:
            offences = parse_offences(text, session)
    except CrmsError as exc:
        _fail(exc)
    finally:
        db.dispose()
    typer.echo(
        json.dumps(
            [{"statute": o.statute, "section": o.section, "subclause": o.subclause} for o in offences],
            ensure_ascii=False,
        )
    )
