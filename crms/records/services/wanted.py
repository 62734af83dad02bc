"""The wanted list of a unit: persons with an active wanted / proclaimed-offender flag, newest flag first,
for the dashboard. A way of browsing the register, so under the same rules as :func:`.reading.list_persons`:
``person:browse`` and a reason, every person listed counted as a read (:mod:`.guard`), audited as
``person.list`` with the flag kinds asked for and the persons returned."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from crms.access import audit
from crms.access.policy import Permission, authorize
from crms.access.principal import Principal
from crms.errors import ValidationError
from crms.records.models import Case, FlagKind, Person, PersonFlag
from crms.records.services.common import MAX_PAGE
from crms.records.services.guard import guard_reads
from crms.records.services.reading import display_name

WANTED_KINDS = (FlagKind.PROCLAIMED_OFFENDER.value, FlagKind.WANTED.value)


def list_wanted(
    session: Session,
    principal: Principal,
    *,
    unit: str | None = None,
    limit: int = 20,
    reason: str | None = None,
) -> list[dict]:
    """Persons of ``unit`` (default: the caller's; the unit and below) with an active wanted or
    proclaimed-offender flag: one row per person (the strongest flag: proclaimed offender before wanted),
    with the FIR that raised it."""
    authorize(principal, Permission.PERSON_BROWSE)
    reason = audit.require_reason(reason)
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    u = (unit or principal.unit).strip("/").upper()
    rows = session.execute(
        select(PersonFlag, Person, Case)
        .join(Person, Person.id == PersonFlag.person_id)
        .outerjoin(Case, Case.id == PersonFlag.case_id)
        .where(
            PersonFlag.cleared_at.is_(None),
            PersonFlag.kind.in_(WANTED_KINDS),
            Person.merged_into_id.is_(None),
            (Person.unit_path == u) | Person.unit_path.startswith(u + "/"),
        )
        .order_by(PersonFlag.raised_at.desc(), PersonFlag.id.desc())
        .limit(limit * len(WANTED_KINDS))
    ).all()
    out: dict[int, dict] = {}
    for flag, person, case in rows:
        item = out.get(person.id)
        if item is None or (item["kind"] == FlagKind.WANTED and flag.kind == FlagKind.PROCLAIMED_OFFENDER):
            out[person.id] = {
                "person_id": person.id,
                "name": display_name(person),
                "given_name_en": person.given_name_en,
                "family_name_en": person.family_name_en,
                "given_name_ur": person.given_name_ur,
                "family_name_ur": person.family_name_ur,
                "kind": flag.kind,
                "case_id": flag.case_id,
                "fir": case.fir_key if case is not None else None,
            }
    items = list(out.values())[:limit]
    guard_reads(session, principal, len(items))
    audit.record(
        session,
        principal,
        "person.list",
        target_type="person",
        query={
            "flags": list(WANTED_KINDS),
            "unit": u,
            "limit": limit,
            "ids": [i["person_id"] for i in items],
        },
        reason=reason,
        detail=f"{len(items)} wanted",
    )
    return items
