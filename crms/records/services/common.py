"""What every records service shares: stamping who/when on a row, fetching a person (following merge
redirects) or a writable one, fetching a case or a person-in-case link, the checks of a status change
shared by cases and persons in cases, and the paging limit."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from crms.access.policy import Permission, authorize
from crms.access.principal import Principal
from crms.errors import Conflict, NotFound, rule_error
from crms.records.cnic import CNIC_LIKE, format_cnic
from crms.timeutil import utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from crms.records.models import Case, CaseParty, Person

# The ORM classes are imported where a row is fetched: the reads that need none (the CNIC lookup) import
# this module without building them.

MAX_PAGE = 500


def touch(obj: Any, principal: Principal, *, new: bool = False) -> None:
    """Stamp who/when on a tracked row."""
    now = utcnow()
    if new:
        obj.created_at = now
        obj.created_by = principal.user_id
    obj.updated_at = now
    obj.updated_by = principal.user_id


def add_user_names(session: Session, rows: list[dict], *fields: str) -> None:
    """Beside each user id of ``rows`` in ``fields`` (``created_by`` ...), that user's name
    (``created_by_name``), for the pages that say who did what: one query for all of them."""
    from sqlalchemy import select

    from crms.access.models import User

    ids = {row[f] for row in rows for f in fields if row.get(f) is not None}
    query = select(User.id, User.username).where(User.id.in_(sorted(ids)))
    names = {user_id: name for user_id, name in session.execute(query)} if ids else {}
    for row in rows:
        for f in fields:
            if f in row:
                row[f"{f}_name"] = names.get(row[f])


def removal_reason(data, what: str) -> str:
    """The stated reason of a removal (``data``: an EntryRemoval or its dict), or ValidationError naming
    ``reason``: an entry made in error goes only with one (``what``: "the entry is taken off the record")."""
    from crms.records.schemas import EntryRemoval, coerce

    reason = coerce(EntryRemoval, data).reason
    if not reason:
        raise rule_error("reason", "reason_missing", f"state why {what} (a reason is required)")
    return reason


def _description_text(d: Any) -> str:
    """A physical description in one line: the day observed, the fields recorded, each mark."""
    named = {"height_cm": "height (cm)", "eye_colour": "eye colour"}
    keys = ("height_cm", "build", "complexion", "eye_colour", "hair", "beard")
    parts = [f"observed {d.observed_on.isoformat()}"]
    parts += [f"{named.get(k, k)} {getattr(d, k)}" for k in keys if getattr(d, k) not in (None, "")]
    if d.languages:
        parts.append("languages " + ", ".join(d.languages))
    parts += [f"{m.kind} {m.body_location}" + (f" ({m.text})" if m.text else "") for m in d.marks]
    return "; ".join(parts)


def _document_number(d: Any) -> str:
    return format_cnic(d.number) if d.doc_type in CNIC_LIKE else d.number


def _description_entry(d: Any) -> dict:
    keys = ("height_cm", "build", "complexion", "eye_colour", "hair", "beard")
    return (
        {"observed_on": d.observed_on.isoformat()}
        | {k: getattr(d, k) for k in keys}
        | {
            "languages": list(d.languages or []),
            "marks": [{"kind": m.kind, "body_location": m.body_location, "text": m.text} for m in d.marks],
        }
    )


# What the record's history keeps of an entry added, removed or corrected (action ``add`` / ``remove`` /
# ``correct``), by kind: in one line of English (``held``, as the API and the audit trail give it) and as
# its fields (``entry``, which the pages say in their language: an address's kind, a description's words).
ENTRY_SHOWN: dict[str, Callable[[Any], str]] = {
    "document": lambda d: f"{d.doc_type} {_document_number(d)}",
    "alias": lambda a: f"{a.name} ({a.script})",
    "address": lambda a: " ".join(x for x in (a.kind, a.text, a.police_station_code, a.district_code) if x),
    "phone": lambda p: p.e164,
    "description": _description_text,
}
ENTRY_FIELDS: dict[str, Callable[[Any], dict]] = {
    "document": lambda d: {"doc_type": d.doc_type, "number": _document_number(d)},
    "alias": lambda a: {"name": a.name, "script": a.script},
    "address": lambda a: {
        "kind": a.kind,
        "text": a.text,
        "police_station": a.police_station_code,
        "district": a.district_code,
    },
    "phone": lambda p: {"e164": p.e164},
    "description": _description_entry,
}


def entry_change(kind: str, row: Any) -> dict:
    """What the history keeps of the entry ``row`` of ``kind``: ``held`` (its line) and ``entry`` (its
    fields), the keyword arguments of :func:`record_entry_change`."""
    return {"held": ENTRY_SHOWN[kind](row), "entry": ENTRY_FIELDS[kind](row)}


def record_entry_change(
    session: Session,
    principal: Principal,
    person_id: int,
    action: str,
    kind: str,
    held: str,
    reason: str | None = None,
    before: str | None = None,
    *,
    entry: dict | None = None,
    entry_before: dict | None = None,
) -> None:
    """Keep an entry added to a person's record, removed from it as made in error, or corrected, in the
    person's own history (``person_changes``, action ``add``, ``remove`` or ``correct``): the record shows
    what came, went or changed (``before``), when, by whom and (a removal) why, as the audit trail does.
    ``entry`` and ``entry_before`` are the entry's fields (:data:`ENTRY_FIELDS`), after and before."""
    from crms.records.models import PersonChange

    changes = {"kind": kind, "held": held} | ({"reason": reason} if reason is not None else {})
    changes |= {"before": before} if before is not None else {}
    changes |= {"entry": entry} if entry is not None else {}
    changes |= {"entry_before": entry_before} if entry_before is not None else {}
    session.add(
        PersonChange(
            person_id=person_id,
            action=action,
            changes=changes,
            changed_at=utcnow(),
            changed_by=principal.user_id,
        )
    )


def entries_added(
    session: Session, principal: Principal, person: Any, kind: str, collection: str, before: int
) -> None:
    """The end of an action that added entries of ``kind`` to ``person``'s ``collection`` past its first
    ``before``: each kept in the person's history (one given twice was not added, and is not kept), the
    record stamped (its version raised), the action audited (``person.<kind>.add``)."""
    from crms.access import audit

    for row in getattr(person, collection)[before:]:
        record_entry_change(session, principal, person.id, "add", kind, **entry_change(kind, row))
    touch(person, principal)
    session.flush()
    audit.record(session, principal, f"person.{kind}.add", target_type="person", target_id=person.id)


def check_version(session: Session, row: Any, expected: int | None, what: str) -> None:
    """Refuse (409, field ``version``) a change made on a copy of ``row`` read at version ``expected`` when
    the row has changed since: saving it would silently undo the other change. ``None``: the caller sent no
    version (an API client that reads nothing first)."""
    if expected is None or expected == row.version:
        return
    if expected > row.version:  # (no copy of it was ever read at that version: a mistyped number)
        raise Conflict(
            f"{what} {row.id} is at version {row.version}: there is no version {expected} to make a change "
            "on; read it again",
            field="version",
        )
    from crms.access.models import User
    from crms.timeutil import local

    who = session.get(User, row.updated_by) if row.updated_by is not None else None
    by = f" by {who.username}" if who is not None else ""
    at = local(row.updated_at)  # on the office's clock, as the pages show it
    raise Conflict(
        f"{what} {row.id} was changed{by} at {at:%Y-%m-%d %H:%M} ({at.tzname()}) since it was read (version "
        f"{expected}, now {row.version}); nothing was saved: read it again and make the change on what it "
        "holds now",
        field="version",
    )


def check_transition(
    transitions: dict[str, set[str]], old: str, new: str, *, what: str = "status", kind: str = "status"
) -> None:
    """Refuse a status change that ``transitions`` does not allow from ``old`` (field ``status``); its kind
    is ``{kind}_not_allowed``, or ``{kind}_final`` from a status that allows none."""
    allowed = sorted(str(s) for s in transitions.get(old, set()))
    if new not in allowed:
        message = f"{what} cannot change from {old} to {new} (allowed: {', '.join(allowed) or 'none'})"
        if not allowed:
            raise rule_error("status", f"{kind}_final", message, old=str(old))
        values = {"old": str(old), "new": str(new), "allowed": allowed}
        raise rule_error("status", f"{kind}_not_allowed", message, **values)


def check_not_before_fir(day: Any, case: Case, field: str) -> None:
    """Refuse a date (when given) earlier than the day the case's FIR was registered."""
    if day and day < case.registered_on:
        message = f"{field} is before the FIR was registered"
        raise rule_error(field, "before_fir", message, registered=case.registered_on.isoformat())


def get_person_row(session: Session, person_id: int, *, follow: bool = True) -> tuple[Person, int | None]:
    """The person (following merge redirects when ``follow``) and the id it was redirected from."""
    from crms.records.models import Person

    person = session.get(Person, person_id)
    if person is None:
        raise person_not_found(person_id)
    redirected_from = None
    seen = set()
    while follow and person.merged_into_id is not None and person.id not in seen:
        seen.add(person.id)
        redirected_from = redirected_from or person.id
        person = session.get(Person, person.merged_into_id)
    return person, redirected_from


def person_not_found(person_id: int) -> NotFound:
    """The answer for a person id that no record has."""
    message = f"person {person_id} not found"
    return rule_error("person_id", "person_not_found", message, error=NotFound, person=person_id)


def merged_person(message: str, person_id: int, into: int) -> Conflict:
    """The refusal of a change to a person merged into another (``into``): that record is the one to use."""
    return rule_error("person_id", "person_merged", message, error=Conflict, person=person_id, into=into)


def get_writable_person(session: Session, principal: Principal, person_id: int, permission=None) -> Person:
    authorize(principal, permission or Permission.PERSON_WRITE)  # the role first (403 before 404)
    person, _ = get_person_row(session, person_id, follow=False)
    if person.merged_into_id is not None:
        message = f"person {person_id} was merged into person {person.merged_into_id}; change that record"
        raise merged_person(message, person_id, person.merged_into_id)
    authorize(principal, permission or Permission.PERSON_WRITE, unit=person.unit_path)
    return person


def _get_case(session: Session, case_id: int) -> Case:
    from crms.records.models import Case

    case = session.get(Case, case_id)
    if case is None:
        message = f"case {case_id} not found"
        raise rule_error("case_id", "case_not_found", message, error=NotFound, case=case_id)
    return case


def _get_link(session: Session, link_id: int) -> CaseParty:
    from crms.records.models import CaseParty

    link = session.get(CaseParty, link_id)
    if link is None:
        message = f"person-in-case link {link_id} not found"
        raise rule_error("link_id", "link_not_found", message, error=NotFound, link=link_id)
    return link


def writable_case(session: Session, principal: Principal, case_id: int, permission: Permission) -> Case:
    """The case a write goes to (404), within the principal's unit (403). Callers check the role first, so
    that a role without ``permission`` learns nothing of which cases exist (403 before 404)."""
    case = _get_case(session, case_id)
    authorize(principal, permission, unit=case.unit_path)
    return case


def writable_link(session: Session, principal: Principal, link_id: int, permission: Permission) -> CaseParty:
    """The person-in-case link a write goes to, as :func:`writable_case` (its case's unit)."""
    link = _get_link(session, link_id)
    authorize(principal, permission, unit=link.case.unit_path)
    return link
