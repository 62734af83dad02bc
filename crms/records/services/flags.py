"""Flags (wanted, proclaimed offender, absconder) derived from person-in-case statuses, and raised or
cleared by hand; never deleted (raised_at/cleared_at keep the history).

A person-in-case status raises flags pointing at that case — absconder → {absconder, wanted}; proclaimed
offender A/B → {proclaimed offender, absconder, wanted}. Any other status clears that case's flags; the case
itself being acquitted, cancelled or compromised clears the flags it raised."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from crms.access import audit
from crms.access.policy import Permission, authorize
from crms.access.principal import Principal
from crms.errors import Conflict, NotFound, ValidationError
from crms.records.models import (
    CaseParty,
    CaseStatus,
    FlagKind,
    PartyRole,
    PartyStatus,
    PersonFlag,
)
from crms.records.schemas import (
    FlagIn,
    coerce,
)
from crms.records.services.common import _get_case
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
        session.add(
            PersonFlag(
                person_id=link.person_id,
                kind=str(kind),
                case_id=link.case_id,
                party_id=link.id,
                raised_at=utcnow(),
                raised_by=principal.user_id,
                raise_reason=reason[:500],
            )
        )
    session.flush()


def set_flag(session: Session, principal: Principal, person_id: int, data: FlagIn | dict) -> PersonFlag:
    """Raise or clear a flag by hand; it must point at a case where the person is an accused."""
    authorize(principal, Permission.STATUS_WRITE)  # the role first (403 before 404)
    data = coerce(FlagIn, data)
    case = _get_case(session, data.case_id)
    authorize(principal, Permission.STATUS_WRITE, unit=case.unit_path)
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
        flag = PersonFlag(
            person_id=person_id,
            kind=data.kind.value,
            case_id=case.id,
            party_id=link.id,
            raised_at=utcnow(),
            raised_by=principal.user_id,
            raise_reason=data.reason,
        )
        session.add(flag)
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
    rows = session.scalars(
        select(PersonFlag)
        .where(PersonFlag.person_id == person_id)
        .order_by(PersonFlag.id)
        .options(selectinload(PersonFlag.case))
    ).all()
    audit.record(session, principal, "person.read", target_type="person", target_id=person_id, detail="flags")
    return [flag_dict(f) for f in rows]
