"""Flags (wanted, proclaimed offender, absconder) derived from person-in-case statuses, and raised or
cleared by hand; never deleted (raised_at/cleared_at keep the history).

A person-in-case status raises flags pointing at that case — absconder → {absconder, wanted}; proclaimed
offender A/B → {proclaimed offender, absconder, wanted}. Any other status clears that case's flags; the case
itself being acquitted, cancelled or compromised clears the flags it raised.

Home-district confirmation: a flag raised by an officer whose unit lies outside the person's home district
(the district of the unit that keeps the person's record) is *pending*: it is recorded, shown as pending,
and listed for that district (:func:`pending_flags`), but it is not active (no wanted/absconder hit at a
check-post) until an SHO or supervisor of the home district confirms it (:func:`confirm_flag`); they may
also reject it, which clears it. A flag raised from within the home district, or by a unit containing it
(a division or the province), is active at once. See docs/SECURITY.md."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from crms.access import audit
from crms.access.policy import Permission, authorize, unit_contains
from crms.access.principal import Principal
from crms.errors import Conflict, NotFound, PermissionDenied, ValidationError
from crms.records.models import (
    CaseParty,
    CaseStatus,
    FlagKind,
    PartyRole,
    PartyStatus,
    Person,
    PersonFlag,
)
from crms.records.schemas import (
    FlagConfirmIn,
    FlagIn,
    coerce,
)
from crms.records.services.common import writable_case
from crms.records.services.guard import guard_reads
from crms.records.services.reading import flag_dict
from crms.timeutil import utcnow

CS, PS = CaseStatus, PartyStatus

# Flags each person-in-case status keeps raised for that case.
STATUS_FLAGS: dict[str, set[str]] = {
    PS.ABSCONDER: {FlagKind.ABSCONDER, FlagKind.WANTED},
    PS.PROCLAIMED_OFFENDER_A: {FlagKind.PROCLAIMED_OFFENDER, FlagKind.ABSCONDER, FlagKind.WANTED},
    PS.PROCLAIMED_OFFENDER_B: {FlagKind.PROCLAIMED_OFFENDER, FlagKind.ABSCONDER, FlagKind.WANTED},
}
CASE_CLEARS_FLAGS = {CS.ACQUITTED, CS.CANCELLED, CS.COMPROMISED}

# ------------------------------------------------------------------------------------------ flags


def _clear(flag: PersonFlag, principal: Principal, reason: str) -> None:
    flag.cleared_at = utcnow()
    flag.cleared_by = principal.user_id
    flag.clear_reason = reason[:500]


def home_district(unit_path: str) -> str:
    """The district part of a unit path (province/division/district); a shorter path is itself."""
    return "/".join(unit_path.strip("/").upper().split("/")[:3])


def _overlaps(unit: str, other: str) -> bool:
    return unit_contains(unit, other) or unit_contains(other, unit)


def pending_unit_for(principal: Principal, person: Person) -> str | None:
    """The home district that must confirm a flag ``principal`` raises on ``person``, or None when the
    principal's unit overlaps it (the flag is active at once)."""
    home = home_district(person.unit_path)
    return None if principal.unit is None or _overlaps(principal.unit, home) else home


def _new_flag(session: Session, principal: Principal, person_id: int, kind: str, **kw) -> PersonFlag:
    person = session.get(Person, person_id)
    pending = pending_unit_for(principal, person)
    flag = PersonFlag(
        person_id=person_id,
        kind=str(kind),
        raised_at=utcnow(),
        raised_by=principal.user_id,
        pending_unit=pending,
        **kw,
    )
    session.add(flag)
    if pending is not None:  # the home district is told: its pending list, and this audit entry
        session.flush()
        audit.record(
            session,
            principal,
            "person.flag.pending",
            target_type="person",
            target_id=person_id,
            query={
                "flag_id": flag.id,
                "kind": str(kind),
                "case_id": kw.get("case_id"),
                "confirm_by": pending,
            },
        )
    return flag


def _sync_flags(session: Session, principal: Principal, link: CaseParty, reason: str) -> None:
    """Make the active flags of (person, case) match what the link's status implies."""
    wanted = STATUS_FLAGS.get(link.status, set())
    active = session.scalars(
        select(PersonFlag).where(
            PersonFlag.person_id == link.person_id,
            PersonFlag.case_id == link.case_id,
            PersonFlag.cleared_at.is_(None),
        )
    ).all()
    have = {f.kind for f in active}
    for f in active:
        if f.kind not in wanted and f.party_id == link.id:
            _clear(f, principal, reason)
    for kind in sorted(set(wanted) - have):
        _new_flag(
            session,
            principal,
            link.person_id,
            kind,
            case_id=link.case_id,
            party_id=link.id,
            raise_reason=reason[:500],
        )
    session.flush()


def set_flag(session: Session, principal: Principal, person_id: int, data: FlagIn | dict) -> PersonFlag:
    """Raise or clear a flag by hand; it must point at a case where the person is an accused."""
    authorize(principal, Permission.STATUS_WRITE)  # the role first (403 before 404)
    data = coerce(FlagIn, data)
    case = writable_case(session, principal, data.case_id, Permission.STATUS_WRITE)
    link = session.scalar(
        select(CaseParty).where(
            CaseParty.case_id == case.id,
            CaseParty.person_id == person_id,
            CaseParty.role == PartyRole.ACCUSED,
        )
    )
    if link is None:
        raise ValidationError(f"person {person_id} is not an accused in case {case.id}", field="case_id")
    active = session.scalar(
        select(PersonFlag).where(
            PersonFlag.person_id == person_id,
            PersonFlag.case_id == case.id,
            PersonFlag.kind == data.kind.value,
            PersonFlag.cleared_at.is_(None),
        )
    )
    if data.action == "raise":
        if active is not None:
            raise Conflict(f"flag {data.kind.value} is already raised for case {case.id}", field="kind")
        if link.status in (PS.ACQUITTED, PS.DISCHARGED):
            raise ValidationError(f"the person was {link.status} in case {case.id}", field="case_id")
        flag = _new_flag(
            session,
            principal,
            person_id,
            data.kind.value,
            case_id=case.id,
            party_id=link.id,
            raise_reason=data.reason,
        )
    else:
        if active is None:
            raise NotFound(f"no active {data.kind.value} flag for case {case.id}", field="kind")
        flag = active
        _clear(flag, principal, data.reason)
    session.flush()
    audit.record(
        session,
        principal,
        f"person.flag.{data.action}",
        target_type="person",
        target_id=person_id,
        query={"kind": data.kind.value, "case_id": case.id},
        reason=data.reason,
    )
    return flag


def flag_history(session: Session, principal: Principal, person_id: int) -> list[dict]:
    authorize(principal, Permission.PERSON_READ)
    guard_reads(session, principal)
    rows = session.scalars(
        select(PersonFlag)
        .where(PersonFlag.person_id == person_id)
        .order_by(PersonFlag.id)
        .options(selectinload(PersonFlag.case))
    ).all()
    audit.record(session, principal, "person.read", target_type="person", target_id=person_id, detail="flags")
    return [flag_dict(f) for f in rows]


def _pending_query(unit: str):
    u = unit.strip("/").upper()
    mine = (PersonFlag.pending_unit == u) | PersonFlag.pending_unit.startswith(u + "/")
    # a station's officers confirm for their district: the district path is a prefix of their unit
    within = [PersonFlag.pending_unit == "/".join(u.split("/")[:n]) for n in range(1, u.count("/") + 1)]
    q = select(PersonFlag).where(PersonFlag.cleared_at.is_(None), PersonFlag.pending_unit.is_not(None))
    from sqlalchemy import or_

    return q.where(or_(mine, *within))


def pending_flags(session: Session, principal: Principal) -> list[dict]:
    """Flags awaiting this officer's district's confirmation (the home district's work list)."""
    authorize(principal, Permission.FLAG_CONFIRM)
    rows = session.scalars(
        _pending_query(principal.unit).order_by(PersonFlag.id).options(selectinload(PersonFlag.case))
    ).all()
    audit.record(
        session,
        principal,
        "person.flag.pending.list",
        target_type="person",
        query={"ids": sorted({f.person_id for f in rows})},
    )
    out = []
    for f in rows:
        d = flag_dict(f)
        d["person_id"] = f.person_id
        out.append(d)
    return out


def confirm_flag(
    session: Session, principal: Principal, flag_id: int, data: FlagConfirmIn | dict
) -> PersonFlag:
    """Confirm (the flag becomes active) or reject (it is cleared) a flag awaiting the confirmation of the
    person's home district; only an SHO or supervisor whose unit lies in (or contains) that district."""
    authorize(principal, Permission.FLAG_CONFIRM)
    data = coerce(FlagConfirmIn, data)
    flag = session.get(PersonFlag, flag_id)
    if flag is None:
        raise NotFound(f"flag {flag_id} not found", field="flag_id")
    if flag.pending_unit is None or flag.cleared_at is not None:
        raise Conflict(f"flag {flag_id} is not awaiting confirmation", field="flag_id")
    if not _overlaps(principal.unit, flag.pending_unit):
        raise PermissionDenied(
            f"flag {flag_id} awaits the confirmation of {flag.pending_unit}, "
            f"outside your unit ({principal.unit})",
            kind="jurisdiction",
        )
    unit = flag.pending_unit
    if data.action == "confirm":
        flag.pending_unit = None
        flag.confirmed_at = utcnow()
        flag.confirmed_by = principal.user_id
    else:
        _clear(flag, principal, f"not confirmed by {unit}: {data.reason}")
    session.flush()
    audit.record(
        session,
        principal,
        f"person.flag.{data.action}",
        target_type="person",
        target_id=flag.person_id,
        query={"flag_id": flag.id, "kind": flag.kind, "case_id": flag.case_id, "unit": unit},
        reason=data.reason,
    )
    return flag
