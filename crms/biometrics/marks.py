"""Fingers of a tenprint that cannot be captured: amputated, missing, bandaged, or unable to print.

:func:`record_missing_finger` marks a finger (``biometric:enrol``, the person's unit; audited
``biometric.missing``); a finger that has an active print cannot be marked (retire the print by capturing
again, or correct it first). Marking again replaces the earlier mark (kept, inactive). Capturing the finger
later (:func:`crms.biometrics.enrolment.capture`) clears the mark through :func:`clear_on_capture`; the
cleared mark stays in the history. :func:`marks_of` lists them for :func:`~crms.biometrics.enrolment.
fingerprints_of`, which shows each finger as captured, marked, or not captured.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crms.access import audit
from crms.access.policy import Permission
from crms.access.principal import Principal
from crms.biometrics.models import FINGER_POSITIONS, FingerMark, MissingReason
from crms.errors import Conflict, ValidationError, rule_error
from crms.timeutil import iso_or_none, utcnow

REASONS = tuple(r.value for r in MissingReason)
MAX_NOTE = 300


def mark_dict(row: FingerMark) -> dict:
    return {
        "id": row.id,
        "position": row.position,
        "finger": FINGER_POSITIONS[row.position],
        "reason": row.reason,
        "note": row.note,
        "active": bool(row.active),
        "marked_at": iso_or_none(row.marked_at),
        "marked_by": row.marked_by,
        "cleared_at": iso_or_none(row.cleared_at),
        "cleared_by_print": row.cleared_by_print,
    }


def active_mark(session: Session, person_id: int, position: int) -> FingerMark | None:
    return session.scalar(
        select(FingerMark).where(
            FingerMark.person_id == person_id, FingerMark.position == position, FingerMark.active.is_(True)
        )
    )


def _clear(row: FingerMark, principal: Principal, now: datetime, print_id: int | None = None) -> None:
    row.active = False
    row.cleared_at = now
    row.cleared_by = principal.user_id
    row.cleared_by_print = print_id


def record_missing_finger(
    session: Session,
    principal: Principal,
    person_id: int,
    position: int,
    reason: str,
    note: str | None = None,
) -> FingerMark:
    """Record that finger ``position`` (1-10) of the person could not be printed, and why."""
    from crms.biometrics.enrolment import active_print
    from crms.records.services import get_writable_person

    if position not in FINGER_POSITIONS:
        raise ValidationError("finger position must be 1-10 (ANSI/NIST: 1 right thumb ... 10 left little)",
                              field="position")  # fmt: skip
    if reason not in REASONS:
        raise ValidationError(f"reason must be one of {', '.join(REASONS)}", field="reason")
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise ValidationError(f"note longer than {MAX_NOTE} characters", field="note")
    person = get_writable_person(session, principal, person_id, Permission.BIOMETRIC_ENROL)
    if active_print(session, person.id, position) is not None:
        message = f"finger {position} has a captured print; it cannot also be marked missing"
        raise rule_error("position", "finger_printed", message, error=Conflict, position=position)
    current = active_mark(session, person.id, position)
    if current is not None and current.reason == reason and current.note == note:
        return current
    now = utcnow()
    if current is not None:
        _clear(current, principal, now)
        session.flush()  # the partial unique index allows the new active mark only after this
    row = FingerMark(person_id=person.id, position=position, reason=reason, note=note, marked_at=now,
                     marked_by=principal.user_id, active=True)  # fmt: skip
    session.add(row)
    session.flush()
    audit.record(
        session, principal, "biometric.missing", target_type="person", target_id=person.id,
        query={"mark_id": row.id, "position": position, "reason": reason,
               "replaced": None if current is None else current.id},
    )  # fmt: skip
    return row


def clear_on_capture(
    session: Session, principal: Principal, person_id: int, position: int, print_id: int
) -> int | None:
    """A print of the finger was captured: its active mark (if any) is cleared; returns the mark's id."""
    current = active_mark(session, person_id, position)
    if current is None:
        return None
    _clear(current, principal, utcnow(), print_id)
    return current.id


def marks_of(session: Session, person_id: int, *, history: bool = False) -> list[FingerMark]:
    query = select(FingerMark).where(FingerMark.person_id == person_id)
    if not history:
        query = query.where(FingerMark.active.is_(True))
    return list(session.scalars(query.order_by(FingerMark.position, FingerMark.id)))


def follow_merge(
    session: Session, principal: Principal, survivor_id: int, merged_id: int, now: datetime
) -> list[int]:
    """Part of the fingerprints' merge (crms.biometrics.enrolment.follow_merge), after the prints moved: the
    merged person's marks move to the survivor; an active one is cleared where the survivor has an active
    print or mark of that finger. Returns the ids moved."""
    from crms.biometrics.models import Fingerprint

    rows = list(session.scalars(select(FingerMark).where(FingerMark.person_id == merged_id)))
    if not rows:
        return []
    printed = set(session.scalars(select(Fingerprint.position).where(
        Fingerprint.person_id == survivor_id, Fingerprint.active.is_(True))))  # fmt: skip
    marked = {m.position for m in marks_of(session, survivor_id)}
    for row in rows:
        if row.active and (row.position in printed or row.position in marked):
            _clear(row, principal, now)
        row.person_id = survivor_id
    session.flush()
    return [r.id for r in rows]
