"""Duplicate enrolment: a person's newly enrolled prints are searched against everyone else first; a hit above
the decision threshold opens a probable-duplicate case for a fingerprint examiner. Nothing is merged without
that decision:

* ``confirm`` (``biometric:confirm``, a reason): the examiner says both records are one person. When the
  examiner may also merge records (``person:merge``) the two are merged at once with the records' merge
  service (:func:`crms.records.services.merge_persons`, the older record survives); otherwise the case waits,
  confirmed, for a supervisor's :func:`merge_confirmed`.
* ``reject`` (a reason): different persons; both stay enrolled, and the same pair is not raised again.

A side merged into another record since the case opened is followed to its survivor; a case whose two persons
have become one record (another case's merge, the merge page) is closed as ``resolved``, never left waiting.
The queue and a case's page show the persons' names under one ``person.list`` audit entry a view (not a read
of each record: :func:`crms.records.services.names_shown`).

Every step is audited (``biometric.duplicate_open``, ``biometric.duplicate_confirm``,
``biometric.duplicate_reject``, ``biometric.duplicate_merge``, ``biometric.duplicate_resolved``) with who and
why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crms.access import audit
from crms.access.policy import Permission, authorize, has_permission
from crms.access.principal import Principal
from crms.biometrics.models import DuplicateCase, DuplicateStatus, EnrolmentStatus, Fingerprint
from crms.errors import Conflict, NotFound, ValidationError, rule_error
from crms.timeutil import iso_or_none, utcnow

DEDUP_FPIR = 0.01  # false-positive identification rate of the decision threshold


def _prints_of(session: Session, person_id: int) -> list:
    from crms.fingerprint import ProbeFinger, TemplateError, loads

    out = []
    for fid, position, blob in session.execute(
        select(Fingerprint.id, Fingerprint.position, Fingerprint.template).where(
            Fingerprint.person_id == person_id,
            Fingerprint.active.is_(True),
            Fingerprint.status == EnrolmentStatus.ENROLLED.value,
            Fingerprint.template.is_not(None),
        )
    ):
        try:
            t = loads(bytes(blob), f"fingerprint {fid}")
        except TemplateError:
            continue
        if t.count >= 3:
            out.append(ProbeFinger(t, int(position), f"fingerprint {fid}"))
    return out


@dataclass(frozen=True)
class _Hits:
    """What searching one person's prints found: the probes used, the threshold and its basis (the model's, or
    raised to the gallery's measured impostors: ``decision_threshold``), the other persons."""

    probes: int
    threshold: float
    basis: str
    others: list


def _search_person(session: Session, db, person_id: int) -> _Hits | None:
    """Search the person's enrolled prints against every other person (reads only: the gallery catches up
    from the database, then the search runs in memory)."""
    from crms.biometrics.identification import store_for
    from crms.fingerprint import decision_threshold

    probes = _prints_of(session, person_id)[:10]
    if not probes:
        return None
    store = store_for(db)
    store.sync(session)
    g = store.gallery
    if len(g) == 0:
        return None
    result = g.search(probes, top=6, fpir=DEDUP_FPIR)
    others = [c for c in result.candidates if c.person != person_id]
    persons = max(1, result.gallery_persons - 1)
    threshold, basis = decision_threshold(DEDUP_FPIR, persons, len(probes), g.impostors)
    return _Hits(len(probes), threshold, basis, others)


def _open_cases(session: Session, principal: Principal, person_id: int, hits: _Hits) -> list[DuplicateCase]:
    """Audit the search and open a case per hit at or above the threshold (at most one per pair of persons,
    whichever was enrolled first)."""
    threshold = hits.threshold
    audit.record(
        session, principal, "biometric.dedup_search", target_type="person", target_id=person_id,
        query={"probes": hits.probes, "threshold": threshold, "threshold_basis": hits.basis,
               "candidates": [[c.person, c.score] for c in hits.others[:5]]},
    )  # fmt: skip
    opened = []
    for c in hits.others:
        if c.score < threshold:
            break
        exists = session.scalar(
            select(DuplicateCase.id).where(
                or_(
                    (DuplicateCase.person_id == person_id) & (DuplicateCase.candidate_id == c.person),
                    (DuplicateCase.person_id == c.person) & (DuplicateCase.candidate_id == person_id),
                )
            )
        )
        if exists is not None:
            continue
        now = utcnow()
        case = DuplicateCase(
            person_id=person_id, candidate_id=c.person, score=float(c.score), threshold=threshold,
            fingers=json.dumps(c.fingers), status=DuplicateStatus.OPEN.value,
            created_at=now, created_by=principal.user_id, updated_at=now, updated_by=principal.user_id,
        )  # fmt: skip
        session.add(case)
        session.flush()
        audit.record(
            session, principal, "biometric.duplicate_open", target_type="person", target_id=person_id,
            query={"case": case.id, "candidate": c.person, "score": c.score, "threshold": threshold},
        )  # fmt: skip
        opened.append(case)
    return opened


def check_person(session: Session, principal: Principal, db, person_id: int) -> list[DuplicateCase]:
    """Search the person's enrolled prints against every other person; open a case per hit (at most one per
    pair of persons, whichever was enrolled first). All in ``session``."""
    authorize(principal, Permission.BIOMETRIC_ENROL)
    hits = _search_person(session, db, person_id)
    return [] if hits is None else _open_cases(session, principal, person_id, hits)


def check_enrolled_since(db, principal: Principal, since: datetime) -> int:
    """After an enrolment run: check every person with a print enrolled since ``since``. The gallery's
    catch-up and each search run in a read transaction (on SQLite no write lock, so requests and the enrol
    worker go on meanwhile); only the cases found are written, each person in a short transaction of its own.
    Returns the number of cases opened."""
    authorize(principal, Permission.BIOMETRIC_ENROL)
    with db.read_transaction() as s:
        persons = sorted(
            set(
                s.scalars(
                    select(Fingerprint.person_id).where(
                        Fingerprint.enrolled_at >= since, Fingerprint.active.is_(True)
                    )
                )
            )
        )
    opened = 0
    for pid in persons:
        with db.read_transaction() as s:
            hits = _search_person(s, db, int(pid))
        if hits is not None:
            with db.transaction() as s:
                opened += len(_open_cases(s, principal, int(pid), hits))
    return opened


def case_dict(c: DuplicateCase, current: dict[int, int] | None = None) -> dict:
    """A case as the adapters give it; with ``current`` (:func:`_current`), the record each side is now
    (``current_person_id``, ``current_candidate_id``: the survivor where a side was merged away)."""
    out = {
        "id": c.id,
        "person_id": c.person_id,
        "candidate_id": c.candidate_id,
        "score": round(c.score, 2),
        "threshold": round(c.threshold, 2),
        "fingers": json.loads(c.fingers),
        "status": c.status,
        "opened_at": iso_or_none(c.created_at),
        "decided_at": iso_or_none(c.decided_at),
        "decided_by": c.decided_by,
        "reason": c.reason,
        "merged_at": iso_or_none(c.merged_at),
        "merged_by": c.merged_by,
    }
    if current is not None:
        out["current_person_id"] = current.get(c.person_id, c.person_id)
        out["current_candidate_id"] = current.get(c.candidate_id, c.candidate_id)
    return out


def _current(session: Session, person_ids) -> dict[int, int]:
    """Each person id -> the record it is now: itself, or the survivor it was merged into (a merge points
    every earlier redirect at the new survivor, so one step is the end; the loop guards older data)."""
    from crms.records.models import Person

    out: dict[int, int] = {}
    for pid in set(person_ids):
        target, seen = pid, set()
        while target not in seen:
            seen.add(target)
            nxt = session.scalar(select(Person.merged_into_id).where(Person.id == target))
            if nxt is None:
                break
            target = nxt
        out[pid] = target
    return out


def _with_names(
    session: Session, principal: Principal, cases: list[DuplicateCase], reason: str
) -> list[dict]:
    """The cases with their persons' names (``person``, ``candidate``: the records as enrolled, each with its
    ``merged_into_id``), shown under one audit entry (:func:`crms.records.services.names_shown`)."""
    from crms.records.services import names_shown

    ids = {pid for c in cases for pid in (c.person_id, c.candidate_id)}
    names = names_shown(session, principal, ids, reason=reason, query={"cases": [c.id for c in cases]})
    current = {pid: n["merged_into_id"] or pid for pid, n in names.items()}
    out = []
    for c in cases:
        d = case_dict(c, current)
        d["person"], d["candidate"] = names.get(c.person_id), names.get(c.candidate_id)
        out.append(d)
    return out


def _may_see_queue(principal: Principal) -> None:
    """Examiners, and those who merge records (supervisors merge the confirmed cases)."""
    if not has_permission(principal, Permission.PERSON_MERGE):
        authorize(principal, Permission.BIOMETRIC_CONFIRM)


def queue(
    session: Session,
    principal: Principal,
    status: str | None = DuplicateStatus.OPEN.value,
    *,
    names: bool = True,
) -> list[dict]:
    """The examiners' queue (``status`` None: every case), oldest first, each case with the record each side
    is now. Audited as a read (``biometric.duplicate_queue``); with ``names`` (a page, the API) the persons'
    names too, shown under one ``person.list`` entry (reason "duplicate queue"), not a read of each."""
    _may_see_queue(principal)
    if status is not None and status not in {s.value for s in DuplicateStatus}:
        raise ValidationError(f"unknown status {status!r}", field="status")
    q = select(DuplicateCase).order_by(DuplicateCase.id)
    if status is not None:
        q = q.where(DuplicateCase.status == status)
    cases = list(session.scalars(q))
    audit.record(
        session, principal, "biometric.duplicate_queue", query={"status": status, "cases": len(cases)}
    )
    if names:
        return _with_names(session, principal, cases, "duplicate queue")
    current = _current(session, {pid for c in cases for pid in (c.person_id, c.candidate_id)})
    return [case_dict(c, current) for c in cases]


def get_case(session: Session, principal: Principal, case_id: int) -> dict:
    """One case with its two persons' names (a case's page), audited as ``biometric.duplicate_view`` and one
    ``person.list`` entry (reason "duplicate case")."""
    _may_see_queue(principal)
    c = _case(session, case_id)
    audit.record(session, principal, "biometric.duplicate_view", query={"case": c.id})
    return _with_names(session, principal, [c], "duplicate case")[0]


def _case(session: Session, case_id: int) -> DuplicateCase:
    c = session.get(DuplicateCase, case_id)
    if c is None:
        message = f"no duplicate case {case_id}"
        raise rule_error("case_id", "duplicate_not_found", message, error=NotFound, case=case_id)
    return c


def _one_record(c: DuplicateCase, current: dict[int, int]) -> str:
    """How the two persons of a case came to be one record, for a message."""
    survivor = current[c.person_id]
    merged = [pid for pid in (c.person_id, c.candidate_id) if pid != survivor]
    gone = " and ".join(f"person {pid}" for pid in merged)
    return (
        f"persons {c.person_id} and {c.candidate_id} are already one record "
        f"({gone} merged into person {survivor})"
    )


def _resolve(
    session: Session, principal: Principal, c: DuplicateCase, current: dict[int, int], why: str
) -> None:
    """Close a case whose two persons are already one record: nothing left to decide or merge."""
    now = utcnow()
    c.status = DuplicateStatus.RESOLVED.value
    c.updated_at, c.updated_by = now, principal.user_id
    audit.record(
        session, principal, "biometric.duplicate_resolved", target_type="person",
        target_id=current[c.person_id], reason=why,
        query={"case": c.id, "person": c.person_id, "candidate": c.candidate_id,
               "record": current[c.person_id]},
        detail=_one_record(c, current),
    )  # fmt: skip


def _merge(session: Session, principal: Principal, c: DuplicateCase, reason: str) -> None:
    """Merge the records the case's two persons are now (a side merged away is followed to its survivor;
    the older record survives); where they are one record already, the case is resolved instead."""
    from crms.records.services import merge_persons

    current = _current(session, (c.person_id, c.candidate_id))
    if current[c.person_id] == current[c.candidate_id]:
        _resolve(session, principal, c, current, reason)
        return
    survivor, merged = sorted((current[c.person_id], current[c.candidate_id]))
    now = utcnow()
    c.status = DuplicateStatus.MERGED.value  # before the merge, whose participant closes the cases it settles
    c.merged_at, c.merged_by = now, principal.user_id
    c.updated_at, c.updated_by = now, principal.user_id
    session.flush()
    merge_persons(
        session,
        principal,
        {"survivor_id": survivor, "merged_id": merged, "reason": f"duplicate case {c.id}: {reason}"},
    )
    audit.record(
        session, principal, "biometric.duplicate_merge", target_type="person", target_id=survivor,
        reason=reason, query={"case": c.id, "survivor": survivor, "merged": merged, "person": c.person_id,
                              "candidate": c.candidate_id},
    )  # fmt: skip


def decide(session: Session, principal: Principal, case_id: int, decision: str, reason: str | None) -> dict:
    """An examiner's decision on an open case: ``confirm`` or ``reject``, with a reason. A side merged away
    since the case opened is followed to its survivor (the answer's ``current_*`` ids); where both sides are
    already one record, ``confirm`` closes the case as resolved and ``reject`` is refused (a merge is not
    parted here)."""
    authorize(principal, Permission.BIOMETRIC_CONFIRM)
    if decision not in ("confirm", "reject"):
        raise ValidationError("decision must be 'confirm' or 'reject'", field="decision")
    if not reason or not reason.strip():
        raise ValidationError("a reason is required", field="reason")
    c = _case(session, case_id)
    if c.status != DuplicateStatus.OPEN.value:
        message = f"duplicate case {case_id} is already {c.status}"
        raise rule_error("case_id", "duplicate_decided", message, error=Conflict, case=case_id, word=c.status)
    current = _current(session, (c.person_id, c.candidate_id))
    one = current[c.person_id] == current[c.candidate_id]
    if one and decision == "reject":
        raise Conflict(
            f"{_one_record(c, current)}: a merge is not parted here; confirm to close the case",
            field="decision",
        )
    now = utcnow()
    c.status = (DuplicateStatus.CONFIRMED if decision == "confirm" else DuplicateStatus.REJECTED).value
    c.decided_at, c.decided_by, c.reason = now, principal.user_id, reason.strip()[:500]
    c.updated_at, c.updated_by = now, principal.user_id
    query = {"case": c.id, "candidate": c.candidate_id}
    if current[c.person_id] != c.person_id or current[c.candidate_id] != c.candidate_id:
        query |= {"current_person": current[c.person_id], "current_candidate": current[c.candidate_id]}
    audit.record(
        session, principal, f"biometric.duplicate_{decision}", target_type="person", target_id=c.person_id,
        reason=c.reason, query=query,
    )  # fmt: skip
    if one:
        _resolve(session, principal, c, current, c.reason)
    elif decision == "confirm" and has_permission(principal, Permission.PERSON_MERGE):
        _merge(session, principal, c, c.reason)
    session.flush()
    return case_dict(c, _current(session, (c.person_id, c.candidate_id)))


def merge_confirmed(session: Session, principal: Principal, case_id: int, reason: str | None) -> dict:
    """A supervisor merges the two records of a case an examiner confirmed: the records the two persons are
    now (a side merged away since is followed to its survivor); where they are one record already, the case
    is closed as resolved."""
    authorize(principal, Permission.PERSON_MERGE)
    if not reason or not reason.strip():
        raise ValidationError("a reason is required", field="reason")
    c = _case(session, case_id)
    if c.status != DuplicateStatus.CONFIRMED.value:
        message = f"duplicate case {case_id} is {c.status}, not confirmed by an examiner"
        raise rule_error(
            "case_id", "duplicate_unconfirmed", message, error=Conflict, case=case_id, word=c.status
        )
    _merge(session, principal, c, reason.strip()[:500])
    session.flush()
    return case_dict(c, _current(session, (c.person_id, c.candidate_id)))


def follow_merge(session: Session, principal: Principal, survivor_id: int, merged_id: int) -> list[int]:
    """A merge of two person records (called by :func:`crms.biometrics.enrolment.follow_merge`, a merge
    participant, before the merged record points at the survivor): the open or confirmed cases whose two
    persons the merge makes one record are closed as resolved (audited). Returns their ids."""
    from crms.records.models import Person

    one = {survivor_id, merged_id} | set(
        session.scalars(select(Person.id).where(Person.merged_into_id.in_((survivor_id, merged_id))))
    )
    waiting = (DuplicateStatus.OPEN.value, DuplicateStatus.CONFIRMED.value)
    closed = []
    for c in session.scalars(
        select(DuplicateCase)
        .where(
            DuplicateCase.status.in_(waiting),
            DuplicateCase.person_id.in_(one),
            DuplicateCase.candidate_id.in_(one),
        )
        .order_by(DuplicateCase.id)
    ):
        current = {c.person_id: survivor_id, c.candidate_id: survivor_id}
        _resolve(session, principal, c, current, f"persons {merged_id} and {survivor_id} merged")
        closed.append(c.id)
    return closed
