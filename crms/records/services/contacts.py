"""A person's aliases, addresses, phones and physical descriptions (with body marks)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from crms.access import audit
from crms.access.policy import Permission, authorize
from crms.access.principal import Principal
from crms.errors import Conflict, CrmsError, NotFound, ValidationError, rule_error
from crms.records.models import (
    Address,
    BodyMark,
    IdentityDocument,
    Person,
    PersonAlias,
    PhoneNumber,
    PhysicalDescription,
)
from crms.records.schemas import (
    AddressIn,
    AliasIn,
    DescriptionIn,
    DescriptionUpdate,
    EntryRemoval,
    coerce,
)
from crms.records.services.common import (
    ENTRY_SHOWN,
    check_version,
    entries_added,
    entry_change,
    get_writable_person,
    record_entry_change,
    removal_reason,
    touch,
)


def _resolve_address(session: Session, a: AddressIn, fname: str) -> tuple[str | None, str | None]:
    from crms.records.reference import get_district, get_police_station

    if not (a.district or a.police_station or a.text):
        raise ValidationError(
            "an address needs a district, a police station or a text", field=f"{fname}.text"
        )  # the field named is one each form shows (the text), so that the form marks it
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


def same_address(a) -> tuple:
    """What makes two addresses of a person the same: their kind, district, police station and text (without
    case or extra spaces)."""
    return (a.kind, a.district_code, a.police_station_code, " ".join((a.text or "").split()).casefold())


def same_alias(a) -> tuple[str, str]:
    """What makes two aliases of a person the same: the name whatever its case, and the script."""
    return (a.name.casefold(), a.script)


def _already_has(person: Person, kind: str, what: str, shown: str, field: str) -> CrmsError:
    """Conflict: the person's record has this entry (of ``kind``: address, phone, alias) already."""
    message = f"person {person.id} already has {what}; nothing was added"
    return rule_error(field, f"{kind}_on_person", message, error=Conflict, entry=shown)


def _add_addresses(
    session, principal, person: Person, items: list[AddressIn], prefix: str, *, refuse_known: bool = False
) -> None:
    """Add ``items`` to the person's addresses; one the person has already is not added twice (refused with
    ``refuse_known``: a single address added to a record)."""
    have = {same_address(a) for a in person.addresses}
    for i, a in enumerate(items):
        fname = f"{prefix}.{i}" if prefix else "address"
        district_code, station_code = _resolve_address(session, a, fname)
        row = Address(
            kind=a.kind.value, district_code=district_code, police_station_code=station_code, text=a.text
        )
        if same_address(row) in have:
            if refuse_known:
                what = f"this address ({ENTRY_SHOWN['address'](row)})"
                shown = " ".join(x for x in (row.text, station_code, district_code) if x)
                raise _already_has(person, "address", what, shown, f"{fname}.text")
            continue
        have.add(same_address(row))
        touch(row, principal, new=True)
        person.addresses.append(row)


def _add_phones(
    principal, person: Person, items: list[str], prefix: str, *, refuse_known: bool = False
) -> list[str]:
    """Add ``items`` to the person's phones (the warnings of their parsing); a number the person has
    already (as stored, E.164) is not added twice (refused with ``refuse_known``: a single phone added)."""
    from crms.records.phones import parse_phone

    warnings = []
    have = {p.e164 for p in person.phones}
    for i, text in enumerate(items):
        fname = f"{prefix}.{i}" if prefix else "phone"
        phone = parse_phone(text, field_name=fname)
        warnings += [f"{fname}: {w}" for w in phone.warnings]
        if phone.e164 in have:
            if refuse_known:
                raise _already_has(person, "phone", f"the phone number {phone.e164}", phone.e164, fname)
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


def _add_aliases(principal, person: Person, items: list[AliasIn], *, refuse_known: bool = False) -> None:
    """Add ``items`` to the person's aliases; one the person has already (:func:`same_alias`) is not added
    twice (refused with ``refuse_known``: a single alias added to a record)."""
    have = {same_alias(a) for a in person.aliases}
    for a in items:
        key = same_alias(a)
        if key in have:
            if refuse_known:
                raise _already_has(person, "alias", f"the alias {a.name} ({a.script.value})", a.name, "name")
            continue
        have.add(key)
        row = PersonAlias(name=a.name, script=a.script.value)
        touch(row, principal, new=True)
        person.aliases.append(row)


def add_alias(session: Session, principal: Principal, person_id: int, data: AliasIn | dict) -> Person:
    data = coerce(AliasIn, data)
    person = get_writable_person(session, principal, person_id)
    before = len(person.aliases)
    _add_aliases(principal, person, [data], refuse_known=True)
    entries_added(session, principal, person, "alias", "aliases", before)
    return person


def add_address(session: Session, principal: Principal, person_id: int, data: AddressIn | dict) -> Address:
    data = coerce(AddressIn, data)
    person = get_writable_person(session, principal, person_id)
    before = len(person.addresses)
    _add_addresses(session, principal, person, [data], "", refuse_known=True)
    entries_added(session, principal, person, "address", "addresses", before)
    return person.addresses[-1]


def add_phone(
    session: Session, principal: Principal, person_id: int, number: str
) -> tuple[Person, list[str]]:
    person = get_writable_person(session, principal, person_id)
    before = len(person.phones)
    warnings = _add_phones(principal, person, [number], "", refuse_known=True)
    entries_added(session, principal, person, "phone", "phones", before)
    return person, warnings


def add_description(
    session: Session, principal: Principal, person_id: int, data: DescriptionIn | dict
) -> PhysicalDescription:
    data = coerce(DescriptionIn, data)
    person = get_writable_person(session, principal, person_id)
    before = len(person.descriptions)
    _add_descriptions(principal, person, [data])
    entries_added(session, principal, person, "description", "descriptions", before)
    return person.descriptions[-1]


def update_description(
    session: Session,
    principal: Principal,
    person_id: int,
    description_id: int,
    data: DescriptionUpdate | DescriptionIn | dict,
) -> PhysicalDescription:
    """Correct a recorded observation (all its fields and marks are replaced by ``data``). A correction made
    on a copy read at an older ``version`` is refused (409) rather than undoing the correction made since."""
    authorize(principal, Permission.PERSON_WRITE)
    data = coerce(DescriptionUpdate, data)  # a DescriptionIn too: its fields, at no version
    person = get_writable_person(session, principal, person_id)
    row = session.get(PhysicalDescription, description_id)
    if row is None or row.person_id != person.id:
        raise NotFound(
            f"description {description_id} not found for person {person_id}", field="description_id"
        )
    check_version(session, row, data.version, "description")
    # What it held first: loading the old marks flushes what is pending, and a change of the row already
    # made would be written (and its version raised) twice; then the marks, then the fields.
    before = entry_change("description", row)
    row.marks = [BodyMark(kind=m.kind.value, body_location=m.body_location, text=m.text) for m in data.marks]
    for key in ("observed_on", "height_cm", "build", "complexion", "eye_colour", "hair", "beard"):
        setattr(row, key, getattr(data, key))
    row.languages = list(data.languages)
    touch(row, principal)
    touch(person, principal)
    after = entry_change("description", row)
    if after["held"] != before["held"]:
        record_entry_change(
            session, principal, person.id, "correct", "description", after["held"], before=before["held"],
            entry=after["entry"], entry_before=before["entry"],
        )  # fmt: skip
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


# The entries of a record that an officer may take off it when they were recorded in error (what the
# history keeps of each: crms.records.services.common.ENTRY_SHOWN).
_ENTRIES = {
    "document": (IdentityDocument, "documents"),
    "alias": (PersonAlias, "aliases"),
    "address": (Address, "addresses"),
    "phone": (PhoneNumber, "phones"),
}
ENTRY_KINDS = tuple(_ENTRIES)
# A person's collection ("phones") -> the kind of entry it holds ("phone").
KIND_OF_COLLECTION = {collection: kind for kind, (_, collection) in _ENTRIES.items()}


def remove_entry(
    session: Session,
    principal: Principal,
    person_id: int,
    kind: str,
    entry_id: int,
    data: EntryRemoval | dict,
) -> Person:
    """Take an entry recorded in error (``kind``: document, alias, address or phone) off a person's record,
    with the reason; the audit trail keeps what it held (``person.<kind>.remove``)."""
    if kind not in _ENTRIES:
        raise ValidationError(f"no entry kind {kind!r} (one of: {', '.join(ENTRY_KINDS)})", field="kind")
    authorize(principal, Permission.PERSON_WRITE)  # the role first (403 before 422)
    reason = removal_reason(data, "the entry is taken off the record")
    person = get_writable_person(session, principal, person_id)
    model, collection = _ENTRIES[kind]
    row = session.get(model, entry_id)
    if row is None or row.person_id != person.id:
        raise NotFound(f"{kind} {entry_id} not found for person {person_id}", field=f"{kind}_id")
    kept = entry_change(kind, row)
    getattr(person, collection).remove(row)
    session.delete(row)
    record_entry_change(session, principal, person.id, "remove", kind, reason=reason, **kept)
    touch(person, principal)
    session.flush()
    audit.record(
        session,
        principal,
        f"person.{kind}.remove",
        target_type="person",
        target_id=person.id,
        reason=reason,
        detail=f"{kind} {entry_id}: {kept['held']}",
    )
    return person
