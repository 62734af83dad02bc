"""Reading persons: the plain-data views of rows (documents, flags, links), the full record with all
history in a handful of Core queries, one part of a record, and a page of persons."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, cast, func, literal_column, null, select, union_all

from crms.access import audit
from crms.access.policy import Permission, authorize
from crms.access.principal import Principal
from crms.db import check_page
from crms.errors import ValidationError
from crms.records import tables
from crms.records.cnic import CNIC_LIKE, format_cnic
from crms.records.services.common import MAX_PAGE, person_not_found
from crms.records.services.guard import guard_reads
from crms.timeutil import iso_or_none as _ts

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from crms.records.models import CaseParty, Person, PersonFlag

# The reads below are Core statements on crms.records.tables: a CNIC lookup or a full record builds no ORM
# class (list_persons and person_part, which load Person objects, import the models when called).


def document_dict(d) -> dict:
    return {
        "id": d.id,
        "doc_type": d.doc_type,
        "number": d.number,
        "formatted": format_cnic(d.number) if d.doc_type in CNIC_LIKE else d.number,
        "issuing_country": d.issuing_country,
        "notes": d.notes,
    }


def flag_dict(f: PersonFlag) -> dict:
    return _flag_fields(f, f.case.fir_key if f.case is not None else None)


def _flag_fields(f, fir: str | None) -> dict:
    """A flag as the API gives it, from a PersonFlag or a lookup row of the same columns."""
    return {
        "id": f.id,
        "kind": f.kind,
        "active": f.cleared_at is None and f.pending_unit is None,
        "case_id": f.case_id,
        "fir": fir,
        "raised_at": _ts(f.raised_at),
        "raised_by": f.raised_by,
        "raise_reason": f.raise_reason,
        "cleared_at": _ts(f.cleared_at),
        "cleared_by": f.cleared_by,
        "clear_reason": f.clear_reason,
        "pending_confirmation_by": f.pending_unit if f.cleared_at is None else None,
        "confirmed_at": _ts(f.confirmed_at),
        "confirmed_by": f.confirmed_by,
    }


def display_name(p) -> str:
    """English-script full name, else the Urdu one (works on Person rows and Core rows)."""
    en = " ".join(x for x in (p.given_name_en, p.family_name_en) if x)
    return en or " ".join(x for x in (p.given_name_ur, p.family_name_ur) if x)


def person_core_dict(p) -> dict:
    return {
        "id": p.id,
        "name": display_name(p),
        "given_name_en": p.given_name_en,
        "family_name_en": p.family_name_en,
        "given_name_ur": p.given_name_ur,
        "family_name_ur": p.family_name_ur,
        "parentage_relation": p.parentage_relation,
        "parentage_name_en": p.parentage_name_en,
        "parentage_name_ur": p.parentage_name_ur,
        "caste": p.caste,
        "date_of_birth": _ts(p.date_of_birth),
        "birth_year": p.birth_year,
        "birth_year_estimated": p.birth_year_estimated,
        "gender": p.gender,
        "nationality": p.nationality,
        "notes": p.notes,
        "unit": p.unit_path,
        "merged_into_id": p.merged_into_id,
        "created_at": _ts(p.created_at),
        "created_by": p.created_by,
        "updated_at": _ts(p.updated_at),
        "updated_by": p.updated_by,
        "version": p.version,
    }


def _status_history(rows) -> list[dict]:
    return [
        {
            "from": r.from_status,
            "to": r.status,
            "effective_on": _ts(r.effective_on),
            "note": r.note,
            "changed_at": _ts(r.changed_at),
            "changed_by": r.changed_by,
        }
        for r in rows
    ]


def party_dict(link: CaseParty, *, history: bool = True) -> dict:
    c = link.case
    out = {
        "link_id": link.id,
        "case_id": c.id,
        "fir": c.fir_key,
        "police_station": c.police_station_code,
        "district": c.district_code,
        "fir_number": c.fir_number,
        "year": c.year,
        "registered_on": _ts(c.registered_on),
        "sections": c.sections_text,
        "case_status": c.status,
        "role": link.role,
        "status": link.status,
        "modus_operandi": link.modus_operandi,
        "gang": link.gang,
        "version": link.version,
    }
    if history:
        out["status_history"] = _status_history(link.status_history)
        out["arrests"] = [
            {
                "id": a.id,
                "arrested_on": _ts(a.arrested_on),
                "place": a.place,
                "arrested_by": a.arrested_by,
                "notes": a.notes,
            }
            for a in link.arrests
        ]
        out["convictions"] = [
            {
                "id": v.id,
                "court": v.court,
                "convicted_on": _ts(v.convicted_on),
                "sentence": v.sentence,
                "notes": v.notes,
            }
            for v in link.convictions
        ]
    return out


def _summary(parties, active_kinds: set[str]) -> dict:
    accused = [p for p in parties if p.role == "accused"]
    return {
        "cases": len(parties),
        "cases_as_accused": len(accused),
        "convictions": sum(1 for p in accused if p.status == "convicted"),
        "pending": sum(1 for p in accused if p.status not in ("convicted", "acquitted", "discharged")),
        "active_flags": sorted(active_kinds),
    }


def history_summary(person: Person) -> dict:
    return _summary(list(person.parties), {f.kind for f in person.flags if f.active})


_FULL: dict = {}


def _parties_of_person(CP, C, pid):
    """The person's case links with the case's key facts (shared by the CNIC lookup and the full record)."""
    return (
        select(
            CP.c.id.label("link_id"),
            CP.c.role,
            CP.c.status,
            CP.c.modus_operandi,
            CP.c.gang,
            C.c.id.label("case_id"),
            C.c.police_station_code,
            C.c.district_code,
            C.c.fir_number,
            C.c.year,
            C.c.registered_on,
            C.c.sections_text,
            C.c.status.label("case_status"),
        )
        .join(C, C.c.id == CP.c.case_id)
        .where(CP.c.person_id == pid)
        .order_by(CP.c.id)
    )


def _tag(name: str):
    """A constant text column naming the part of a UNION ALL a row comes from (SQL text, not a parameter)."""
    from sqlalchemy import String

    return literal_column(f"'{name}'", String)


def _none(type_):
    """A typed NULL column for the unions below (PostgreSQL needs the type; SQLAlchemy takes the result
    processing of a UNION's columns from its first SELECT)."""
    return cast(null(), type_)


def _person_parts(kinds: tuple[str, ...], pid=None):
    """One UNION ALL over the person's small child tables (aliases, identity documents, addresses, phones):
    one round trip instead of four. Columns: part, id, a, b, c, d (all text); ordered by part, then id.
    ``pid``: the person's id as an SQL expression (default: the parameter ``pid``)."""
    from sqlalchemy import String

    A, D = tables.person_aliases, tables.identity_documents
    AD, PH = tables.addresses, tables.phone_numbers
    pid = bindparam("pid") if pid is None else pid
    none = _none(String)
    columns = {
        "alias": (A, A.c.name, A.c.script, none, none),
        "document": (D, D.c.doc_type, D.c.number, D.c.issuing_country, D.c.notes),
        "address": (AD, AD.c.kind, AD.c.district_code, AD.c.police_station_code, AD.c.text),
        "phone": (PH, PH.c.e164, PH.c.kind, none, none),
    }
    selects = []
    for kind in kinds:
        table, *cols = columns[kind]
        labelled = [c.label(n) for c, n in zip(cols, "abcd", strict=True)]
        selects.append(
            select(_tag(kind).label("part"), table.c.id.label("id"), *labelled).where(
                table.c.person_id == pid
            )
        )
    return union_all(*selects).order_by(literal_column("part"), literal_column("id"))


def _split_parts(rows) -> dict[str, list]:
    out: dict[str, list] = {"alias": [], "document": [], "address": [], "phone": []}
    for r in rows:
        out[r.part].append(r)
    return out


def _document_part_dict(r) -> dict:
    return document_dict(SimpleNamespace(id=r.id, doc_type=r.a, number=r.b, issuing_country=r.c, notes=r.d))


def _full_statements() -> dict:
    """The full record's statements, built once, no ORM object loading. A person with cases and no physical
    description takes 7 queries on one connection: the person, one UNION ALL of the small child tables, the
    descriptions, the case links with their cases, one UNION ALL of the links' status history, arrests and
    convictions, the flags, and one UNION ALL of merges and changes."""
    if _FULL:
        return _FULL
    from sqlalchemy import DateTime, Integer

    pid = bindparam("pid")
    P = tables.persons
    DS, BM = tables.physical_descriptions, tables.body_marks
    CP, C, F, M = tables.case_parties, tables.cases, tables.person_flags, tables.person_merges
    from crms.records.models import Arrest, Conviction, PartyStatusChange

    H, AR, CV = PartyStatusChange.__table__, Arrest.__table__, Conviction.__table__
    # who recorded and who last changed the person, and who changed or merged into it (the log), by name
    from crms.access.models import User

    UC, UU, UL = (User.__table__.alias(name) for name in ("uc", "uu", "ul"))
    _FULL["person"] = (
        select(P, UC.c.username.label("created_by_name"), UU.c.username.label("updated_by_name"))
        .select_from(P.outerjoin(UC, UC.c.id == P.c.created_by).outerjoin(UU, UU.c.id == P.c.updated_by))
        .where(P.c.id == pid)
    )
    _FULL["parts"] = _person_parts(("alias", "document", "address", "phone"))
    _FULL["descriptions"] = select(DS).where(DS.c.person_id == pid).order_by(DS.c.observed_on, DS.c.id)
    _FULL["marks"] = (
        select(BM).join(DS, DS.c.id == BM.c.description_id).where(DS.c.person_id == pid).order_by(BM.c.id)
    )
    _FULL["parties"] = _parties_of_person(CP, C, pid)
    # status history (h), arrests (a) and convictions (c) of all the person's links in one query
    stamp, num = _none(DateTime(timezone=True)), _none(Integer)
    mine = CP.c.person_id == pid
    _FULL["party_parts"] = union_all(
        select(_tag("h").label("part"), H.c.id.label("id"), H.c.party_id.label("party_id"),
               H.c.from_status.label("s1"), H.c.status.label("s2"), H.c.note.label("s3"),
               H.c.effective_on.label("day"), H.c.changed_at.label("stamp"), H.c.changed_by.label("num"))
        .join(CP, CP.c.id == H.c.party_id).where(mine),
        select(_tag("a"), AR.c.id, AR.c.party_id, AR.c.place, AR.c.arrested_by, AR.c.notes,
               AR.c.arrested_on, stamp, num)
        .join(CP, CP.c.id == AR.c.party_id).where(mine),
        select(_tag("c"), CV.c.id, CV.c.party_id, CV.c.court, CV.c.sentence, CV.c.notes,
               CV.c.convicted_on, stamp, num)
        .join(CP, CP.c.id == CV.c.party_id).where(mine),
    ).order_by(literal_column("part"), literal_column("id"))  # fmt: skip
    _FULL["flags"] = (
        select(F, C.c.police_station_code, C.c.fir_number, C.c.year)
        .outerjoin(C, C.c.id == F.c.case_id)
        .where(F.c.person_id == pid)
        .order_by(F.c.id)
    )
    PC = tables.person_changes
    # merges into this person (m) and the changes made to it (c)
    _FULL["log"] = union_all(
        select(_tag("m").label("part"), M.c.id.label("id"), M.c.merged_id.label("other"),
               M.c.reason.label("text"), M.c.moved.label("data"), M.c.merged_at.label("at"),
               M.c.merged_by.label("by"), UL.c.username.label("by_name"))
        .select_from(M.outerjoin(UL, UL.c.id == M.c.merged_by))
        .where(M.c.survivor_id == pid),
        select(_tag("c"), PC.c.id, num, PC.c.action, PC.c.changes, PC.c.changed_at, PC.c.changed_by,
               UL.c.username)
        .select_from(PC.outerjoin(UL, UL.c.id == PC.c.changed_by))
        .where(PC.c.person_id == pid),
    ).order_by(literal_column("part"), literal_column("id"))  # fmt: skip
    return _FULL


def _flag_row_dict(f) -> dict:
    return _flag_fields(f, _fir_key(f.police_station_code, f.fir_number, f.year) if f.case_id else None)


def _party_row_dict(r) -> dict:
    return {
        "link_id": r.link_id,
        "case_id": r.case_id,
        "fir": _fir_key(r.police_station_code, r.fir_number, r.year),
        "police_station": r.police_station_code,
        "district": r.district_code,
        "fir_number": r.fir_number,
        "year": r.year,
        "registered_on": _ts(r.registered_on),
        "sections": r.sections_text,
        "case_status": r.case_status,
        "role": r.role,
        "status": r.status,
        "modus_operandi": r.modus_operandi,
        "gang": r.gang,
    }


def full_record(session: Session, person: Person | int) -> dict:
    """The full record of a person (an id or a flushed Person) with all history, as plain data."""
    pid = person if isinstance(person, int) else person.id
    row = session.connection().execute(_full_statements()["person"], {"pid": pid}).first()
    if row is None:
        raise person_not_found(pid)
    return _full_record_of(session, row)


def _full_record_of(session: Session, row) -> dict:
    q = _full_statements()
    conn = session.connection()
    args = {"pid": row.id}
    out = person_core_dict(row)
    out["created_by_name"], out["updated_by_name"] = row.created_by_name, row.updated_by_name
    parts = _split_parts(conn.execute(q["parts"], args))
    out["aliases"] = [{"id": a.id, "name": a.a, "script": a.b} for a in parts["alias"]]
    out["documents"] = [_document_part_dict(d) for d in parts["document"]]
    out["addresses"] = [
        {"id": a.id, "kind": a.a, "district": a.b, "police_station": a.c, "text": a.d}
        for a in parts["address"]
    ]
    out["phones"] = [{"id": p.id, "e164": p.a, "kind": p.b} for p in parts["phone"]]
    marks: dict[int, list[dict]] = {}
    descriptions = conn.execute(q["descriptions"], args).all()
    if descriptions:
        for m in conn.execute(q["marks"], args):
            marks.setdefault(m.description_id, []).append(
                {"kind": m.kind, "body_location": m.body_location, "text": m.text}
            )
    out["descriptions"] = [
        {
            "id": d.id,
            "observed_on": _ts(d.observed_on),
            "height_cm": d.height_cm,
            "build": d.build,
            "complexion": d.complexion,
            "eye_colour": d.eye_colour,
            "hair": d.hair,
            "beard": d.beard,
            "languages": list(d.languages or []),
            "marks": marks.get(d.id, []),
            "version": d.version,
        }
        for d in descriptions
    ]
    parties = conn.execute(q["parties"], args).all()
    cases = []
    if parties:
        history: dict[int, list[dict]] = {}
        arrests: dict[int, list[dict]] = {}
        convictions: dict[int, list[dict]] = {}
        for r in conn.execute(q["party_parts"], args):
            if r.part == "h":
                history.setdefault(r.party_id, []).append(
                    {
                        "from": r.s1,
                        "to": r.s2,
                        "effective_on": _ts(r.day),
                        "note": r.s3,
                        "changed_at": _ts(r.stamp),
                        "changed_by": r.num,
                    }
                )
            elif r.part == "a":
                arrests.setdefault(r.party_id, []).append(
                    {"id": r.id, "arrested_on": _ts(r.day), "place": r.s1, "arrested_by": r.s2, "notes": r.s3}
                )
            else:
                convictions.setdefault(r.party_id, []).append(
                    {"id": r.id, "court": r.s1, "convicted_on": _ts(r.day), "sentence": r.s2, "notes": r.s3}
                )
        for r in parties:
            d = _party_row_dict(r)
            d["status_history"] = history.get(r.link_id, [])
            d["arrests"] = arrests.get(r.link_id, [])
            d["convictions"] = convictions.get(r.link_id, [])
            cases.append(d)
    out["cases"] = cases
    flags = conn.execute(q["flags"], args).all()
    out["flags"] = [_flag_row_dict(f) for f in flags]
    active = {f.kind for f in flags if f.cleared_at is None and f.pending_unit is None}
    out["active_flags"] = sorted(active)
    out["summary"] = _summary(parties, active)
    merged_from, changes = [], []
    for r in conn.execute(q["log"], args):
        if r.part == "m":
            merged_from.append(
                {
                    "person_id": r.other,
                    "merged_at": _ts(r.at),
                    "merged_by": r.by,
                    "merged_by_name": r.by_name,
                    "reason": r.text,
                    "moved": r.data,
                }
            )
        else:
            changes.append(
                {
                    "action": r.text,
                    "changes": r.data,
                    "changed_at": _ts(r.at),
                    "changed_by": r.by,
                    "changed_by_name": r.by_name,
                }
            )
    out["merged_from"] = merged_from
    out["changes"] = changes
    return out


def _audit_miss(
    session: Session,
    principal: Principal,
    person_id: int,
    reason: str | None,
    detail: str,
    action: str = "person.read",
) -> None:
    """A read of a person id that names no person is audited too (outcome ``not_found``): probing ids is a
    read attempt. The adapters answer 404 for the None the services return (the entry is committed)."""
    audit.record(
        session,
        principal,
        action,
        target_type="person",
        target_id=person_id,
        reason=reason,
        outcome="not_found",
        detail=detail,
    )


def get_person(
    session: Session, principal: Principal, person_id: int, *, reason: str | None = None
) -> dict | None:
    """The full person record with history, or None when no person has this id (the miss is audited; the
    adapters answer 404). A merged id answers with the surviving record (``redirected_from`` says so)."""
    return _read_person(session, principal, person_id, reason, "person.read")


def print_person(session: Session, principal: Principal, person_id: int) -> dict | None:
    """The full record for a printout: a copy of it leaves the system, so it is audited as its own action,
    ``person.print`` (auditors list printouts by it; a miss too), not as a read; it counts as a read for the
    read limit, and needs what a read needs (``person:read``)."""
    return _read_person(session, principal, person_id, None, "person.print")


def _read_person(
    session: Session, principal: Principal, person_id: int, reason: str | None, action: str
) -> dict | None:
    authorize(principal, Permission.PERSON_READ)
    statement = _full_statements()["person"]
    conn = session.connection()
    target, redirected_from, seen = person_id, None, set()
    while True:
        row = conn.execute(statement, {"pid": target}).first()
        if row is None:
            _audit_miss(
                session, principal, person_id, reason, detail=f"person {target} not found", action=action
            )
            return None
        if row.merged_into_id is None or target in seen:
            break
        seen.add(target)
        redirected_from = redirected_from or person_id
        target = row.merged_into_id
    guard_reads(session, principal)
    out = _full_record_of(session, row)
    out["redirected_from"] = redirected_from
    audit.record(session, principal, action, target_type="person", target_id=target, reason=reason)
    return out


def list_persons(
    session: Session,
    principal: Principal,
    *,
    limit: int = 50,
    offset: int = 0,
    unit: str | None = None,
    reason: str | None = None,
) -> dict:
    """A page of persons (merged redirects excluded), newest first, with the total. Browsing the register
    needs ``person:browse`` and a reason, counts every person on the page as a read (:mod:`.guard`), and
    its audit entry names the persons returned."""
    authorize(principal, Permission.PERSON_BROWSE)
    reason = audit.require_reason(reason)
    check_page(limit, offset, max_limit=MAX_PAGE)
    from sqlalchemy.orm import selectinload

    from crms.records.models import Person

    q = select(Person).where(Person.merged_into_id.is_(None))
    if unit:
        u = unit.strip("/").upper()
        q = q.where((Person.unit_path == u) | Person.unit_path.startswith(u + "/"))
    total = session.scalar(select(func.count()).select_from(q.subquery()))
    rows = session.scalars(
        q.order_by(Person.id.desc()).limit(limit).offset(offset).options(selectinload(Person.documents))
    ).all()
    guard_reads(session, principal, len(rows))
    audit.record(
        session,
        principal,
        "person.list",
        target_type="person",
        query={"limit": limit, "offset": offset, "unit": unit, "ids": [p.id for p in rows]},
        reason=reason,
        detail=f"{len(rows)} of {total}",
    )
    items = []
    for p in rows:
        d = person_core_dict(p)
        d["documents"] = [document_dict(x) for x in p.documents]
        items.append(d)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


NAME_CHUNK = 500  # ids per statement (SQLite's bound-parameter limit is far above)


def names_shown(
    session: Session, principal: Principal, person_ids, *, reason: str, query: dict | None = None
) -> dict[int, dict]:
    """The names of the persons a work list shows (a duplicate case's two records, an identification's
    candidates): ``{id: {"id", "name", the names in both scripts, "merged_into_id"}}``, for the ids that
    name a person. The list is the system's, not the reader's choice, so it is not a read of each record:
    nothing is counted against the read limit (:mod:`.guard`); the view is audited as ONE ``person.list``
    entry naming the ids shown (``query["ids"]``, with the caller's ``query``: the cases, the search), its
    reason what showed them. Opening a record is a read, as ever (:func:`get_person`)."""
    authorize(principal, Permission.PERSON_READ)
    ids = sorted({int(i) for i in person_ids})
    p = tables.persons
    names: dict[int, dict] = {}
    conn = session.connection()
    statement = select(
        p.c.id, p.c.given_name_en, p.c.family_name_en, p.c.given_name_ur, p.c.family_name_ur,
        p.c.merged_into_id,
    ).where(p.c.id.in_(bindparam("ids", expanding=True)))  # fmt: skip
    for start in range(0, len(ids), NAME_CHUNK):
        for r in conn.execute(statement, {"ids": ids[start : start + NAME_CHUNK]}):
            names[r.id] = {
                "id": r.id,
                "name": display_name(r),
                "given_name_en": r.given_name_en,
                "family_name_en": r.family_name_en,
                "given_name_ur": r.given_name_ur,
                "family_name_ur": r.family_name_ur,
                "merged_into_id": r.merged_into_id,
            }
    audit.record(
        session,
        principal,
        "person.list",
        target_type="person",
        query={**(query or {}), "ids": ids},
        reason=reason,
        detail=f"{len(names)} names shown",
    )
    return names


PERSON_PARTS = ("documents", "aliases", "addresses", "phones", "descriptions", "cases", "flags")


def person_part(session: Session, principal: Principal, person_id: int, part: str) -> list[dict] | None:
    """One part of a person's record: 'documents', 'aliases', 'addresses', 'phones', 'descriptions',
    'cases' or 'flags' (audited as a read of the person), or None when no person has this id (audited)."""
    authorize(principal, Permission.PERSON_READ)
    if part not in PERSON_PARTS:
        raise ValidationError(f"unknown part '{part}'", field="part")
    from crms.records.models import Person

    if session.get(Person, person_id) is None:
        _audit_miss(session, principal, person_id, None, detail=part)
        return None
    guard_reads(session, principal)
    items = full_record(session, person_id)[part]
    audit.record(session, principal, "person.read", target_type="person", target_id=person_id, detail=part)
    return items


def _fir_key(police_station_code: str, fir_number: int, year: int) -> str:
    return f"FIR {fir_number}/{year} PS {police_station_code}"
