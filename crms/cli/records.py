"""Records commands: ``crms lookup CNIC [--json] [--reason R]`` (instant CNIC lookup); ``crms person
show|edit|add|remove|correct-description``, ``crms case list|show|edit|status`` and ``crms link
add|show|edit|status|arrest|conviction|remove`` (a person's full record, a case, a person in a case, and
changes to them, through the same services and permission checks as the API and the pages).

An edit names the fields to change as ``FIELD=VALUE`` (an empty value clears the field); ``--version N`` is
the record's version as last read (``show`` prints it): a record changed since is refused rather than
silently undoing that change.

Exit codes: 0 done, 1 no such record (for ``lookup``: no person with this CNIC), 2 invalid input or a
conflict (a stale version, a refused status change), 3 not authenticated / not allowed."""

from __future__ import annotations

import os

import typer

person_app = typer.Typer(
    help="Person records: show one, edit its fields, add to it, take off an entry recorded in error, "
    "correct a description.",
    no_args_is_help=True,
)
case_app = typer.Typer(
    help="Cases (FIRs): list them, show one, edit its fields, change its status.", no_args_is_help=True
)

link_app = typer.Typer(
    help="A person in a case (a link): add one, show it, edit its modus operandi and gang, change its "
    "status, record an arrest or a conviction, remove one made in error.",
    no_args_is_help=True,
)

AS_JSON = typer.Option(False, "--json", help="Print the result as JSON.")
VERSION = typer.Option(
    None, "--version", min=1, help="The version you read (from show): refused if the record changed since."
)
FIELDS = typer.Argument(..., help="FIELD=VALUE pairs (an empty VALUE clears the field).", show_default=False)


def register(app: typer.Typer) -> None:
    from crms.cli.light import QuickCommand

    app.command("lookup", cls=QuickCommand)(lookup)
    app.add_typer(person_app, name="person")
    app.add_typer(case_app, name="case")
    app.add_typer(link_app, name="link")


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

    from crms.cli.auth import cli_action
    from crms.records.services import lookup_cnic

    reason = reason or os.environ.get("CRMS_REASON")
    with cli_action(f"lookup {cnic}") as (session, principal):
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
    console.print(
        f"[bold]{found['name']}[/bold] {rel} {parent}  (person {found['id']}, version {found['version']})"
    )
    urdu = " ".join(x for x in (found.get("given_name_ur"), found.get("family_name_ur")) if x)
    if urdu:
        console.print(urdu)
    born = found.get("date_of_birth") or found.get("birth_year") or "?"
    gender = _both(found.get("gender_label"))
    console.print(f"gender {gender}  born {born}  caste {found.get('caste') or '-'}")
    for d in found["documents"]:
        console.print(f"{d['doc_type_label']['en']}: {d['formatted']} ({d['issuing_country']})")
    for w in found.get("cnic", {}).get("warnings", []):
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


def _changes(pairs: list[str], version: int | None) -> dict:
    """``FIELD=VALUE`` pairs as the services' input (an empty value: None, which clears the field)."""
    from crms.errors import ValidationError

    data: dict = {}
    for pair in pairs:
        field, sep, value = pair.partition("=")
        if not sep or not field.strip():
            raise ValidationError(f"expected FIELD=VALUE, got {pair!r}", field="fields")
        data[field.strip()] = value.strip() or None
    if version is not None:
        data["version"] = version
    return data


def _emit(data: dict, as_json: bool, show) -> None:
    import json

    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        show(data)


@person_app.command("show")
def person_show(
    person_id: int = typer.Argument(..., min=1, help="The person's number."),
    as_json: bool = AS_JSON,
    reason: str = typer.Option(
        None, "--reason", "-r", help="Why you read the record (default: env CRMS_REASON)."
    ),
) -> None:
    """A person's full record: names in both scripts, documents, flags, cases, and its version."""
    from crms.cli.auth import cli_action
    from crms.records.labels import labelled
    from crms.records.services import get_person

    reason = reason or os.environ.get("CRMS_REASON")
    with cli_action(f"person show {person_id}") as (session, principal):
        record = get_person(session, principal, person_id, reason=reason)
    if record is None:  # the miss is audited and committed
        typer.echo(f"not found: person {person_id} not found", err=True)
        raise typer.Exit(1)
    _emit(labelled(record), as_json, lambda found: (_print(found), _print_entries(found)))


@person_app.command("edit")
def person_edit(
    person_id: int = typer.Argument(..., min=1, help="The person's number."),
    fields: list[str] = FIELDS,
    version: int = VERSION,
    as_json: bool = AS_JSON,
) -> None:
    """Change a person's own fields, e.g.: crms person edit 12 caste=Raisani notes= --version 3"""
    from crms.cli.auth import cli_action
    from crms.records.labels import labelled
    from crms.records.services import person_core_dict, update_person

    with cli_action(f"person edit {person_id}") as (session, principal):
        person = update_person(session, principal, person_id, _changes(fields, version))
        out = labelled(person_core_dict(person))
    _emit(out, as_json, lambda p: typer.echo(f"person {p['id']} saved (version {p['version']})"))


ENTRY_KIND = typer.Argument(
    ..., help="What it is: document, alias, address, phone (add also takes: description).", show_default=False
)


def _entry_fields(kind: str, pairs: list[str]) -> dict | str:
    """``FIELD=VALUE`` pairs as an entry of KIND for the services: a phone's ``number=``; a description's
    each ``mark=KIND:WHERE[:TEXT]`` (repeatable) one of its marks (``languages=`` separated by commas)."""
    from crms.errors import ValidationError

    marks, plain = [], []
    for pair in pairs:
        field, _, value = pair.partition("=")
        if kind == "description" and field.strip() == "mark":
            mark_kind, _, rest = value.partition(":")
            where, _, text = rest.partition(":")
            if not where.strip():
                raise ValidationError(f"expected mark=KIND:WHERE[:TEXT], got {pair!r}", field="mark")
            mark = {"kind": mark_kind.strip(), "body_location": where.strip(), "text": text.strip() or None}
            marks.append(mark)
        else:
            plain.append(pair)
    data = {k: v for k, v in _changes(plain, None).items() if v is not None}
    if kind == "phone":
        return str(data.get("number") or "")
    if kind == "description":
        data["marks"] = marks
    return data


@person_app.command("add")
def person_add(
    person_id: int = typer.Argument(..., min=1, help="The person's number."),
    kind: str = ENTRY_KIND,
    fields: list[str] = FIELDS,
    as_json: bool = AS_JSON,
) -> None:
    """Add to a person's record, e.g.: crms person add 12 phone number=03001234567;
    crms person add 12 description observed_on=2024-03-14 height_cm=170 languages=Pashto,Urdu
    mark=scar:left cheek mark=tattoo:right forearm:a falcon"""
    from crms.cli.auth import cli_action
    from crms.errors import ValidationError
    from crms.records import services as svc

    adders = {
        "document": svc.add_document,
        "alias": svc.add_alias,
        "address": svc.add_address,
        "phone": svc.add_phone,
        "description": svc.add_description,
    }
    with cli_action(f"person add {person_id} {kind}") as (session, principal):
        if kind not in adders:
            raise ValidationError(f"cannot add a {kind!r} (one of: {', '.join(adders)})", field="kind")
        adders[kind](session, principal, person_id, _entry_fields(kind, fields))
        out = svc.full_record(session, person_id)
    _emit(out, as_json, lambda p: typer.echo(f"person {p['id']}: {kind} added (version {p['version']})"))


@person_app.command("remove")
def person_remove(
    person_id: int = typer.Argument(..., min=1, help="The person's number."),
    kind: str = ENTRY_KIND,
    entry_id: int = typer.Argument(..., min=1, help="The entry's number (person show lists them)."),
    reason: str = typer.Option(
        ..., "--reason", "-r", help="Why it is taken off (kept in the audit trail).", show_default=False
    ),
) -> None:
    """Take an entry recorded in error off a person's record, e.g.: crms person remove 12 phone 31
    --reason "typed on the wrong record"."""
    from crms.cli.auth import cli_action
    from crms.records import services as svc

    with cli_action(f"person remove {person_id} {kind} {entry_id}") as (session, principal):
        person = svc.remove_entry(session, principal, person_id, kind, entry_id, {"reason": reason})
        version = person.version
    typer.echo(f"person {person_id}: {kind} {entry_id} removed (version {version})")


@person_app.command("correct-description")
def person_correct_description(
    person_id: int = typer.Argument(..., min=1, help="The person's number."),
    description_id: int = typer.Argument(..., min=1, help="The description's number (person show lists it)."),
    fields: list[str] = FIELDS,
    version: int = VERSION,
    replace_marks: bool = typer.Option(
        False, "--replace-marks", help="The mark= pairs replace the marks recorded (default: added to them)."
    ),
) -> None:
    """Correct a recorded description: the fields named change, the others keep their value, e.g.:
    crms person correct-description 12 4 height_cm=172 beard= --version 1"""
    from crms.cli.auth import cli_action
    from crms.errors import NotFound
    from crms.records import services as svc

    with cli_action(f"person correct-description {person_id} {description_id}") as (session, principal):
        recorded = next(
            (d for d in svc.full_record(session, person_id)["descriptions"] if d["id"] == description_id),
            None,
        )
        if recorded is None:
            raise NotFound(
                f"description {description_id} not found for person {person_id}", field="description_id"
            )
        keep = ("observed_on", "height_cm", "build", "complexion", "eye_colour", "hair", "beard", "languages")
        data = {k: recorded[k] for k in keep} | {"marks": recorded["marks"]}
        changes = _changes([p for p in fields if not p.startswith("mark=")], version)
        if "languages" in changes:  # separated by commas (crms.records.schemas); empty: none
            changes["languages"] = changes["languages"] or []
        added = _entry_fields("description", [p for p in fields if p.startswith("mark=")])["marks"]
        data |= changes
        data["marks"] = added if replace_marks else data["marks"] + added
        row = svc.update_description(session, principal, person_id, description_id, data)
        now = row.version
    typer.echo(f"description {description_id} of person {person_id} saved (version {now})")


def _print_entries(found: dict) -> None:
    """A record's entries with their numbers (for person remove and correct-description)."""
    from rich.console import Console
    from rich.markup import escape

    console = Console()
    for a in found.get("aliases", []):
        console.print(escape(f"alias {a['id']}: {a['name']}"))
    for a in found.get("addresses", []):
        where = " ".join(x for x in (a["text"], a["police_station"], a["district"]) if x)
        console.print(escape(f"address {a['id']} ({a['kind']}): {where}"))
    for p in found.get("phones", []):
        console.print(f"phone {p['id']}: {p['e164']}")
    for d in found.get("descriptions", []):
        facts = [
            f"{k} {d[k]}" for k in ("height_cm", "build", "complexion", "eye_colour", "hair", "beard") if d[k]
        ]
        if d["languages"]:
            facts.append("languages " + ", ".join(d["languages"]))
        facts += [
            f"{m['kind']} {m['body_location']}" + (f" ({m['text']})" if m["text"] else "") for m in d["marks"]
        ]
        console.print(
            escape(f"description {d['id']} (version {d['version']}), {d['observed_on']}: " + "; ".join(facts))
        )


def _case_out(case) -> dict:
    from crms.records.labels import labelled
    from crms.records.services_cases import case_dict

    return labelled(case_dict(case, parties=False), status_vocabulary="case_status")


def _print_case(c: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{c['fir']}[/bold]  (case {c['id']}, version {c['version']})")
    console.print(
        f"district {c['district']}  registered {c['registered_on']}  occurred {c['occurred_on'] or '-'}"
    )
    console.print(f"sections {c['sections']}  place {c['place'] or '-'}")
    console.print(f"status {_both(c.get('status_label'))}")
    if c.get("notes"):
        console.print(f"notes {c['notes']}")
    if c.get("parties"):
        table = Table("Link", "Person", "Name", "Role", "Status")
        for p in c["parties"]:
            table.add_row(
                str(p["link_id"]),
                str(p["person_id"]),
                p["person_name"] or "-",
                _both(p["role_label"]),
                _both(p["status_label"]),
            )
        console.print(table)


@case_app.command("list")
def case_list(
    district: str = typer.Option(None, "--district", help="District code or name."),
    station: str = typer.Option(None, "--station", help="Police station code or name."),
    year: int = typer.Option(None, "--year", min=1947, max=9999, help="The FIR's year."),
    status: str = typer.Option(None, "--status", help="e.g. under_investigation, under_trial."),
    limit: int = typer.Option(50, "--limit", min=1, max=500),
    offset: int = typer.Option(0, "--offset", min=0),
    as_json: bool = AS_JSON,
) -> None:
    """FIRs, latest entered first, filtered by district, police station, year and status."""
    from crms.cli.auth import cli_action
    from crms.records.labels import labelled
    from crms.records.services_cases import list_cases

    filters = {"district": district, "police_station": station, "year": year, "status": status}
    with cli_action("case list") as (session, principal):
        page = list_cases(session, principal, limit=limit, offset=offset, **filters)
        page = labelled(page, status_vocabulary="case_status")
    _emit(page, as_json, _print_cases)


def _print_cases(page: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    shown = len(page["items"])
    title = f"FIRs {page['offset'] + 1}-{page['offset'] + shown} of {page['total']}" if shown else "no FIRs"
    table = Table("Case", "FIR", "Registered", "Sections", "Status", title=title)
    for c in page["items"]:
        table.add_row(str(c["id"]), c["fir"], c["registered_on"], c["sections"], _both(c.get("status_label")))
    Console().print(table)


@case_app.command("show")
def case_show(
    case_id: int = typer.Argument(..., min=1, help="The case's number (not the FIR number)."),
    as_json: bool = AS_JSON,
) -> None:
    """A case: FIR key, offences, status and its history, the persons linked, and its version."""
    from crms.cli.auth import cli_action
    from crms.records.labels import labelled
    from crms.records.services_cases import get_case

    with cli_action(f"case show {case_id}") as (session, principal):
        case = labelled(get_case(session, principal, case_id), status_vocabulary="case_status")
    _emit(case, as_json, _print_case)


@case_app.command("edit")
def case_edit(
    case_id: int = typer.Argument(..., min=1, help="The case's number."),
    fields: list[str] = FIELDS,
    version: int = VERSION,
    as_json: bool = AS_JSON,
) -> None:
    """Change a case's fields (occurred_on, place, sections, notes), e.g.
    crms case edit 7 place="Sariab Road" --version 2"""
    from crms.cli.auth import cli_action
    from crms.records.services_cases import update_case

    with cli_action(f"case edit {case_id}") as (session, principal):
        out = _case_out(update_case(session, principal, case_id, _changes(fields, version)))
    _emit(out, as_json, lambda c: typer.echo(f"case {c['id']} saved (version {c['version']})"))


@case_app.command("status")
def case_status(
    case_id: int = typer.Argument(..., min=1, help="The case's number."),
    status: str = typer.Argument(..., help="The new status, e.g. under_investigation, challan_complete."),
    effective_on: str = typer.Option(None, "--on", help="The day it took effect (YYYY-MM-DD)."),
    note: str = typer.Option(None, "--note", help="A note kept with the change."),
    as_json: bool = AS_JSON,
) -> None:
    """Change a case's status (only the transitions the case's state allows; kept in its history)."""
    from crms.cli.auth import cli_action
    from crms.records.services_cases import change_case_status

    data = {"status": status, "effective_on": effective_on, "note": note}
    with cli_action(f"case status {case_id}") as (session, principal):
        out = _case_out(change_case_status(session, principal, case_id, data))
    _emit(out, as_json, lambda c: typer.echo(f"case {c['id']} is now {_both(c.get('status_label'))}"))


# ------------------------------------------------------------------------------- a person in a case

LINK_ID = typer.Argument(..., min=1, help="The link's number (crms case show lists them).")
ON = typer.Option(None, "--on", help="The day it took effect (YYYY-MM-DD).")


def _link_out(link) -> dict:
    from crms.records.labels import labelled
    from crms.records.services_cases import link_dict

    return labelled(link_dict(link))


def _print_link(link: dict) -> None:
    from datetime import datetime

    from rich.console import Console

    from crms.timeutil import local

    console = Console()
    console.print(
        f"[bold]link {link['link_id']}[/bold]: person {link['person_id']} in {link['fir']} (case "
        f"{link['case_id']}) as {_both(link.get('role_label'))}, {_both(link.get('status_label'))}, "
        f"version {link['version']}"
    )
    console.print(f"modus operandi {link['modus_operandi'] or '-'}  gang {link['gang'] or '-'}")
    for h in link.get("status_history", []):
        day = h["effective_on"] or f"recorded {local(datetime.fromisoformat(h['changed_at'])):%Y-%m-%d}"
        console.print(f"  {day}: {h['from'] or '-'} -> {h['to']}  {h['note'] or ''}".rstrip())
    for a in link.get("arrests", []):
        console.print(f"  arrested {a['arrested_on']} {a['place'] or ''} {a['arrested_by'] or ''}".rstrip())
    for v in link.get("convictions", []):
        console.print(f"  convicted {v['convicted_on']} by {v['court']}: {v['sentence']}")


def _saved(link: dict) -> None:
    typer.echo(f"link {link['link_id']}: person {link['person_id']} is {_both(link.get('status_label'))}")


@link_app.command("add")
def link_add(
    case_id: int = typer.Argument(..., min=1, help="The case's number."),
    person: str = typer.Argument(..., help="The person's number, or their CNIC (13 digits)."),
    role: str = typer.Option("accused", "--role", help="accused, complainant, victim or witness."),
    effective_on: str = typer.Option(None, "--on", help="The day the person was named (YYYY-MM-DD)."),
    mo: str = typer.Option(None, "--mo", help="Modus operandi in this case."),
    gang: str = typer.Option(None, "--gang", help="The gang, where known."),
    as_json: bool = AS_JSON,
) -> None:
    """Link a person to a case, e.g. crms link add 7 12 --on 2024-03-14 --mo "snatching on motorbike", or
    crms link add 7 54400-1234567-3 (by CNIC)."""
    from crms.cli.auth import cli_action
    from crms.records.cnic import is_cnic_like
    from crms.records.services_cases import link_person

    data = {
        "cnic" if is_cnic_like(person) else "person_id": person,
        "role": role,
        "effective_on": effective_on,
        "modus_operandi": mo,
        "gang": gang,
    }
    with cli_action(f"link add {case_id} {person}") as (session, principal):
        out = _link_out(link_person(session, principal, case_id, {k: v for k, v in data.items() if v}))
    _emit(out, as_json, _saved)


@link_app.command("show")
def link_show(link_id: int = LINK_ID, as_json: bool = AS_JSON) -> None:
    """A person in a case: role, status and its history, modus operandi, gang, arrests, convictions."""
    from crms.cli.auth import cli_action
    from crms.records.labels import labelled
    from crms.records.services_cases import get_link

    with cli_action(f"link show {link_id}") as (session, principal):
        link = labelled(get_link(session, principal, link_id))
    _emit(link, as_json, _print_link)


@link_app.command("edit")
def link_edit(
    link_id: int = LINK_ID, fields: list[str] = FIELDS, version: int = VERSION, as_json: bool = AS_JSON
) -> None:
    """Change a link's modus_operandi or gang, e.g. crms link edit 31 gang="Zarghoon gang" --version 2."""
    from crms.cli.auth import cli_action
    from crms.records.services_cases import update_link

    with cli_action(f"link edit {link_id}") as (session, principal):
        out = _link_out(update_link(session, principal, link_id, _changes(fields, version)))
    _emit(out, as_json, lambda link: typer.echo(f"link {link['link_id']} saved (version {link['version']})"))


@link_app.command("status")
def link_status(
    link_id: int = LINK_ID,
    status: str = typer.Argument(..., help="The new status, e.g. absconder, on_bail, acquitted."),
    effective_on: str = ON,
    note: str = typer.Option(None, "--note", help="A note kept with the change."),
    as_json: bool = AS_JSON,
) -> None:
    """Change a person's status in a case (arrests and convictions: their own commands)."""
    from crms.cli.auth import cli_action
    from crms.records.services_cases import change_party_status

    data = {"status": status, "effective_on": effective_on, "note": note}
    with cli_action(f"link status {link_id}") as (session, principal):
        out = _link_out(change_party_status(session, principal, link_id, data))
    _emit(out, as_json, _saved)


@link_app.command("arrest")
def link_arrest(
    link_id: int = LINK_ID,
    arrested_on: str = typer.Argument(..., help="The day of the arrest (YYYY-MM-DD)."),
    place: str = typer.Option(None, "--place", help="Where."),
    arrested_by: str = typer.Option(None, "--by", help="Who made the arrest."),
    notes: str = typer.Option(None, "--notes"),
    as_json: bool = AS_JSON,
) -> None:
    """Record an arrest of an accused; the status becomes arrested."""
    from crms.cli.auth import cli_action
    from crms.records.services_cases import record_arrest

    data = {"arrested_on": arrested_on, "place": place, "arrested_by": arrested_by, "notes": notes}
    with cli_action(f"link arrest {link_id}") as (session, principal):
        out = _link_out(record_arrest(session, principal, link_id, data).party)
    _emit(out, as_json, _saved)


@link_app.command("conviction")
def link_conviction(
    link_id: int = LINK_ID,
    court: str = typer.Option(..., "--court", help="The court."),
    convicted_on: str = typer.Option(..., "--on", help="The day of the judgement (YYYY-MM-DD)."),
    sentence: str = typer.Option(..., "--sentence", help="The sentence, as pronounced."),
    notes: str = typer.Option(None, "--notes"),
    as_json: bool = AS_JSON,
) -> None:
    """Record a conviction of an accused; the status becomes convicted."""
    from crms.cli.auth import cli_action
    from crms.records.services_cases import record_conviction

    data = {"court": court, "convicted_on": convicted_on, "sentence": sentence, "notes": notes}
    with cli_action(f"link conviction {link_id}") as (session, principal):
        out = _link_out(record_conviction(session, principal, link_id, data).party)
    _emit(out, as_json, _saved)


@link_app.command("remove")
def link_remove(
    link_id: int = LINK_ID,
    reason: str = typer.Option(
        ..., "--reason", "-r", help="Why it is removed (kept in the audit trail).", show_default=False
    ),
) -> None:
    """Remove a link made in error (the wrong person or the wrong FIR chosen); its flags are cleared and
    kept. Not with an arrest or a conviction recorded."""
    from crms.cli.auth import cli_action
    from crms.records.services_cases import remove_link

    with cli_action(f"link remove {link_id}") as (session, principal):
        link = remove_link(session, principal, link_id, {"reason": reason})
        what = f"person {link.person_id} is no longer in case {link.case_id}"
    typer.echo(f"link {link_id} removed: {what}")
