"""Photo commands: ``crms photo list PERSON``, ``crms photo add PERSON FILE [--kind K] [--note N]`` and
``crms photo remove PHOTO --reason R`` (a photo taken in error: kept as a replaced one, the view it replaced
current again), through the same services and permission checks as the API and the pages.

Exit codes: 0 done, 1 no such person or photo, 2 invalid input or a conflict (a photo no longer current),
3 not authenticated / not allowed."""

from __future__ import annotations

import json
from pathlib import Path

import typer

photo_app = typer.Typer(
    help="A person's photos: list them, add one, take one taken in error off.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(photo_app, name="photo")


def _line(p: dict) -> str:
    note = f" — {p['note']}" if p.get("note") else ""
    state = "current" if p["active"] else f"replaced {p['retired_at']}"
    return f"photo {p['id']}: {p['kind']} {p['width']}x{p['height']} {p['format']}, {state}{note}"


@photo_app.command("list")
def photo_list(
    person_id: int = typer.Argument(..., min=1, help="The person's number."),
    history: bool = typer.Option(False, "--history", help="Also the replaced and removed photos."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """A person's photos (without the images)."""
    from crms.cli.auth import cli_action
    from crms.faces.photos import photos_of

    with cli_action(f"photo list {person_id}") as (session, principal):
        rows = photos_of(session, principal, person_id, history=history)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for p in rows:
        typer.echo(_line(p))
    if not rows:
        typer.echo(f"person {person_id} has no {'' if history else 'current '}photos")


@photo_app.command("add")
def photo_add(
    person_id: int = typer.Argument(..., min=1, help="The person's number."),
    image: Path = typer.Argument(..., help="The photo: a JPEG, PNG or WebP file.", show_default=False),
    kind: str = typer.Option("front", "--kind", help="front, left, right or mark."),
    note: str = typer.Option(None, "--note", help="E.g. where a mark is."),
) -> None:
    """Add a photo of a person (a new front, left or right view replaces the current one, kept)."""
    from crms.access.crypto import EncryptedStore
    from crms.cli.auth import cli_action
    from crms.config import get_settings
    from crms.errors import ValidationError
    from crms.faces import photos

    with cli_action(f"photo add {person_id}") as (session, principal):
        try:
            data = image.read_bytes()[: photos.MAX_BYTES + 1]
        except OSError as exc:
            raise ValidationError(f"{image}: cannot read ({exc.strerror or exc})", field="image") from None
        if len(data) > photos.MAX_BYTES:
            raise ValidationError(f"{image}: larger than {photos.MAX_BYTES} bytes", field="image")
        store = EncryptedStore.from_settings(get_settings())
        row = photos.upload_photo(session, principal, store, person_id, kind, data, note=note)
        out = photos.photo_dict(row)
    typer.echo(_line(out))


@photo_app.command("remove")
def photo_remove(
    photo_id: int = typer.Argument(..., min=1, help="The photo's number (photo list shows it)."),
    reason: str = typer.Option(
        ..., "--reason", "-r", help="Why it is taken off (kept in the audit trail).", show_default=False
    ),
) -> None:
    """Take a photo taken in error off a person's current photos, e.g.: crms photo remove 31 --reason
    "another man's photo"."""
    from crms.cli.auth import cli_action
    from crms.faces import photos

    with cli_action(f"photo remove {photo_id}") as (session, principal):
        _, back = photos.remove_photo(session, principal, photo_id, reason)
        again = f"; photo {back.id} is current again" if back is not None else ""
    typer.echo(f"photo {photo_id} removed{again}")
