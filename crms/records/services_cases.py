"""Case services: add an FIR (natural key police station + FIR number + year), read/update/list cases, link a
person to a case, change case and person-in-case statuses along validated transitions (history rows kept),
record arrests and convictions, and keep the derived flags (wanted, proclaimed offender, absconder) in step.

Flags: a person-in-case status raises flags pointing at that case — absconder → {absconder, wanted};
proclaimed offender A/B → {proclaimed offender, absconder, wanted}. Any other status (arrested, on bail,
convicted, acquitted, discharged) clears that case's flags; the case itself being acquitted, cancelled or
compromised clears the flags it raised. Flags are never deleted (raised_at/cleared_at keep the history).
Flags can also be raised or cleared by hand (:func:`set_flag`), e.g. "wanted" for a named accused.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from crms.access import audit
from crms.access.policy import Permission, authorize
from crms.access.principal import Principal
from crms.errors import Conflict, NotFound, ValidationError
from crms.records.models import (
    Arrest,
    Case,
    CaseOffence,
    CaseParty,
    CaseStatus,
    CaseStatusChange,
    Conviction,
    FlagKind,
    PartyRole,
    PartyStatus,
    PartyStatusChange,
    Person,
    PersonFlag,
)
from crms.records.schemas import (
    ArrestIn,
    CaseCreate,
    CaseStatusIn,
    CaseUpdate,
    ConvictionIn,
    FlagIn,
    LinkCreate,
    LinkUpdate,
    PartyStatusIn,
    coerce,
)
from crms.records.services import MAX_PAGE, _ts, party_dict, touch
from crms.timeutil import utcnow

CS, PS = CaseStatus, PartyStatus

# Allowed case status transitions (re-opening by court order included).
CASE_TRANSITIONS: dict[str, set[str]] = {
    CS.REGISTERED: {
        CS.UNDER_INVESTIGATION,
        CS.CANCELLED,
        CS.UNTRACED,
        CS.CHALLAN_COMPLETE,
        CS.CHALLAN_INTERIM,
        CS.CHALLAN_512,
    },
    CS.UNDER_INVESTIGATION: {
        CS.CHALLAN_COMPLETE,
        CS.CHALLAN_INTERIM,
        CS.CHALLAN_512,
        CS.CANCELLED,
        CS.UNTRACED,
    },
    CS.CHALLAN_INTERIM: {CS.CHALLAN_COMPLETE, CS.CHALLAN_512, CS.UNDER_TRIAL, CS.CANCELLED},
    CS.CHALLAN_COMPLETE: {CS.UNDER_TRIAL, CS.COMPROMISED},
    CS.CHALLAN_512: {CS.UNDER_TRIAL, CS.CHALLAN_COMPLETE},
    CS.CANCELLED: {CS.UNDER_INVESTIGATION},
    CS.UNTRACED: {CS.UNDER_INVESTIGATION},
    CS.UNDER_TRIAL: {CS.CONVICTED, CS.ACQUITTED, CS.COMPROMISED},
    CS.CONVICTED: {CS.ACQUITTED},  # acquitted on appeal
    CS.ACQUITTED: {CS.CONVICTED},  # conviction on appeal against acquittal
    CS.COMPROMISED: set(),
}

_AT_LARGE = {PS.ABSCONDER, PS.PROCLAIMED_OFFENDER_A, PS.PROCLAIMED_OFFENDER_B}
PARTY_TRANSITIONS: dict[str, set[str]] = {
    PS.NAMED: {PS.ARRESTED, PS.ON_BAIL, PS.ABSCONDER, PS.DISCHARGED, PS.ACQUITTED},
    PS.ARRESTED: {PS.ON_BAIL, PS.ABSCONDER, PS.CONVICTED, PS.ACQUITTED, PS.DISCHARGED},
    PS.ON_BAIL: {PS.ARRESTED, PS.ABSCONDER, PS.CONVICTED, PS.ACQUITTED, PS.DISCHARGED},
    PS.ABSCONDER: {
        PS.ARRESTED,
        PS.ON_BAIL,
        PS.PROCLAIMED_OFFENDER_A,
        PS.PROCLAIMED_OFFENDER_B,
        PS.DISCHARGED,
        PS.ACQUITTED,
        PS.CONVICTED,
    },
    PS.PROCLAIMED_OFFENDER_A: {
        PS.ARRESTED,
        PS.ON_BAIL,
        PS.PROCLAIMED_OFFENDER_B,
        PS.DISCHARGED,
        PS.ACQUITTED,
        PS.CONVICTED,
    },
    PS.PROCLAIMED_OFFENDER_B: {
        PS.ARRESTED,
        PS.ON_BAIL,
        PS.PROCLAIMED_OFFENDER_A,
        PS.DISCHARGED,
        PS.ACQUITTED,
        PS.CONVICTED,
    },
    PS.CONVICTED: {PS.ACQUITTED, PS.ON_BAIL, PS.ABSCONDER},  # appeal; sentence suspended; escape
    PS.ACQUITTED: {PS.CONVICTED},  # appeal against acquittal
    PS.DISCHARGED: {PS.ARRESTED, PS.NAMED},  # re-arrest / re-summoned on fresh evidence
}

# Flags each person-in-case status keeps raised for that case.
STATUS_FLAGS: dict[str, set[str]] = {
    PS.ABSCONDER: {FlagKind.ABSCONDER, FlagKind.WANTED},
    PS.PROCLAIMED_OFFENDER_A: {FlagKind.PROCLAIMED_OFFENDER, FlagKind.ABSCONDER, FlagKind.WANTED},
    PS.PROCLAIMED_OFFENDER_B: {FlagKind.PROCLAIMED_OFFENDER, FlagKind.ABSCONDER, FlagKind.WANTED},
}
CASE_CLEARS_FLAGS = {CS.ACQUITTED, CS.CANCELLED, CS.COMPROMISED}


# ------------------------------------------------------------------------------------------ helpers


def _get_case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"case {case_id} not found", field="case_id")
    return case


def _get_link(session: Session, link_id: int) -> CaseParty:
    link = session.get(CaseParty, link_id)
    if link is None:
        raise NotFound(f"person-in-case link {link_id} not found", field="link_id")
    return link


def _parse_sections(session: Session, text: str) -> list:
    from crms.records.reference import parse_offences

    try:
        offences = parse_offences(text, session)
    except ValidationError as exc:
        raise ValidationError(exc.message, field="sections", details=exc.details) from None
    if not offences:
        raise ValidationError(f"no offence sections found in {text!r}", field="sections")
    return offences


def _set_offences(case: Case, offences: list) -> None:
    case.offences.clear()
    for i, o in enumerate(offences):
        case.offences.append(
            CaseOffence(position=i, statute_code=o.statute, section=o.section, subclause=o.subclause)
        )


def case_dict(case: Case, *, parties: bool = True, history: bool = True) -> dict:
    out = {
        "id": case.id,
        "fir": case.fir_key,
        "police_station": case.police_station_code,
        "district": case.district_code,
        "fir_number": case.fir_number,
        "year": case.year,
        "registered_on": _ts(case.registered_on),
        "occurred_on": _ts(case.occurred_on),
        "place": case.place,
        "sections": case.sections_text,
        "offences": [
            {"statute": o.statute_code, "section": o.section, "subclause": o.subclause} for o in case.offences
        ],
        "status": case.status,
        "unit": case.unit_path,
        "notes": case.notes,
        "created_at": _ts(case.created_at),
        "created_by": case.created_by,
        "updated_at": _ts(case.updated_at),
        "updated_by": case.updated_by,
    }
    if history:
        out["status_history"] = [
            {
                "from": h.from_status,
                "to": h.status,
                "effective_on": _ts(h.effective_on),
                "note": h.note,
                "changed_at": _ts(h.changed_at),
                "changed_by": h.changed_by,
            }
            for h in case.status_history
        ]
    if parties:
        out["parties"] = []
        for link in case.parties:
            d = party_dict(link)
            d["person_id"] = link.person_id
            d["person_name"] = link.person.display_name if link.person is not None else None
            out["parties"].append(d)
    return out


def link_dict(link: CaseParty) -> dict:
    d = party_dict(link)
    d["person_id"] = link.person_id
    return d


# ------------------------------------------------------------------------------------------ cases


def add_case(session: Session, principal: Principal, data: CaseCreate | dict) -> Case:
    """Register an FIR. Duplicate (police station, FIR number, year) → Conflict(field='fir_number')."""
    from crms.records.reference import get_police_station

    authorize(principal, Permission.CASE_WRITE)  # the role first; the station's unit below
    data = coerce(CaseCreate, data)
    station = get_police_station(session, data.police_station, data.district)
    if station.valid_from and data.registered_on < station.valid_from:
        raise ValidationError(
            f"police station {station.code} did not exist before {station.valid_from}", field="police_station"
        )
    if station.valid_to and data.registered_on >= station.valid_to:
        into = f" (merged into {station.merged_into_code})" if station.merged_into_code else ""
        raise ValidationError(
            f"police station {station.code} closed on {station.valid_to}{into}", field="police_station"
        )
    authorize(principal, Permission.CASE_WRITE, unit=station.unit_path)
    existing = session.scalar(
        select(Case.id).where(
            Case.police_station_code == station.code,
            Case.fir_number == data.fir_number,
            Case.year == data.year,
        )
    )
    if existing is not None:
        raise Conflict(
            f"FIR {data.fir_number}/{data.year} of PS {station.code} is already registered (case {existing})",
            field="fir_number",
        )
    offences = _parse_sections(session, data.sections)
    case = Case(
        police_station_code=station.code,
        district_code=station.district_code,
        fir_number=data.fir_number,
        year=data.year,
        registered_on=data.registered_on,
        occurred_on=data.occurred_on,
        place=data.place,
        sections_text=data.sections,
        status=CS.REGISTERED.value,
        unit_path=station.unit_path,
        notes=data.notes,
    )
    touch(case, principal, new=True)
    _set_offences(case, offences)
    case.status_history.append(
        CaseStatusChange(
            from_status=None,
            status=CS.REGISTERED.value,
            effective_on=data.registered_on,
            changed_at=case.created_at,
            changed_by=principal.user_id,
        )
    )
    session.add(case)
    session.flush()
    audit.record(session, principal, "case.create", target_type="case", target_id=case.id, query=case.fir_key)
    return case


def update_case(session: Session, principal: Principal, case_id: int, data: CaseUpdate | dict) -> Case:
    authorize(principal, Permission.CASE_WRITE)  # the role first (403 before 404)
    data = coerce(CaseUpdate, data)
    case = _get_case(session, case_id)
    authorize(principal, Permission.CASE_WRITE, unit=case.unit_path)
    changes = data.model_dump(exclude_unset=True)
    if "sections" in changes:
        if changes["sections"] is None:
            raise ValidationError("sections cannot be cleared", field="sections")
        _set_offences(case, _parse_sections(session, changes["sections"]))
        case.sections_text = changes.pop("sections")
    if changes.get("occurred_on") and changes["occurred_on"] > case.registered_on:
        raise ValidationError("occurred_on is after registered_on", field="occurred_on")
    for key, value in changes.items():
        setattr(case, key, value)
    touch(case, principal)
    session.flush()
    audit.record(session, principal, "case.update", target_type="case", target_id=case.id)
    return case


def get_case(session: Session, principal: Principal, case_id: int) -> dict:
    authorize(principal, Permission.CASE_READ)
    _get_case(session, case_id)
    case = session.scalars(
        select(Case)
        .where(Case.id == case_id)
        .options(
            selectinload(Case.offences),
            selectinload(Case.status_history),
            selectinload(Case.parties).selectinload(CaseParty.person),
            selectinload(Case.parties).selectinload(CaseParty.status_history),
            selectinload(Case.parties).selectinload(CaseParty.arrests),
            selectinload(Case.parties).selectinload(CaseParty.convictions),
        )
        .execution_options(populate_existing=True)
    ).one()
    audit.record(session, principal, "case.read", target_type="case", target_id=case.id)
    return case_dict(case)


def find_case(
    session: Session,
    principal: Principal,
    police_station: str,
    fir_number: int,
    year: int,
    district: str | None = None,
) -> dict:
    """A case by its natural key."""
    from crms.records.reference import get_police_station

    authorize(principal, Permission.CASE_READ)
    station = get_police_station(session, police_station, district)
    case_id = session.scalar(
        select(Case.id).where(
            Case.police_station_code == station.code, Case.fir_number == fir_number, Case.year == year
        )
    )
    if case_id is None:
        raise NotFound(f"no FIR {fir_number}/{year} at PS {station.code}", field="fir_number")
    return get_case(session, principal, case_id)


def list_cases(
    session: Session,
    principal: Principal,
    *,
    limit: int = 50,
    offset: int = 0,
    district: str | None = None,
    police_station: str | None = None,
    year: int | None = None,
    status: str | None = None,
) -> dict:
    authorize(principal, Permission.CASE_READ)
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    if offset < 0:
        raise ValidationError("offset must be 0 or more", field="offset")
    q = select(Case)
    if district:
        from crms.records.reference import get_district

        q = q.where(Case.district_code == get_district(session, district).code)
    if police_station:
        from crms.records.reference import get_police_station

        q = q.where(Case.police_station_code == get_police_station(session, police_station, district).code)
    if year is not None:
        q = q.where(Case.year == year)
    if status:
        if status not in CS.__members__.values():
            raise ValidationError(f"unknown case status '{status}'", field="status")
        q = q.where(Case.status == status)
    total = session.scalar(select(func.count()).select_from(q.subquery()))
    rows = session.scalars(
        q.order_by(Case.id.desc()).limit(limit).offset(offset).options(selectinload(Case.offences))
    ).all()
    audit.record(
        session,
        principal,
        "case.list",
        target_type="case",
        query={
            "district": district,
            "police_station": police_station,
            "year": year,
            "status": status,
            "limit": limit,
            "offset": offset,
        },
    )
    return {
        "items": [case_dict(c, parties=False, history=False) for c in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


def change_case_status(
    session: Session, principal: Principal, case_id: int, data: CaseStatusIn | dict
) -> Case:
    authorize(principal, Permission.STATUS_WRITE)  # the role first (403 before 404)
    data = coerce(CaseStatusIn, data)
    case = _get_case(session, case_id)
    authorize(principal, Permission.STATUS_WRITE, unit=case.unit_path)
    new = data.status.value
    allowed = CASE_TRANSITIONS.get(case.status, set())
    if new not in allowed:
        raise ValidationError(
            f"case status cannot change from {case.status} to {new} "
            f"(allowed: {', '.join(sorted(allowed)) or 'none'})",
            field="status",
        )
    if data.effective_on and data.effective_on < case.registered_on:
        raise ValidationError("effective_on is before the FIR was registered", field="effective_on")
    old = case.status
    case.status = new
    touch(case, principal)
    session.add(
        CaseStatusChange(
            case_id=case.id,
            from_status=old,
            status=new,
            effective_on=data.effective_on,
            note=data.note,
            changed_at=utcnow(),
            changed_by=principal.user_id,
        )
    )
    if new in CASE_CLEARS_FLAGS:
        for flag in session.scalars(
            select(PersonFlag).where(PersonFlag.case_id == case.id, PersonFlag.cleared_at.is_(None))
        ):
            _clear(flag, principal, f"case {new}")
    session.flush()
    audit.record(
        session,
        principal,
        "case.status",
        target_type="case",
        target_id=case.id,
        query={"from": old, "to": new},
    )
    return case


# ------------------------------------------------------------------------------------------ links


def link_person(session: Session, principal: Principal, case_id: int, data: LinkCreate | dict) -> CaseParty:
    authorize(principal, Permission.CASE_WRITE)  # the role first (403 before 404)
    data = coerce(LinkCreate, data)
    case = _get_case(session, case_id)
    authorize(principal, Permission.CASE_WRITE, unit=case.unit_path)
    person = session.get(Person, data.person_id)
    if person is None:
        raise NotFound(f"person {data.person_id} not found", field="person_id")
    if person.merged_into_id is not None:
        raise Conflict(
            f"person {person.id} was merged into person {person.merged_into_id}; link that record",
            field="person_id",
        )
    dup = session.scalar(
        select(CaseParty.id).where(
            CaseParty.case_id == case.id, CaseParty.person_id == person.id, CaseParty.role == data.role.value
        )
    )
    if dup is not None:
        raise Conflict(
            f"person {person.id} is already linked to case {case.id} as {data.role.value}", field="person_id"
        )
    status = data.status.value
    if data.role != PartyRole.ACCUSED and status != PS.NAMED:
        raise ValidationError(f"only an accused can have status {status}", field="status")
    link = CaseParty(
        case_id=case.id,
        person_id=person.id,
        role=data.role.value,
        status=status,
        modus_operandi=data.modus_operandi,
        gang=data.gang,
    )
    touch(link, principal, new=True)
    link.status_history.append(
        PartyStatusChange(
            from_status=None, status=status, changed_at=link.created_at, changed_by=principal.user_id
        )
    )
    session.add(link)
    session.flush()
    _sync_flags(session, principal, link, f"status {status} in {case.fir_key}")
    audit.record(
        session,
        principal,
        "case.link",
        target_type="person",
        target_id=person.id,
        query={"case_id": case.id, "role": link.role, "status": status},
    )
    return link


def update_link(session: Session, principal: Principal, link_id: int, data: LinkUpdate | dict) -> CaseParty:
    authorize(principal, Permission.CASE_WRITE)  # the role first (403 before 404)
    data = coerce(LinkUpdate, data)
    link = _get_link(session, link_id)
    authorize(principal, Permission.CASE_WRITE, unit=link.case.unit_path)
    for key, value in data.model_dump(exclude_unset=True).items():
        setattr(link, key, value)
    touch(link, principal)
    session.flush()
    audit.record(
        session,
        principal,
        "case.link.update",
        target_type="person",
        target_id=link.person_id,
        query={"link_id": link.id},
    )
    return link


def get_link(session: Session, principal: Principal, link_id: int) -> dict:
    """A person-in-case link with its status history, arrests and convictions."""
    authorize(principal, Permission.CASE_READ)
    link = _get_link(session, link_id)
    audit.record(
        session,
        principal,
        "person.read",
        target_type="person",
        target_id=link.person_id,
        query={"link_id": link.id, "case_id": link.case_id},
    )
    return link_dict(link)


def _apply_party_status(session, principal, link: CaseParty, new: str, effective_on=None, note=None) -> None:
    if link.role != PartyRole.ACCUSED and new != PS.NAMED:
        raise ValidationError(
            f"only an accused can have status {new} (this link is {link.role})", field="status"
        )
    allowed = PARTY_TRANSITIONS.get(link.status, set())
    if new not in allowed:
        raise ValidationError(
            f"status cannot change from {link.status} to {new} "
            f"(allowed: {', '.join(sorted(allowed)) or 'none'})",
            field="status",
        )
    if effective_on and effective_on < link.case.registered_on:
        raise ValidationError("effective_on is before the FIR was registered", field="effective_on")
    old = link.status
    link.status = new
    touch(link, principal)
    session.add(
        PartyStatusChange(
            party_id=link.id,
            from_status=old,
            status=new,
            effective_on=effective_on,
            note=note,
            changed_at=utcnow(),
            changed_by=principal.user_id,
        )
    )
    session.flush()
    _sync_flags(session, principal, link, f"status {new} in {link.case.fir_key}")
    audit.record(
        session,
        principal,
        "case.party.status",
        target_type="person",
        target_id=link.person_id,
        query={"case_id": link.case_id, "link_id": link.id, "from": old, "to": new},
    )


def change_party_status(
    session: Session, principal: Principal, link_id: int, data: PartyStatusIn | dict
) -> CaseParty:
    authorize(principal, Permission.STATUS_WRITE)  # the role first (403 before 404)
    data = coerce(PartyStatusIn, data)
    link = _get_link(session, link_id)
    authorize(principal, Permission.STATUS_WRITE, unit=link.case.unit_path)
    _apply_party_status(session, principal, link, data.status.value, data.effective_on, data.note)
    return link


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
        _apply_party_status(session, principal, link, PS.ARRESTED.value, data.arrested_on, "arrest recorded")
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
    if link.status != PS.CONVICTED:
        _apply_party_status(
            session, principal, link, PS.CONVICTED.value, data.convicted_on, f"convicted by {data.court}"
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
    from crms.records.services import flag_dict

    authorize(principal, Permission.PERSON_READ)
    rows = session.scalars(
        select(PersonFlag)
        .where(PersonFlag.person_id == person_id)
        .order_by(PersonFlag.id)
        .options(selectinload(PersonFlag.case))
    ).all()
    audit.record(session, principal, "person.read", target_type="person", target_id=person_id, detail="flags")
    return [flag_dict(f) for f in rows]
