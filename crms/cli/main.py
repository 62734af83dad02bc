"""The ``crms`` command. Each area adds its commands from its own module in this package through a
``register(app)`` function; this file only assembles them. Commands import heavy code lazily."""

from __future__ import annotations

import sys

import typer

from crms.cli.light import TextGroup, pause_gc, settle_gc
from crms.optional import optional_module

app = typer.Typer(
    name="crms",
    help="Criminal Record Management System with AFIS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=TextGroup,  # its completion flags without Pydantic (start-up time, see crms.cli.light)
)

# One module per area; each defines register(app: typer.Typer) -> None.
COMMAND_MODULES = [
    "crms.cli.system",  # serve, db upgrade
    "crms.cli.records",  # lookup, import
    "crms.cli.photos",  # photo list|add|remove
    "crms.cli.reference",  # reference load|districts|stations|sections|parse
    "crms.cli.importer",  # import persons
    "crms.cli.access",  # user, audit
    "crms.cli.fp",  # fp extract|score|eval
    "crms.cli.enrol",  # fp enrol-pending|enrolment
    "crms.cli.synth",  # synth fingers
    "crms.cli.demo",  # demo
    "crms.cli.search",  # fp search|identify|duplicates|duplicate, bench identify
    "crms.cli.fingerprint_marks",  # fp mark-missing
    "crms.cli.prints",  # fp capture|prints
]


def _fingerprints_follow_merge(session, principal, survivor, merged, now) -> dict[str, list[int]]:
    from crms.biometrics.enrolment import follow_merge  # imported when a merge runs, not at start-up

    return follow_merge(session, principal, survivor, merged, now)


def _photos_follow_merge(session, principal, survivor, merged, now) -> dict[str, list[int]]:
    from crms.faces.photos import follow_merge

    return follow_merge(session, principal, survivor, merged, now)


def _current_units(session) -> dict[str, str]:
    from crms.records.reference.lookups import current_units  # imported when an account is checked

    return current_units(session)


def wire_areas() -> None:
    """Composition root: the areas whose rows follow a person merge (records imports no other area), and the
    registry of units that accounts are checked against."""
    from crms.access.units import register_unit_registry
    from crms.records.participants import register_merge_participant

    register_merge_participant(_fingerprints_follow_merge)
    register_merge_participant(_photos_follow_merge)
    register_unit_registry(_current_units)


wire_areas()

for _name in COMMAND_MODULES:
    _mod = optional_module(_name)
    if _mod is not None:
        _mod.register(app)


def main() -> None:
    from crms.config import restrict_new_files

    pause_gc()  # start-up: resumed once the command is known, except for a quick one (crms.cli.light)
    try:
        restrict_new_files()  # the data dir, database, logs and exports: private to the service account
        app()
    except Exception as exc:  # a database without the schema this code needs: said so, not a traceback
        why = _database_not_ready(exc)
        if why is None:
            raise
        print(f"error: {why.message}", file=sys.stderr)
        raise SystemExit(3) from None
    finally:
        settle_gc()


def _database_not_ready(exc: Exception):
    from crms.access.work import database_not_ready
    from crms.config import get_settings

    return database_not_ready(get_settings(), exc)


if __name__ == "__main__":
    main()
