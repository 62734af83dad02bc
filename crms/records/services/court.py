"""Arrests and convictions of an accused in a case (each moves the person's status in the case)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from crms.access import audit
from crms.access.policy import Permission, authorize
from crms.access.principal import Principal
from crms.errors import ValidationError
from crms.records.models import (
    Arrest,
    Conviction,
    PartyRole,
    PartyStatus,
)
from crms.records.schemas import (
    ArrestIn,
    ConvictionIn,
    coerce,
)
from crms.records.services.common import _get_link, touch
from crms.records.services.links import _apply_party_status, check_party_status_in_case

PS = PartyStatus


def record_arrest(session: Session, principal: Principal, link_id: int, data: ArrestIn | dict) -> Arrest:
    """Record an arrest of an accused; the status becomes 'arrested' (if it is not already)."""
    authorize(principal, Permission.STATUS_WRITE)  # the role first (403 before 404)
    data = coerce(ArrestIn, data)
    link = _get_link(session, link_id)
    authorize(principal, Permission.STATUS_WRITE, unit=link.case.unit_path)
    if link.role != PartyRole.ACCUSED:
        raise ValidationError(
            f"only an accused can be arrested in a case (this link is {link.role})", field="link_id"
        )
    if data.arrested_on < link.case.registered_on and (
        link.case.occurred_on is None or data.arrested_on < link.case.occurred_on
    ):
        raise ValidationError("arrested_on is before the offence and the FIR", field="arrested_on")
    if link.status != PS.ARRESTED:
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
    touch(arrest, principal, new=True)
    session.add(arrest)
    session.flush()
    audit.record(
        session,
        principal,
        "case.arrest",
        target_type="person",
        target_id=link.person_id,
        query={"case_id": link.case_id, "arrest_id": arrest.id},
    )
    return arrest


def record_conviction(
    session: Session, principal: Principal, link_id: int, data: ConvictionIn | dict
) -> Conviction:
    """Record a conviction of an accused; the status becomes 'convicted'."""
    authorize(principal, Permission.STATUS_WRITE)  # the role first (403 before 404)
    data = coerce(ConvictionIn, data)
    link = _get_link(session, link_id)
    authorize(principal, Permission.STATUS_WRITE, unit=link.case.unit_path)
    if link.role != PartyRole.ACCUSED:
        raise ValidationError(f"only an accused can be convicted (this link is {link.role})", field="link_id")
    if data.convicted_on < link.case.registered_on:
        raise ValidationError("convicted_on is before the FIR was registered", field="convicted_on")
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
    touch(conviction, principal, new=True)
    session.add(conviction)
    session.flush()
    audit.record(
        session,
        principal,
        "case.conviction",
        target_type="person",
        target_id=link.person_id,
        query={"case_id": link.case_id, "conviction_id": conviction.id},
    )
    return conviction
