"""The instant CNIC lookup: the person, documents, flags and a criminal-history summary (the hot path)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import bindparam, func, literal, select

from crms.access import audit
from crms.access.policy import Permission, authorize
from crms.access.principal import Principal
from crms.db import read_together
from crms.records import tables
from crms.records.cnic import CNIC_LIKE, parse_cnic
from crms.records.services.reading import (
    _document_part_dict,
    _flag_row_dict,
    _parties_of_person,
    _party_row_dict,
    _person_parts,
    _split_parts,
    _summary,
    person_core_dict,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# Core statements on crms.records.tables only: a lookup builds no ORM class of the records and configures no
# mapper of theirs (CLI start-up, docs/BENCHMARKS.md).

_LOOKUP: dict = {}


def _lookup_statements() -> dict:
    """The CNIC lookup's statements, built once (building a statement costs more than running it). Each one
    finds the person by the number itself, so that the four can be sent together (crms.db.read_together)."""
    if _LOOKUP:
        return _LOOKUP
    P, D = tables.persons, tables.identity_documents
    CP, C, F = tables.case_parties, tables.cases, tables.person_flags
    holder = (
        select(D.c.person_id)
        # the document types as literals: an IN of bound values is re-rendered on every execution
        .where(D.c.number == bindparam("number"), D.c.doc_type.in_([literal(t) for t in sorted(CNIC_LIKE)]))
        .order_by(D.c.doc_type)  # CNIC before NICOP
        .limit(1)
        .scalar_subquery()
    )
    _LOOKUP["person"] = select(P).where(P.c.id == holder)
    _LOOKUP["parts"] = _person_parts(("alias", "document"), holder)  # one query for aliases and documents
    _LOOKUP["parties"] = _parties_of_person(CP, C, holder)
    _LOOKUP["flags"] = (
        select(F, C.c.police_station_code, C.c.fir_number, C.c.year)
        .outerjoin(C, C.c.id == F.c.case_id)
        .where(F.c.person_id == holder, F.c.cleared_at.is_(None))
        .order_by(F.c.id)
    )
    return _LOOKUP


def lookup_cnic(session: Session, principal: Principal, cnic: str, reason: str | None = None) -> dict | None:
    """Instant CNIC lookup: the person, documents, flags and a criminal-history summary, or None when no
    person holds this CNIC (the search is audited either way; adapters answer 404 / exit 1 for None).

    Malformed CNIC → ValidationError(field='cnic'). A reason is required (searches, CJIS 5.4.1.1).
    Hot path: four indexed Core queries on the session's connection (no ORM object loading), sent together
    on PostgreSQL."""
    authorize(principal, Permission.SEARCH_CNIC)
    reason = audit.require_reason(reason)
    parsed = parse_cnic(cnic)
    q = _lookup_statements()
    by_number = {"number": parsed.digits}
    # one round trip on PostgreSQL, in one snapshot (crms.db.read_together)
    found, parts, parties, flags = read_together(
        session.connection(), [(q[name], by_number) for name in ("person", "parts", "parties", "flags")]
    )
    if not found:
        audit.record(
            session,
            principal,
            "search.cnic",
            query={"cnic": parsed.digits},
            reason=reason,
            detail="not found",
        )
        return None
    person = found[0]
    pid = person.id
    out = person_core_dict(person)
    parts = _split_parts(parts)
    out["aliases"] = [{"name": a.a, "script": a.b} for a in parts["alias"]]
    out["documents"] = [_document_part_dict(d) for d in parts["document"]]
    out["cases"] = [_party_row_dict(r) for r in parties]
    out["flags"] = [_flag_row_dict(f) for f in flags]
    out["summary"] = _summary(parties, {f.kind for f in flags if f.pending_unit is None})
    out["cnic"] = parsed.as_dict()
    audit.record(
        session,
        principal,
        "search.cnic",
        target_type="person",
        target_id=pid,
        query={"cnic": parsed.digits},
        reason=reason,
    )
    return out


def count_cases_of(session: Session, person_id: int) -> int:
    CP = tables.case_parties
    return session.scalar(select(func.count(CP.c.id)).where(CP.c.person_id == person_id)) or 0
