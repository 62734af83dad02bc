"""Cases (FIRs): add (natural key police station + FIR number + year), read, find by FIR, list, update, and
change the case status along validated transitions (history rows kept)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from crms.access import audit
from crms.access.policy import Permission, authorize, has_permission
from crms.access.principal import Principal
from crms.db import check_page
from crms.errors import Conflict, NotFound, ValidationError, rule_error
from crms.records.models import (
    Case,
    CaseOffence,
    CaseParty,
    CaseStatus,
    CaseStatusChange,
    PartyStatus,
    PersonFlag,
)
from crms.records.schemas import (
    AFTER_REGISTERED,
    CaseCreate,
    CaseStatusIn,
    CaseUpdate,
    coerce,
)
from crms.records.services.common import (
    MAX_PAGE,
    _get_case,
    add_user_names,
    check_not_before_fir,
    check_transition,
    check_version,
    touch,
    writable_case,
)
from crms.records.services.flags import CASE_CLEARS_FLAGS, _clear
from crms.records.services.guard import guard_reads
from crms.records.services.links import party_moves
from crms.records.services.reading import party_dict
from crms.timeutil import iso_or_none as _ts
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


def _parse_sections(session: Session, text: str) -> list:
    from crms.records.reference import parse_offences

    try:
        offences = parse_offences(text, session)
    except ValidationError as exc:
        raise ValidationError(exc.message, field="sections", details=exc.details) from None
    if not offences:
        raise rule_error("sections", "sections_none", f"no offence sections found in {text!r}", text=text)
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
        "version": case.version,
        # the statuses a status change may move the case to now
        "next_statuses": [s.value for s in CS if s in CASE_TRANSITIONS.get(case.status, set())],
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
            d = party_dict(link) | party_moves(link)
            d["person_id"] = link.person_id
            d["person_name"] = link.person.display_name if link.person is not None else None
            out["parties"].append(d)
    return out


# ------------------------------------------------------------------------------------------ cases


def add_case(session: Session, principal: Principal, data: CaseCreate | dict) -> Case:
    """Register an FIR. Duplicate (police station, FIR number, year) → Conflict(field='fir_number')."""
    from crms.records.reference import get_police_station

    authorize(principal, Permission.CASE_WRITE)  # the role first; the station's unit below
    data = coerce(CaseCreate, data)
    station = get_police_station(session, data.police_station, data.district)
    if station.valid_from and data.registered_on < station.valid_from:
        since = station.valid_from.isoformat()
        message = f"police station {station.code} did not exist before {since}"
        raise rule_error("police_station", "station_not_yet", message, station=station.code, since=since)
    if station.valid_to and data.registered_on >= station.valid_to:
        on, into = station.valid_to.isoformat(), station.merged_into_code
        if into:
            message = f"police station {station.code} closed on {on} (merged into {into})"
            raise rule_error(
                "police_station", "station_merged", message, station=station.code, on=on, into=into
            )
        message = f"police station {station.code} closed on {on}"
        raise rule_error("police_station", "station_closed", message, station=station.code, on=on)
    authorize(principal, Permission.CASE_WRITE, unit=station.unit_path)
    existing = session.scalar(
        select(Case.id).where(
            Case.police_station_code == station.code,
            Case.fir_number == data.fir_number,
            Case.year == data.year,
        )
    )
    if existing is not None:
        fir = f"{data.fir_number}/{data.year}"
        message = f"FIR {fir} of PS {station.code} is already registered (case {existing})"
        raise rule_error("fir_number", "fir_taken", message, error=Conflict, fir=fir, station=station.code,
                         case=existing)  # fmt: skip
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
    """Change the fields sent; ``version`` as for :func:`crms.records.services.update_person`."""
    authorize(principal, Permission.CASE_WRITE)  # the role first (403 before 404)
    data = coerce(CaseUpdate, data)
    case = writable_case(session, principal, case_id, Permission.CASE_WRITE)
    changes = data.model_dump(exclude_unset=True)
    check_version(session, case, changes.pop("version", None), "case")
    if "sections" in changes:
        if changes["sections"] is None:
            raise ValidationError("sections cannot be cleared", field="sections")
        _set_offences(case, _parse_sections(session, changes["sections"]))
        case.sections_text = changes.pop("sections")
    if changes.get("occurred_on") and changes["occurred_on"] > case.registered_on:
        raise rule_error(
            "occurred_on", "after_other_date", "occurred_on is after registered_on", **AFTER_REGISTERED
        )
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
    guard_reads(session, principal)
    persons = sorted({link.person_id for link in case.parties})
    audit.record(
        session, principal, "case.read", target_type="case", target_id=case.id, query={"persons": persons}
    )
    for person_id in persons:  # a case read shows its parties' names and statuses: a read of each person
        audit.record(
            session,
            principal,
            "person.read",
            target_type="person",
            target_id=person_id,
            query={"case_id": case.id},
            detail=f"party to {case.fir_key}",
        )
    out = case_dict(case)
    histories = [h for party in out["parties"] for h in party["status_history"]]
    add_user_names(
        session, [out, *out["status_history"], *histories], "created_by", "updated_by", "changed_by"
    )
    return out


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


def may_list_cases(principal: Principal) -> bool:
    """Whether :func:`list_cases` answers the principal (``case:read``); pages show the list only then."""
    return has_permission(principal, Permission.CASE_READ)


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
    check_page(limit, offset, max_limit=MAX_PAGE)
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
    case = writable_case(session, principal, case_id, Permission.STATUS_WRITE)
    new = data.status.value
    check_transition(CASE_TRANSITIONS, case.status, new, what="case status", kind="case_status")
    check_not_before_fir(data.effective_on, case, "effective_on")
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
