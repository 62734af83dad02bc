"""Identity documents: number normalisation (CNIC/NICOP through crms.records.cnic), the one-person-per-
document rule, and adding a document to a person (one recorded in error is taken off by
:func:`crms.records.services.contacts.remove_entry`)."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from crms.access.principal import Principal
from crms.errors import Conflict, rule_error
from crms.records.cnic import ascii_digits, format_cnic, parse_cnic
from crms.records.models import (
    IdentityDocument,
    Person,
)
from crms.records.schemas import (
    DocumentIn,
    coerce,
)
from crms.records.services.common import CNIC_LIKE, entries_added, get_writable_person, touch

_DOC_NUMBER = re.compile(r"^[A-Z0-9]{3,40}$")


def normalise_document(doc_type: str, number: str, *, field_name: str = "number") -> tuple[str, list[str]]:
    """Normalised number + warnings. CNIC/NICOP: 13 digits (see crms.records.cnic); others: upper-case letters
    and digits without separators."""
    if doc_type in CNIC_LIKE:
        cnic = parse_cnic(number, field_name=field_name)
        return cnic.digits, list(cnic.warnings)
    value = re.sub(r"[\s\-./]+", "", ascii_digits(number)).upper()
    if not _DOC_NUMBER.match(value):
        message = f"{doc_type} number must be 3-40 letters or digits (found {number!r})"
        raise rule_error(field_name, "document_number", message, document=doc_type, found=number)
    return value, []


def recorded_document(session: Session, doc_type: str, number: str) -> IdentityDocument | None:
    """The document of this type and (normalised) number on record, whoever's it is."""
    return session.scalar(
        select(IdentityDocument).where(
            IdentityDocument.doc_type == doc_type, IdentityDocument.number == number
        )
    )


def _check_document_free(
    session: Session, doc_type: str, number: str, field_name: str, person_id: int | None = None
) -> None:
    existing = recorded_document(session, doc_type, number)
    if existing is not None:
        shown = format_cnic(number) if doc_type in CNIC_LIKE else number
        values = {"document": doc_type, "number": shown, "person": existing.person_id}
        if person_id is not None and existing.person_id == person_id:
            message = f"person {person_id} already has {doc_type} {shown}; nothing was added"
            raise rule_error(field_name, "document_on_person", message, error=Conflict, **values)
        message = f"{doc_type} {shown} is already recorded for person {existing.person_id}"
        raise rule_error(field_name, "document_taken", message, error=Conflict, **values)


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
            message = f"{d.doc_type.value} {d.number} is given twice"
            raise rule_error(fname, "document_twice", message, document=d.doc_type.value, number=d.number)
        seen.add(key)
        _check_document_free(session, d.doc_type.value, number, fname, person.id)
        doc = IdentityDocument(
            doc_type=d.doc_type.value, number=number, issuing_country=d.issuing_country, notes=d.notes
        )
        touch(doc, principal, new=True)
        person.documents.append(doc)
    return warnings


def add_document(session: Session, principal: Principal, person_id: int, data: DocumentIn | dict):
    data = coerce(DocumentIn, data)
    person = get_writable_person(session, principal, person_id)
    before = len(person.documents)
    warnings = _add_documents(session, principal, person, [data], "")
    entries_added(session, principal, person, "document", "documents", before)
    return person.documents[-1], warnings
