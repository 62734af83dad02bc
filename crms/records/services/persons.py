"""Registering a person (duplicate refusal + likely-duplicate report) and updating one, with the field-level
history of changes (PersonChange)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from crms.access import audit
from crms.access.policy import Permission, authorize, unit_contains
from crms.access.principal import Principal
from crms.errors import ValidationError, rule_error
from crms.records.cnic import format_cnic
from crms.records.models import (
    Person,
    PersonChange,
)
from crms.records.schemas import (
    PersonCreate,
    PersonUpdate,
    coerce,
)
from crms.records.services.common import check_version, get_writable_person, touch
from crms.records.services.contacts import _add_addresses, _add_aliases, _add_descriptions, _add_phones
from crms.records.services.documents import _add_documents
from crms.records.services.names import _refresh_name_keys, likely_duplicates
from crms.timeutil import utcnow


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
        from crms.access.units import check_unit
        from crms.records.reference.lookups import current_units

        unit = check_unit(session, data.unit, known=current_units)
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
    """Change the fields sent. ``version``, when sent, is the version of the copy the change was made on (the
    edit form's); a person changed since is refused (:func:`check_version`)."""
    data = coerce(PersonUpdate, data)
    person = get_writable_person(session, principal, person_id)
    changes = data.model_dump(exclude_unset=True)
    check_version(session, person, changes.pop("version", None), "person")
    for key in ("gender", "nationality", "birth_year_estimated"):
        if key in changes and changes[key] is None:
            raise rule_error(key, "not_clearable", f"{key} cannot be cleared")
    if "date_of_birth" in changes and "birth_year" not in changes and changes["date_of_birth"] is None:
        changes["birth_year"] = person.birth_year
    if changes.get("date_of_birth") is not None and "birth_year" not in changes:
        changes["birth_year"] = None
    before = {key: getattr(person, key) for key in _SCALAR_FIELDS}
    for key, value in changes.items():
        setattr(person, key, value)
    _check_person_fields(person)
    if any(getattr(person, key) != value for key, value in before.items()):
        _refresh_name_keys(person)
        touch(person, principal)  # (a save that changes nothing keeps the version: no false conflicts)
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
