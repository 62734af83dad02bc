"""Person services: register (duplicate refusal + likely-duplicate report), read the full record, update, add
documents/aliases/addresses/phones/descriptions, merge two records, list, and the instant CNIC lookup.

Every function takes (session, principal, ...), checks the permission with
:func:`crms.access.policy.authorize` (writes against the record's unit) and writes an audit entry with
:func:`crms.access.audit.record` for every read, search and change. Errors are raised before anything is
flushed where possible; the caller's transaction rolls back on any error, so nothing is half-written.
Case services (FIRs, links, statuses, arrests, convictions, flags) are in :mod:`crms.records.services_cases`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, cast, func, literal_column, null, select, union_all
from sqlalchemy.orm import Session, selectinload

from crms.access import audit
from crms.access.policy import Permission, authorize, unit_contains
from crms.access.principal import Principal
from crms.errors import Conflict, NotFound, ValidationError
from crms.records.cnic import ascii_digits, format_cnic, parse_cnic
from crms.records.models import (
    Address,
    BodyMark,
    Case,
    CaseParty,
    IdentityDocument,
    Person,
    PersonAlias,
    PersonChange,
    PersonFlag,
    PersonMerge,
    PhoneNumber,
    PhysicalDescription,
)
from crms.records.schemas import (
    AddressIn,
    AliasIn,
    DescriptionIn,
    DocumentIn,
    MergeIn,
    PersonCreate,
    PersonUpdate,
    coerce,
)
from crms.timeutil import iso_or_none as _ts
from crms.timeutil import utcnow

CNIC_LIKE = {"CNIC", "NICOP"}  # numbers in the CNIC format (NICOP carries the holder's CNIC number)
MAX_PAGE = 500
DUPLICATE_NAME_SCORE = 85.0
DUPLICATE_PARENTAGE_SCORE = 80.0


# ------------------------------------------------------------------------------------------ helpers


def touch(obj: Any, principal: Principal, *, new: bool = False) -> None:
    """Stamp who/when on a tracked row."""
    now = utcnow()
    if new:
        obj.created_at = now
        obj.created_by = principal.user_id
    obj.updated_at = now
    obj.updated_by = principal.user_id


def get_person_row(session: Session, person_id: int, *, follow: bool = True) -> tuple[Person, int | None]:
    """The person (following merge redirects when ``follow``) and the id it was redirected from."""
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound(f"person {person_id} not found", field="person_id")
    redirected_from = None
    seen = set()
    while follow and person.merged_into_id is not None and person.id not in seen:
        seen.add(person.id)
        redirected_from = redirected_from or person.id
        person = session.get(Person, person.merged_into_id)
    return person, redirected_from


def get_writable_person(session: Session, principal: Principal, person_id: int, permission=None) -> Person:
    authorize(principal, permission or Permission.PERSON_WRITE)  # the role first (403 before 404)
    person, _ = get_person_row(session, person_id, follow=False)
    if person.merged_into_id is not None:
        raise Conflict(
            f"person {person_id} was merged into person {person.merged_into_id}; change that record",
            field="person_id",
        )
    authorize(principal, permission or Permission.PERSON_WRITE, unit=person.unit_path)
    return person


# ------------------------------------------------------------------------------------------ names

_MUHAMMAD = re.compile(r"\b(?:muhammad|mohammad|mohammed|muhammed|mohamed|mohamad|muhamad|mohd|muhd|md)\b")
_NON_LETTER = re.compile(r"[^\w\s]|\d|_")


def normalise_name(text: str | None) -> str:
    """Casefolded, accents and punctuation removed, common spelling variants unified, spaces collapsed."""
    if not text:
        return ""
    value = unicodedata.normalize("NFKD", text)
    value = "".join(c for c in value if not unicodedata.combining(c)).casefold()
    value = _NON_LETTER.sub(" ", value)
    value = _MUHAMMAD.sub("muhammad", value)
    for a, b in (("ee", "i"), ("oo", "u"), ("ph", "f"), ("q", "k"), ("w", "v"), ("y", "i")):
        value = value.replace(a, b)
    return " ".join(value.split())


def _skeleton(token: str) -> str:
    if not token:
        return ""
    if not token.isascii():
        return token[:8]
    rest = re.sub(r"[aeiouhy]", "", token[1:])
    out = token[0]
    for ch in rest:
        if ch != out[-1]:
            out += ch
    return out[:6]


def name_sound(given: str | None, family: str | None = None) -> str:
    """A coarse phonetic key of the first distinctive name (skipping 'Muhammad'), for candidate search."""
    tokens = normalise_name(" ".join(p for p in (given, family) if p)).split()
    significant = [t for t in tokens if t != "muhammad"] or tokens
    return _skeleton(significant[0]) if significant else ""


def _full_name_en(p: Person | PersonCreate) -> str:
    return " ".join(x for x in (p.given_name_en, p.family_name_en) if x)


def _full_name_ur(p: Person | PersonCreate) -> str:
    return " ".join(x for x in (p.given_name_ur, p.family_name_ur) if x)


def _refresh_name_keys(person: Person) -> None:
    en, ur = _full_name_en(person), _full_name_ur(person)
    parent = person.parentage_name_en or person.parentage_name_ur or ""
    person.name_key = (normalise_name(en or ur) + "|" + normalise_name(parent))[:300]
    person.name_sound = name_sound(person.given_name_en, person.family_name_en) if en else name_sound(ur)


def likely_duplicates(session: Session, person: Person, *, limit: int = 10) -> list[dict]:
    """Persons with a similar name and parentage and a close birth year (rapidfuzz on normalised names)."""
    from rapidfuzz import fuzz

    if not person.name_sound:
        return []
    q = select(Person).where(
        Person.name_sound == person.name_sound, Person.merged_into_id.is_(None), Person.id != person.id
    )
    if person.birth_year:
        q = q.where(
            (Person.birth_year.between(person.birth_year - 2, person.birth_year + 2))
            | Person.birth_year.is_(None)
        )
    name, _, parent = person.name_key.partition("|")
    out = []
    for other in session.scalars(q.limit(2000)):
        oname, _, oparent = other.name_key.partition("|")
        name_score = fuzz.token_sort_ratio(name, oname)
        if name_score < DUPLICATE_NAME_SCORE:
            continue
        parent_score = fuzz.token_sort_ratio(parent, oparent) if parent and oparent else None
        if parent_score is not None and parent_score < DUPLICATE_PARENTAGE_SCORE:
            continue
        score = name_score if parent_score is None else (name_score + parent_score) / 2
        out.append(
            {
                "person_id": other.id,
                "name": other.display_name,
                "parentage": other.parentage_name_en or other.parentage_name_ur,
                "birth_year": other.birth_year,
                "score": round(score, 1),
            }
        )
    out.sort(key=lambda d: -d["score"])
    return out[:limit]


# ------------------------------------------------------------------------------------------ documents

_DOC_NUMBER = re.compile(r"^[A-Z0-9]{3,40}$")


def normalise_document(doc_type: str, number: str, *, field_name: str = "number") -> tuple[str, list[str]]:
    """Normalised number + warnings. CNIC/NICOP: 13 digits (see crms.records.cnic); others: upper-case letters
    and digits without separators."""
    if doc_type in CNIC_LIKE:
        cnic = parse_cnic(number, field_name=field_name)
        return cnic.digits, list(cnic.warnings)
    value = re.sub(r"[\s\-./]+", "", ascii_digits(number)).upper()
    if not _DOC_NUMBER.match(value):
        raise ValidationError(
            f"{doc_type} number must be 3-40 letters or digits (found {number!r})", field=field_name
        )
    return value, []


def _check_document_free(session: Session, doc_type: str, number: str, field_name: str) -> None:
    existing = session.scalar(
        select(IdentityDocument).where(
            IdentityDocument.doc_type == doc_type, IdentityDocument.number == number
        )
    )
    if existing is not None:
        shown = format_cnic(number) if doc_type in CNIC_LIKE else number
        raise Conflict(
            f"{doc_type} {shown} is already recorded for person {existing.person_id}", field=field_name
        )


def _add_documents(
    session: Session, principal: Principal, person: Person, docs: list[DocumentIn], prefix: str
) -> list[str]:
    warnings: list[str] = []
    seen: set[tuple[str, str]] = set()
    for i, d in enumerate(docs):
        fname = f"{prefix}.{i}.number" if prefix else "number"
        number, w = normalise_document(d.doc_type.value, d.number, field_name=fname)
        warnings += [f"{fname}: {x}" for x in w]
        key = (d.doc_type.value, number)
        if key in seen:
            raise ValidationError(f"{d.doc_type.value} {d.number} is given twice", field=fname)
        seen.add(key)
        _check_document_free(session, d.doc_type.value, number, fname)
        doc = IdentityDocument(
            doc_type=d.doc_type.value, number=number, issuing_country=d.issuing_country, notes=d.notes
        )
        touch(doc, principal, new=True)
        person.documents.append(doc)
    return warnings


def _resolve_address(session: Session, a: AddressIn, fname: str) -> tuple[str | None, str | None]:
    from crms.records.reference import get_district, get_police_station

    if not (a.district or a.police_station or a.text):
        raise ValidationError("an address needs a district, a police station or a text", field=fname)
    district = station = None
    try:
        if a.district:
            district = get_district(session, a.district)
        if a.police_station:
            station = get_police_station(session, a.police_station, district)
    except ValidationError as exc:
        raise ValidationError(exc.message, field=f"{fname}.{exc.field or 'district'}") from None
    district_code = district.code if district else (station.district_code if station else None)
    return district_code, station.code if station else None


def _add_addresses(session, principal, person: Person, items: list[AddressIn], prefix: str) -> None:
    for i, a in enumerate(items):
        fname = f"{prefix}.{i}" if prefix else "address"
        district_code, station_code = _resolve_address(session, a, fname)
        row = Address(
            kind=a.kind.value, district_code=district_code, police_station_code=station_code, text=a.text
        )
        touch(row, principal, new=True)
        person.addresses.append(row)


def _add_phones(principal, person: Person, items: list[str], prefix: str) -> list[str]:
    from crms.records.phones import parse_phone

    warnings = []
    have = {p.e164 for p in person.phones}
    for i, text in enumerate(items):
        fname = f"{prefix}.{i}" if prefix else "phone"
        phone = parse_phone(text, field_name=fname)
        warnings += [f"{fname}: {w}" for w in phone.warnings]
        if phone.e164 in have:
            continue
        have.add(phone.e164)
        row = PhoneNumber(e164=phone.e164, kind=phone.kind)
        touch(row, principal, new=True)
        person.phones.append(row)
    return warnings


def _add_descriptions(principal, person: Person, items: list[DescriptionIn]) -> None:
    for d in items:
        row = PhysicalDescription(
            observed_on=d.observed_on,
            height_cm=d.height_cm,
            build=d.build,
            complexion=d.complexion,
            eye_colour=d.eye_colour,
            hair=d.hair,
            beard=d.beard,
            languages=list(d.languages),
            marks=[BodyMark(kind=m.kind.value, body_location=m.body_location, text=m.text) for m in d.marks],
        )
        touch(row, principal, new=True)
        person.descriptions.append(row)


def _add_aliases(principal, person: Person, items: list[AliasIn]) -> None:
    have = {(a.name.casefold(), a.script) for a in person.aliases}
    for a in items:
        key = (a.name.casefold(), a.script.value)
        if key in have:
            continue
        have.add(key)
        row = PersonAlias(name=a.name, script=a.script.value)
        touch(row, principal, new=True)
        person.aliases.append(row)


def _check_person_fields(person: Person) -> None:
    if not (person.given_name_en or person.given_name_ur):
        raise ValidationError(
            "a given name is required (given_name_en or given_name_ur)", field="given_name_en"
        )
    if person.date_of_birth is not None:
        if person.birth_year not in (None, person.date_of_birth.year):
            raise ValidationError("birth_year does not match date_of_birth", field="birth_year")
        person.birth_year = person.date_of_birth.year
    if (person.parentage_name_en or person.parentage_name_ur) and not person.parentage_relation:
        raise ValidationError(
            "parentage_relation (s/o, d/o or w/o) is required with a parentage name",
            field="parentage_relation",
        )


def _jsonable(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def _record_change(
    session: Session,
    principal: Principal,
    person: Person,
    before: dict,
    action: str,
    extra: dict | None = None,
) -> None:
    """Keep the old and new values of the person's own fields (field-level history)."""
    changes = {
        key: [_jsonable(old), _jsonable(getattr(person, key))]
        for key, old in before.items()
        if old != getattr(person, key)
    }
    changes.update(extra or {})
    if changes:
        session.add(
            PersonChange(
                person_id=person.id,
                action=action,
                changes=changes,
                changed_at=utcnow(),
                changed_by=principal.user_id,
            )
        )


# ------------------------------------------------------------------------------------------ register


@dataclass
class RegisterResult:
    person: Person
    warnings: list[str] = field(default_factory=list)
    possible_duplicates: list[dict] = field(default_factory=list)


_SCALAR_FIELDS = (
    "given_name_en",
    "family_name_en",
    "given_name_ur",
    "family_name_ur",
    "parentage_relation",
    "parentage_name_en",
    "parentage_name_ur",
    "caste",
    "date_of_birth",
    "birth_year",
    "birth_year_estimated",
    "gender",
    "nationality",
    "notes",
)


def register_person(session: Session, principal: Principal, data: PersonCreate | dict) -> RegisterResult:
    """Create a person with documents, aliases, addresses, phones and descriptions.

    A document already recorded (same type and number) → Conflict naming the field; likely duplicates by
    name + parentage + birth year are reported in the result (not refused: namesakes are common)."""
    authorize(principal, Permission.PERSON_WRITE)  # the role first; the record's unit below
    data = coerce(PersonCreate, data)
    unit = principal.unit
    if data.unit:
        from crms.access.users import normalise_unit

        unit = normalise_unit(data.unit)
        if not unit_contains(principal.unit, unit):
            raise ValidationError(f"unit {unit} is outside your unit {principal.unit}", field="unit")
    authorize(principal, Permission.PERSON_WRITE, unit=unit)
    person = Person(unit_path=unit, **{k: getattr(data, k) for k in _SCALAR_FIELDS})
    _check_person_fields(person)
    _refresh_name_keys(person)
    touch(person, principal, new=True)
    warnings = _add_documents(session, principal, person, data.documents, "documents")
    _add_aliases(principal, person, data.aliases)
    _add_addresses(session, principal, person, data.addresses, "addresses")
    warnings += _add_phones(principal, person, data.phones, "phones")
    _add_descriptions(principal, person, data.descriptions)
    for d in person.documents:
        if d.doc_type == "CNIC" and person.gender in ("M", "F"):
            hint = "M" if int(d.number[-1]) % 2 else "F"
            if hint != person.gender:
                warnings.append(
                    f"CNIC {format_cnic(d.number)} ends in an {'odd' if hint == 'M' else 'even'} digit, "
                    f"usual for {'men' if hint == 'M' else 'women'}, but gender is {person.gender}"
                )
    session.add(person)
    session.flush()
    dups = likely_duplicates(session, person)
    for d in dups:
        warnings.append(
            f"possible duplicate of person {d['person_id']} ({d['name']}, parentage {d['parentage']}, "
            f"born {d['birth_year']}; score {d['score']})"
        )
    audit.record(
        session,
        principal,
        "person.create",
        target_type="person",
        target_id=person.id,
        detail=f"possible duplicates: {[d['person_id'] for d in dups]}" if dups else None,
    )
    return RegisterResult(person=person, warnings=warnings, possible_duplicates=dups)


def update_person(
    session: Session, principal: Principal, person_id: int, data: PersonUpdate | dict
) -> Person:
    data = coerce(PersonUpdate, data)
    person = get_writable_person(session, principal, person_id)
    changes = data.model_dump(exclude_unset=True)
    for key in ("gender", "nationality", "birth_year_estimated"):
        if key in changes and changes[key] is None:
            raise ValidationError(f"{key} cannot be cleared", field=key)
    if "date_of_birth" in changes and "birth_year" not in changes and changes["date_of_birth"] is None:
        changes["birth_year"] = person.birth_year
    if changes.get("date_of_birth") is not None and "birth_year" not in changes:
        changes["birth_year"] = None
    before = {key: getattr(person, key) for key in _SCALAR_FIELDS}
    for key, value in changes.items():
        setattr(person, key, value)
    _check_person_fields(person)
    _refresh_name_keys(person)
    touch(person, principal)
    _record_change(session, principal, person, before, "update")
    session.flush()
    audit.record(
        session,
        principal,
        "person.update",
        target_type="person",
        target_id=person.id,
        query={"fields": sorted(changes)},
    )
    return person


def add_document(session: Session, principal: Principal, person_id: int, data: DocumentIn | dict):
    data = coerce(DocumentIn, data)
    person = get_writable_person(session, principal, person_id)
    warnings = _add_documents(session, principal, person, [data], "")
    touch(person, principal)
    session.flush()
    doc = person.documents[-1]
    audit.record(session, principal, "person.document.add", target_type="person", target_id=person.id)
    return doc, warnings


def remove_document(session: Session, principal: Principal, person_id: int, document_id: int) -> None:
    person = get_writable_person(session, principal, person_id)
    doc = session.get(IdentityDocument, document_id)
    if doc is None or doc.person_id != person.id:
        raise NotFound(f"document {document_id} not found for person {person_id}", field="document_id")
    session.delete(doc)
    touch(person, principal)
    session.flush()
    audit.record(
        session,
        principal,
        "person.document.remove",
        target_type="person",
        target_id=person.id,
        detail=f"{doc.doc_type} {doc.number}",
    )


def add_alias(session: Session, principal: Principal, person_id: int, data: AliasIn | dict) -> Person:
    data = coerce(AliasIn, data)
    person = get_writable_person(session, principal, person_id)
    _add_aliases(principal, person, [data])
    touch(person, principal)
    session.flush()
    audit.record(session, principal, "person.alias.add", target_type="person", target_id=person.id)
    return person


def add_address(session: Session, principal: Principal, person_id: int, data: AddressIn | dict) -> Address:
    data = coerce(AddressIn, data)
    person = get_writable_person(session, principal, person_id)
    _add_addresses(session, principal, person, [data], "")
    touch(person, principal)
    session.flush()
    audit.record(session, principal, "person.address.add", target_type="person", target_id=person.id)
    return person.addresses[-1]


def add_phone(
    session: Session, principal: Principal, person_id: int, number: str
) -> tuple[Person, list[str]]:
    person = get_writable_person(session, principal, person_id)
    warnings = _add_phones(principal, person, [number], "")
    touch(person, principal)
    session.flush()
    audit.record(session, principal, "person.phone.add", target_type="person", target_id=person.id)
    return person, warnings


def add_description(
    session: Session, principal: Principal, person_id: int, data: DescriptionIn | dict
) -> PhysicalDescription:
    data = coerce(DescriptionIn, data)
    person = get_writable_person(session, principal, person_id)
    _add_descriptions(principal, person, [data])
    touch(person, principal)
    session.flush()
    audit.record(session, principal, "person.description.add", target_type="person", target_id=person.id)
    return person.descriptions[-1]


def update_description(
    session: Session, principal: Principal, person_id: int, description_id: int, data: DescriptionIn | dict
) -> PhysicalDescription:
    """Correct a recorded observation (all its fields and marks are replaced by ``data``)."""
    authorize(principal, Permission.PERSON_WRITE)
    data = coerce(DescriptionIn, data)
    person = get_writable_person(session, principal, person_id)
    row = session.get(PhysicalDescription, description_id)
    if row is None or row.person_id != person.id:
        raise NotFound(
            f"description {description_id} not found for person {person_id}", field="description_id"
        )
    for key in ("observed_on", "height_cm", "build", "complexion", "eye_colour", "hair", "beard"):
        setattr(row, key, getattr(data, key))
    row.languages = list(data.languages)
    row.marks = [BodyMark(kind=m.kind.value, body_location=m.body_location, text=m.text) for m in data.marks]
    touch(row, principal)
    touch(person, principal)
    session.flush()
    audit.record(
        session,
        principal,
        "person.description.update",
        target_type="person",
        target_id=person.id,
        query={"description_id": description_id},
    )
    return row


def person_part(session: Session, principal: Principal, person_id: int, part: str) -> list[dict]:
    """One part of a person's record: 'documents', 'aliases', 'addresses', 'phones', 'descriptions',
    'cases' or 'flags' (audited as a read of the person)."""
    authorize(principal, Permission.PERSON_READ)
    if part not in ("documents", "aliases", "addresses", "phones", "descriptions", "cases", "flags"):
        raise ValidationError(f"unknown part '{part}'", field="part")
    if session.get(Person, person_id) is None:
        raise NotFound(f"person {person_id} not found", field="person_id")
    items = full_record(session, person_id)[part]
    audit.record(session, principal, "person.read", target_type="person", target_id=person_id, detail=part)
    return items


# ------------------------------------------------------------------------------------------ merge


# Other areas' rows that belong to a person and follow a merge (fingerprints; later photos). Each
# "module:function" is called as fn(session, principal, survivor, merged, now) and returns {what: [row ids]}
# for the merge's record of what moved. Named, not imported, so that records depends on no other area; an
# area whose module is not installed is skipped.
MERGE_PARTICIPANTS = ["crms.biometrics.enrolment:follow_merge"]


def _merge_participants(
    session: Session, principal: Principal, survivor: Person, merged: Person, now
) -> dict:
    from crms.optional import optional_module

    moved: dict[str, list[int]] = {}
    for name in MERGE_PARTICIPANTS:
        module_name, _, func = name.partition(":")
        module = optional_module(module_name)
        if module is not None:
            moved.update(getattr(module, func)(session, principal, survivor, merged, now))
    return moved


def merge_persons(session: Session, principal: Principal, data: MergeIn | dict) -> Person:
    """Fold ``merged_id`` into ``survivor_id``: documents, aliases, addresses, phones, descriptions, case
    links and flags move, and so do other areas' rows (MERGE_PARTICIPANTS: fingerprints); the merged
    record's names become aliases; blanks of the survivor are filled; the
    merged record stays as a redirect and a PersonMerge row keeps what moved."""
    authorize(principal, Permission.PERSON_MERGE)  # the role first; the units of both records below
    data = coerce(MergeIn, data)
    if data.survivor_id == data.merged_id:
        raise ValidationError("a person cannot be merged into itself", field="merged_id")
    survivor = get_writable_person(session, principal, data.survivor_id, Permission.PERSON_MERGE)
    try:
        merged = get_writable_person(session, principal, data.merged_id, Permission.PERSON_MERGE)
    except NotFound as exc:
        raise NotFound(exc.message, field="merged_id") from None
    except Conflict as exc:
        raise Conflict(exc.message, field="merged_id") from None
    survivor_links = {(p.case_id, p.role) for p in survivor.parties}
    for p in merged.parties:
        if (p.case_id, p.role) in survivor_links:
            raise Conflict(
                f"both persons are linked to case {p.case_id} as {p.role}; unlink one before merging",
                field="merged_id",
            )
    moved: dict[str, list[int]] = {}
    with session.no_autoflush:
        for attr in ("documents", "aliases", "addresses", "phones", "descriptions", "parties", "flags"):
            rows = list(getattr(merged, attr))
            moved[attr] = [r.id for r in rows]
            for r in rows:
                r.person = survivor  # back_populates moves it between the two collections
    now = utcnow()
    moved.update(_merge_participants(session, principal, survivor, merged, now))
    names = []
    if _full_name_en(merged) and _full_name_en(merged).casefold() != _full_name_en(survivor).casefold():
        names.append(AliasIn(name=_full_name_en(merged)[:200], script="latin"))
    if _full_name_ur(merged) and _full_name_ur(merged) != _full_name_ur(survivor):
        names.append(AliasIn(name=_full_name_ur(merged)[:200], script="urdu"))
    _add_aliases(principal, survivor, names)
    filled = []
    before = {key: getattr(survivor, key) for key in _SCALAR_FIELDS}
    for key in _SCALAR_FIELDS:
        if getattr(survivor, key) in (None, "", "X") and getattr(merged, key) not in (None, "", "X"):
            setattr(survivor, key, getattr(merged, key))
            filled.append(key)
    moved["filled"] = filled  # type: ignore[assignment]
    _check_person_fields(survivor)
    _refresh_name_keys(survivor)
    _record_change(session, principal, survivor, before, "merge", extra={"merged_id": [None, merged.id]})
    merged.merged_into_id = survivor.id
    merged.merged_at = now
    touch(merged, principal)
    touch(survivor, principal)
    for older in session.scalars(select(Person).where(Person.merged_into_id == merged.id)):
        older.merged_into_id = survivor.id
    session.add(
        PersonMerge(
            survivor_id=survivor.id,
            merged_id=merged.id,
            reason=data.reason,
            moved=moved,
            merged_at=now,
            merged_by=principal.user_id,
        )
    )
    session.flush()
    audit.record(
        session,
        principal,
        "person.merge",
        target_type="person",
        target_id=survivor.id,
        query={"survivor_id": survivor.id, "merged_id": merged.id},
        reason=data.reason,
    )
    return survivor


# ------------------------------------------------------------------------------------------ read


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
    return {
        "id": f.id,
        "kind": f.kind,
        "active": f.cleared_at is None,
        "case_id": f.case_id,
        "fir": f.case.fir_key if f.case is not None else None,
        "raised_at": _ts(f.raised_at),
        "raised_by": f.raised_by,
        "raise_reason": f.raise_reason,
        "cleared_at": _ts(f.cleared_at),
        "cleared_by": f.cleared_by,
        "clear_reason": f.clear_reason,
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
    return _summary(list(person.parties), {f.kind for f in person.flags if f.cleared_at is None})


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


def _person_parts(kinds: tuple[str, ...]):
    """One UNION ALL over the person's small child tables (aliases, identity documents, addresses, phones):
    one round trip instead of four. Columns: part, id, a, b, c, d (all text); ordered by part, then id."""
    from sqlalchemy import String

    A, D = PersonAlias.__table__, IdentityDocument.__table__
    AD, PH = Address.__table__, PhoneNumber.__table__
    pid = bindparam("pid")
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
    P = Person.__table__
    DS, BM = PhysicalDescription.__table__, BodyMark.__table__
    CP, C, F, M = CaseParty.__table__, Case.__table__, PersonFlag.__table__, PersonMerge.__table__
    from crms.records.models import Arrest, Conviction, PartyStatusChange

    H, AR, CV = PartyStatusChange.__table__, Arrest.__table__, Conviction.__table__
    _FULL["person"] = select(P).where(P.c.id == pid)
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
    PC = PersonChange.__table__
    # merges into this person (m) and the changes made to it (c)
    _FULL["log"] = union_all(
        select(_tag("m").label("part"), M.c.id.label("id"), M.c.merged_id.label("other"),
               M.c.reason.label("text"), M.c.moved.label("data"), M.c.merged_at.label("at"),
               M.c.merged_by.label("by"))
        .where(M.c.survivor_id == pid),
        select(_tag("c"), PC.c.id, num, PC.c.action, PC.c.changes, PC.c.changed_at, PC.c.changed_by)
        .where(PC.c.person_id == pid),
    ).order_by(literal_column("part"), literal_column("id"))  # fmt: skip
    return _FULL


def _flag_row_dict(f) -> dict:
    return {
        "id": f.id,
        "kind": f.kind,
        "active": f.cleared_at is None,
        "case_id": f.case_id,
        "fir": _fir_key(f.police_station_code, f.fir_number, f.year) if f.case_id else None,
        "raised_at": _ts(f.raised_at),
        "raised_by": f.raised_by,
        "raise_reason": f.raise_reason,
        "cleared_at": _ts(f.cleared_at),
        "cleared_by": f.cleared_by,
        "clear_reason": f.clear_reason,
    }


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
        raise NotFound(f"person {pid} not found", field="person_id")
    return _full_record_of(session, row)


def _full_record_of(session: Session, row) -> dict:
    q = _full_statements()
    conn = session.connection()
    args = {"pid": row.id}
    out = person_core_dict(row)
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
    active = {f.kind for f in flags if f.cleared_at is None}
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
                    "reason": r.text,
                    "moved": r.data,
                }
            )
        else:
            changes.append({"action": r.text, "changes": r.data, "changed_at": _ts(r.at), "changed_by": r.by})
    out["merged_from"] = merged_from
    out["changes"] = changes
    return out


def get_person(session: Session, principal: Principal, person_id: int, *, reason: str | None = None) -> dict:
    """The full person record with history. A merged id answers with the surviving record
    (``redirected_from`` says so)."""
    authorize(principal, Permission.PERSON_READ)
    statement = _full_statements()["person"]
    conn = session.connection()
    target, redirected_from, seen = person_id, None, set()
    while True:
        row = conn.execute(statement, {"pid": target}).first()
        if row is None:
            raise NotFound(f"person {target} not found", field="person_id")
        if row.merged_into_id is None or target in seen:
            break
        seen.add(target)
        redirected_from = redirected_from or person_id
        target = row.merged_into_id
    out = _full_record_of(session, row)
    out["redirected_from"] = redirected_from
    audit.record(session, principal, "person.read", target_type="person", target_id=target, reason=reason)
    return out


def list_persons(
    session: Session, principal: Principal, *, limit: int = 50, offset: int = 0, unit: str | None = None
) -> dict:
    """A page of persons (merged redirects excluded), newest first, with the total."""
    authorize(principal, Permission.PERSON_READ)
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    if offset < 0:
        raise ValidationError("offset must be 0 or more", field="offset")
    q = select(Person).where(Person.merged_into_id.is_(None))
    if unit:
        u = unit.strip("/").upper()
        q = q.where((Person.unit_path == u) | Person.unit_path.startswith(u + "/"))
    total = session.scalar(select(func.count()).select_from(q.subquery()))
    rows = session.scalars(
        q.order_by(Person.id.desc()).limit(limit).offset(offset).options(selectinload(Person.documents))
    ).all()
    audit.record(
        session,
        principal,
        "person.list",
        target_type="person",
        query={"limit": limit, "offset": offset, "unit": unit},
        detail=f"{len(rows)} of {total}",
    )
    items = []
    for p in rows:
        d = person_core_dict(p)
        d["documents"] = [document_dict(x) for x in p.documents]
        items.append(d)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


# ------------------------------------------------------------------------------------------ CNIC lookup


def _fir_key(police_station_code: str, fir_number: int, year: int) -> str:
    return f"FIR {fir_number}/{year} PS {police_station_code}"


_LOOKUP: dict = {}


def _lookup_statements() -> dict:
    """The CNIC lookup's statements, built once (building a statement costs more than running it)."""
    if _LOOKUP:
        return _LOOKUP
    P, D = Person.__table__, IdentityDocument.__table__
    CP, C, F = CaseParty.__table__, Case.__table__, PersonFlag.__table__
    pid = bindparam("pid")
    _LOOKUP["person"] = (
        select(P)
        .join(D, D.c.person_id == P.c.id)
        .where(D.c.number == bindparam("number"), D.c.doc_type.in_(sorted(CNIC_LIKE)))
        .order_by(D.c.doc_type)  # CNIC before NICOP
        .limit(1)
    )
    _LOOKUP["parts"] = _person_parts(("alias", "document"))  # one query for aliases and documents
    _LOOKUP["parties"] = _parties_of_person(CP, C, pid)
    _LOOKUP["flags"] = (
        select(F, C.c.police_station_code, C.c.fir_number, C.c.year)
        .outerjoin(C, C.c.id == F.c.case_id)
        .where(F.c.person_id == pid, F.c.cleared_at.is_(None))
        .order_by(F.c.id)
    )
    return _LOOKUP


def lookup_cnic(session: Session, principal: Principal, cnic: str, reason: str | None = None) -> dict | None:
    """Instant CNIC lookup: the person, documents, flags and a criminal-history summary, or None when no
    person holds this CNIC (the search is audited either way; adapters answer 404 / exit 1 for None).

    Malformed CNIC → ValidationError(field='cnic'). A reason is required (searches, CJIS 5.4.1.1).
    Hot path: four indexed Core queries on the session's connection (no ORM object loading)."""
    authorize(principal, Permission.SEARCH_CNIC)
    reason = audit.require_reason(reason)
    parsed = parse_cnic(cnic)
    q = _lookup_statements()
    conn = session.connection()
    person = conn.execute(q["person"], {"number": parsed.digits}).first()
    if person is None:
        audit.record(
            session,
            principal,
            "search.cnic",
            query={"cnic": parsed.digits},
            reason=reason,
            detail="not found",
        )
        return None
    pid = person.id
    out = person_core_dict(person)
    parts = _split_parts(conn.execute(q["parts"], {"pid": pid}))
    out["aliases"] = [{"name": a.a, "script": a.b} for a in parts["alias"]]
    out["documents"] = [_document_part_dict(d) for d in parts["document"]]
    parties = conn.execute(q["parties"], {"pid": pid}).all()
    out["cases"] = [_party_row_dict(r) for r in parties]
    flags = conn.execute(q["flags"], {"pid": pid}).all()
    out["flags"] = [_flag_row_dict(f) for f in flags]
    out["summary"] = _summary(parties, {f.kind for f in flags})
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
    return session.scalar(select(func.count(CaseParty.id)).where(CaseParty.person_id == person_id)) or 0


__all__ = [
    "Case",
    "RegisterResult",
    "add_address",
    "add_alias",
    "add_description",
    "add_document",
    "add_phone",
    "get_person",
    "get_person_row",
    "likely_duplicates",
    "list_persons",
    "lookup_cnic",
    "merge_persons",
    "normalise_name",
    "register_person",
    "update_person",
]
