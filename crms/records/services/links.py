"""Person-in-case links: link a person to a case, update a link, read one, and change the person's status in
the case along validated transitions (history rows kept, flags kept in step)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from crms.access import audit
from crms.access.policy import Permission, authorize
from crms.access.principal import Principal
from crms.errors import Conflict, NotFound, ValidationError, rule_error
from crms.records.cnic import format_cnic
from crms.records.models import (
    CaseParty,
    CaseStatus,
    PartyRole,
    PartyStatus,
    PartyStatusChange,
    Person,
    PersonFlag,
)
from crms.records.schemas import (
    EntryRemoval,
    LinkCreate,
    LinkUpdate,
    PartyStatusIn,
    coerce,
)
from crms.records.services.common import (
    _get_link,
    check_not_before_fir,
    check_transition,
    check_version,
    merged_person,
    person_not_found,
    record_entry_change,
    removal_reason,
    touch,
    writable_case,
    writable_link,
)
from crms.records.services.flags import _clear, _sync_flags
from crms.records.services.guard import guard_reads
from crms.records.services.reading import party_dict
from crms.timeutil import utcnow

PS = PartyStatus

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


CS = CaseStatus
# Statuses that only the record proving them may set: record_arrest / record_conviction create the record and
# move the status; a bare status change (or a link made with the status) would count an arrest or a
# conviction that nothing proves.
RECORDED_STATUSES: dict[str, str] = {
    PS.ARRESTED: "record the arrest instead (POST /links/{id}/arrests)",
    PS.CONVICTED: "record the conviction instead (POST /links/{id}/convictions)",
}
_CLOSED = {CS.ACQUITTED, CS.CANCELLED, CS.COMPROMISED}
# The case statuses in which a person-in-case status may be set (absent: any). A verdict needs a trial;
# nobody absconds from, or is proclaimed in, a case that is closed.
PARTY_CASE_STATES: dict[str, set[str]] = {
    PS.CONVICTED: {CS.UNDER_TRIAL, CS.CONVICTED},
    PS.ACQUITTED: {CS.UNDER_TRIAL, CS.CONVICTED, CS.ACQUITTED, CS.COMPROMISED},
    **{s: set(CS) - _CLOSED for s in _AT_LARGE},
}


def check_party_status_in_case(new: str, case_status: str) -> None:
    """Refuse a person-in-case status that the case's state does not allow (ValidationError on 'status')."""
    allowed = PARTY_CASE_STATES.get(new)
    if allowed is not None and case_status not in allowed:
        when = sorted(str(s) for s in allowed)
        message = (
            f"status {new} is not possible while the case is {case_status} "
            f"(possible when the case is {', '.join(when)})"
        )
        raise rule_error(
            "status", "status_case_state", message, status=str(new), case_status=str(case_status), when=when
        )


def party_moves(link: CaseParty) -> dict:
    """What may happen to a person in a case now, as the rules stand: ``next_statuses``, the statuses a
    status change may move the link to (its transitions that the case's state allows; none for a
    complainant, victim or witness), and ``can_record``, the records that may be added ("arrest",
    "conviction"), which move the status to arrested or convicted themselves."""
    if link.role != PartyRole.ACCUSED:
        return {"next_statuses": [], "can_record": []}

    def possible(status: str) -> bool:
        allowed = PARTY_CASE_STATES.get(status)
        return allowed is None or link.case.status in allowed

    moves = PARTY_TRANSITIONS.get(link.status, set())
    return {
        "next_statuses": [s.value for s in PS if s in moves and s not in RECORDED_STATUSES and possible(s)],
        "can_record": [
            what
            for what, status in (("arrest", PS.ARRESTED), ("conviction", PS.CONVICTED))
            if (link.status == status or status in moves) and possible(status)
        ],
    }


def link_dict(link: CaseParty) -> dict:
    d = party_dict(link)
    d["person_id"] = link.person_id
    d.update(party_moves(link))
    return d


# ------------------------------------------------------------------------------------------ links


def link_person(session: Session, principal: Principal, case_id: int, data: LinkCreate | dict) -> CaseParty:
    authorize(principal, Permission.CASE_WRITE)  # the role first (403 before 404)
    data = coerce(LinkCreate, data)
    if (data.person_id is None) == (data.cnic is None):  # (here, not in the schema: the role comes first)
        raise ValidationError("name the person by person_id or by cnic (one of them)", field="person_id")
    case = writable_case(session, principal, case_id, Permission.CASE_WRITE)
    if data.cnic is not None:
        person = person_by_cnic(session, data.cnic)
    else:
        person = session.get(Person, data.person_id)
        if person is None:
            raise person_not_found(data.person_id)
    if person.merged_into_id is not None:
        message = f"person {person.id} was merged into person {person.merged_into_id}; link that record"
        raise merged_person(message, person.id, person.merged_into_id)
    dup = session.scalar(
        select(CaseParty.id).where(
            CaseParty.case_id == case.id, CaseParty.person_id == person.id, CaseParty.role == data.role.value
        )
    )
    if dup is not None:
        message = f"person {person.id} is already linked to case {case.id} as {data.role.value}"
        raise rule_error("person_id", "already_linked", message, error=Conflict, role=data.role.value)
    status = data.status.value
    if data.role != PartyRole.ACCUSED and status != PS.NAMED:
        message = f"only an accused can have status {status}"
        raise rule_error("status", "status_accused_only", message, status=status)
    if status in RECORDED_STATUSES:
        message = f"a link cannot start as {status}: link the person, then {RECORDED_STATUSES[status]}"
        raise rule_error("status", "status_by_record", message, status=status)
    check_party_status_in_case(status, case.status)
    check_not_before_fir(data.effective_on, case, "effective_on")
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
            from_status=None,
            status=status,
            effective_on=data.effective_on,
            changed_at=link.created_at,
            changed_by=principal.user_id,
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
        query={"link_id": link.id, "case_id": case.id, "role": link.role, "status": status}
        | ({"cnic": data.cnic} if data.cnic is not None else {}),
    )
    return link


def person_by_cnic(session: Session, cnic: str) -> Person:
    """The person a CNIC is recorded for, or NotFound naming ``cnic``."""
    from crms.records.services.documents import normalise_document, recorded_document

    number, _ = normalise_document("CNIC", cnic, field_name="cnic")
    document = recorded_document(session, "CNIC", number)
    if document is None:
        shown = format_cnic(number)
        message = f"no person has CNIC {shown} on record"
        raise rule_error("cnic", "cnic_not_on_record", message, error=NotFound, cnic=shown)
    return document.person


def update_link(session: Session, principal: Principal, link_id: int, data: LinkUpdate | dict) -> CaseParty:
    authorize(principal, Permission.CASE_WRITE)  # the role first (403 before 404)
    data = coerce(LinkUpdate, data)
    link = writable_link(session, principal, link_id, Permission.CASE_WRITE)
    changes = data.model_dump(exclude_unset=True)
    check_version(session, link, changes.pop("version", None), "person-in-case link")
    for key, value in changes.items():
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


def remove_link(session: Session, principal: Principal, link_id: int, data: EntryRemoval | dict) -> CaseParty:
    """Undo a link made in error (the wrong person or the wrong FIR chosen), with the reason. The link and
    its status history go; the flags its statuses raised are cleared and kept (flags are never deleted);
    the audit trail keeps what the link held and why. A link with an arrest or a conviction recorded stays:
    those record what happened to the person in this case."""
    authorize(principal, Permission.CASE_WRITE)  # the role first (403 before 422)
    reason = removal_reason(data, "the link is removed")
    link = writable_link(session, principal, link_id, Permission.CASE_WRITE)
    case = link.case
    if link.arrests or link.convictions:
        arrested = bool(link.arrests)
        recorded, kind = ("an arrest", "link_arrested") if arrested else ("a conviction", "link_convicted")
        message = (
            f"{recorded} is recorded for person {link.person_id} in {case.fir_key}: the link is not removed "
            "as made in error"
        )
        fir = f"{case.fir_number}/{case.year}"
        values = {"person": link.person_id, "fir": fir, "station": case.police_station_code}
        raise rule_error("link_id", kind, message, error=Conflict, **values)
    held = f"{case.fir_key} as {link.role}, status {link.status}, {len(link.status_history)} status change(s)"
    entry = {"fir_key": case.fir_key, "role": link.role, "status": link.status,
             "changes": len(link.status_history)}  # fmt: skip
    for flag in session.scalars(select(PersonFlag).where(PersonFlag.party_id == link.id)):
        if flag.cleared_at is None:
            _clear(flag, principal, f"link removed as made in error: {reason}")
        flag.party_id = None
    for change in list(link.status_history):
        session.delete(change)
    session.delete(link)
    record_entry_change(session, principal, link.person_id, "remove", "case_link", held, reason, entry=entry)
    touch(case, principal)
    session.flush()
    audit.record(
        session,
        principal,
        "case.link.remove",
        target_type="person",
        target_id=link.person_id,
        reason=reason,
        query={"link_id": link.id, "case_id": case.id},
        detail=f"link {link.id}: person {link.person_id} in {held}",
    )
    return link


def get_link(session: Session, principal: Principal, link_id: int) -> dict:
    """A person-in-case link with its status history, arrests and convictions."""
    authorize(principal, Permission.CASE_READ)
    link = _get_link(session, link_id)
    guard_reads(session, principal)
    audit.record(
        session,
        principal,
        "person.read",
        target_type="person",
        target_id=link.person_id,
        query={"link_id": link.id, "case_id": link.case_id},
    )
    return link_dict(link)


def check_in_order(link: CaseParty, day, field: str) -> None:
    """Refuse a status change dated before the day of the link's latest change of status: the history would
    read out of order (an arrest before the abscondence it ended). Changes are recorded as they happened;
    one recorded without its day is not compared, nor is the day the person was named (an arrest at the
    scene may come before the FIR that names them)."""
    if day is None:
        return
    changes = [h.effective_on for h in link.status_history if h.from_status is not None]
    since = max((d for d in changes if d is not None), default=None)
    if since is not None and day < since:
        raise rule_error(
            field,
            "status_out_of_order",
            f"{field} {day.isoformat()} is before {since.isoformat()}, when the person's status in this case "
            f"became {link.status}: record changes in the order they happened",
            since=since.isoformat(),
            status=link.status,
        )


def _apply_party_status(
    session, principal, link: CaseParty, new: str, effective_on=None, note=None, *, recorded: bool = False
) -> None:
    """Move the link's status along PARTY_TRANSITIONS, checked against the case's state; ``recorded`` is
    True only when the caller is creating the arrest or conviction record the status implies."""
    if link.role != PartyRole.ACCUSED and new != PS.NAMED:
        message = f"only an accused can have status {new} (this link is {link.role})"
        raise rule_error("status", "status_accused_only", message, status=str(new))
    check_transition(PARTY_TRANSITIONS, link.status, new)
    check_party_status_in_case(new, link.case.status)
    if new in RECORDED_STATUSES and not recorded:
        message = f"status {new} is set by its record: {RECORDED_STATUSES[new]}"
        raise rule_error("status", "status_by_record", message, status=str(new))
    if not recorded:  # an arrest or a conviction checks its own day (an arrest may come before the FIR)
        check_not_before_fir(effective_on, link.case, "effective_on")
    check_in_order(link, effective_on, "arrested_on" if new == PS.ARRESTED else "effective_on")
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
    link = writable_link(session, principal, link_id, Permission.STATUS_WRITE)
    _apply_party_status(session, principal, link, data.status.value, data.effective_on, data.note)
    return link
