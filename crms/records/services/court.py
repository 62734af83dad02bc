"""Arrests and convictions of an accused in a case (each moves the person's status in the case)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from crms.access import audit
from crms.access.policy import Permission, authorize
from crms.access.principal import Principal
from crms.errors import Conflict, ValidationError, rule_error
from crms.records.models import (
    Arrest,
    CaseParty,
    Conviction,
    PartyRole,
    PartyStatus,
)
from crms.records.schemas import (
    ArrestIn,
    ConvictionIn,
    coerce,
)
from crms.records.services.common import check_not_before_fir, touch, writable_link
from crms.records.services.links import _apply_party_status, check_party_status_in_case

PS = PartyStatus


def _accused_link(session: Session, principal: Principal, link_id: int, done: str, kind: str) -> CaseParty:
    """The link of the accused whose arrest or conviction is recorded (the role was checked first): within
    the principal's unit, and of an accused (else a refusal of ``kind``)."""
    link = writable_link(session, principal, link_id, Permission.STATUS_WRITE)
    if link.role != PartyRole.ACCUSED:
        message = f"only an accused can be {done} (this link is {link.role})"
        raise rule_error("link_id", kind, message, role=str(link.role))
    return link


def _save(
    session: Session, principal: Principal, link: CaseParty, row: Arrest | Conviction, action: str
) -> None:
    """Add the new arrest or conviction row and audit it against the person."""
    touch(row, principal, new=True)
    session.add(row)
    session.flush()
    key = "arrest_id" if isinstance(row, Arrest) else "conviction_id"
    audit.record(
        session,
        principal,
        action,
        target_type="person",
        target_id=link.person_id,
        query={"case_id": link.case_id, key: row.id},
    )


def record_arrest(session: Session, principal: Principal, link_id: int, data: ArrestIn | dict) -> Arrest:
    """Record an arrest of an accused; the status becomes 'arrested'. Refused while the person is in custody
    in the case, and when dated before the current status took effect."""
    authorize(principal, Permission.STATUS_WRITE)  # the role first (403 before 404)
    data = coerce(ArrestIn, data)
    link = _accused_link(session, principal, link_id, "arrested in a case", "arrest_accused_only")
    if data.arrested_on < link.case.registered_on and (
        link.case.occurred_on is None or data.arrested_on < link.case.occurred_on
    ):
        raise ValidationError("arrested_on is before the offence and the FIR", field="arrested_on")
    if link.status == PS.ARRESTED:  # (in custody: a release on bail or an escape comes first)
        last = max((a.arrested_on for a in link.arrests), default=None)
        if last is None:
            raise Conflict(
                "the person is already arrested in this case: record the bail or abscondence that ended it "
                "first",
                field="arrested_on",
            )
        message = (
            f"the person is already arrested in this case (on {last.isoformat()}): record the bail or "
            "abscondence that ended it first"
        )
        raise rule_error("arrested_on", "already_arrested", message, error=Conflict, since=last.isoformat())
    _apply_party_status(
        session, principal, link, PS.ARRESTED.value, data.arrested_on, "arrest recorded", recorded=True
    )
    arrest = Arrest(
        party_id=link.id,
        arrested_on=data.arrested_on,
        place=data.place,
        arrested_by=data.arrested_by,
        notes=data.notes,
    )
    _save(session, principal, link, arrest, "case.arrest")
    return arrest


def record_conviction(
    session: Session, principal: Principal, link_id: int, data: ConvictionIn | dict
) -> Conviction:
    """Record a conviction of an accused; the status becomes 'convicted'."""
    authorize(principal, Permission.STATUS_WRITE)  # the role first (403 before 404)
    data = coerce(ConvictionIn, data)
    link = _accused_link(session, principal, link_id, "convicted", "conviction_accused_only")
    check_not_before_fir(data.convicted_on, link.case, "convicted_on")
    check_party_status_in_case(PS.CONVICTED.value, link.case.status)
    if link.status != PS.CONVICTED:
        _apply_party_status(
            session,
            principal,
            link,
            PS.CONVICTED.value,
            data.convicted_on,
            f"convicted by {data.court}",
            recorded=True,
        )
    conviction = Conviction(
        party_id=link.id,
        court=data.court,
        convicted_on=data.convicted_on,
        sentence=data.sentence,
        notes=data.notes,
    )
    _save(session, principal, link, conviction, "case.conviction")
    return conviction
