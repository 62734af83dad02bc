"""ORM classes of the records core, mapped onto the tables of :mod:`crms.records.tables` (the columns are
declared there): persons (names in English and Urdu script, aliases, identity documents, addresses, phones,
dated physical descriptions), cases (FIRs) with parsed offences and status history, persons in cases with
status history, arrests, convictions, and derived flags (wanted, proclaimed offender, absconder) that keep
their history; their relationships; and the :class:`Tracked` mixin of the other areas' tables.

The vocabularies (:mod:`crms.records.vocab`) are re-exported here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column, relationship

import crms.records.reference.models  # noqa: F401  (reference tables are part of the records metadata)
from crms.db import Base
from crms.records import tables
from crms.records.vocab import (  # noqa: F401  (re-exported)
    AddressKind,
    CaseStatus,
    DocumentType,
    FlagKind,
    Gender,
    MarkKind,
    PartyRole,
    PartyStatus,
    Relation,
    Script,
)
from crms.timeutil import utcnow

# ----------------------------------------------------------------------------------------- mixin


class Tracked:
    """When and by whom a row was created and last changed (for the other areas' declarative tables; the
    records tables have the same columns, :func:`crms.records.tables._tracked`)."""

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


# ----------------------------------------------------------------------------------------- persons


class Person(Base):
    __table__ = tables.persons
    __mapper_args__ = {"version_id_col": tables.persons.c.version}

    aliases: Mapped[list[PersonAlias]] = relationship(back_populates="person", order_by="PersonAlias.id")
    documents: Mapped[list[IdentityDocument]] = relationship(
        back_populates="person", order_by="IdentityDocument.id"
    )
    addresses: Mapped[list[Address]] = relationship(back_populates="person", order_by="Address.id")
    phones: Mapped[list[PhoneNumber]] = relationship(back_populates="person", order_by="PhoneNumber.id")
    descriptions: Mapped[list[PhysicalDescription]] = relationship(
        back_populates="person", order_by="PhysicalDescription.observed_on"
    )
    parties: Mapped[list[CaseParty]] = relationship(back_populates="person", order_by="CaseParty.id")
    flags: Mapped[list[PersonFlag]] = relationship(back_populates="person", order_by="PersonFlag.id")

    @property
    def display_name(self) -> str:
        en = " ".join(p for p in (self.given_name_en, self.family_name_en) if p)
        ur = " ".join(p for p in (self.given_name_ur, self.family_name_ur) if p)
        return en or ur


class PersonAlias(Base):
    __table__ = tables.person_aliases

    person: Mapped[Person] = relationship(back_populates="aliases")


class IdentityDocument(Base):
    __table__ = tables.identity_documents

    person: Mapped[Person] = relationship(back_populates="documents")


class Address(Base):
    __table__ = tables.addresses

    person: Mapped[Person] = relationship(back_populates="addresses")


class PhoneNumber(Base):
    __table__ = tables.phone_numbers

    person: Mapped[Person] = relationship(back_populates="phones")


class PhysicalDescription(Base):
    """A dated observation of how the person looks (it changes)."""

    __table__ = tables.physical_descriptions
    __mapper_args__ = {"version_id_col": tables.physical_descriptions.c.version}

    person: Mapped[Person] = relationship(back_populates="descriptions")
    marks: Mapped[list[BodyMark]] = relationship(
        back_populates="description", order_by="BodyMark.id", cascade="all, delete-orphan"
    )


class BodyMark(Base):
    __table__ = tables.body_marks

    description: Mapped[PhysicalDescription] = relationship(back_populates="marks")


class PersonMerge(Base):
    """History of merges: ``merged_id`` was folded into ``survivor_id``; ``moved`` lists what moved."""

    __table__ = tables.person_merges


class PersonChange(Base):
    """Field-level history of a person's own fields: ``changes`` maps field -> [old, new] (ISO dates)."""

    __table__ = tables.person_changes


# ----------------------------------------------------------------------------------------- cases


class Case(Base):
    """An FIR. Natural key: (police station, FIR number, year); the district is implied by the station."""

    __table__ = tables.cases
    __mapper_args__ = {"version_id_col": tables.cases.c.version}

    offences: Mapped[list[CaseOffence]] = relationship(
        back_populates="case", order_by="CaseOffence.position", cascade="all, delete-orphan"
    )
    status_history: Mapped[list[CaseStatusChange]] = relationship(
        back_populates="case", order_by="CaseStatusChange.id"
    )
    parties: Mapped[list[CaseParty]] = relationship(back_populates="case", order_by="CaseParty.id")

    @property
    def fir_key(self) -> str:
        return f"FIR {self.fir_number}/{self.year} PS {self.police_station_code}"


class CaseOffence(Base):
    __table__ = tables.case_offences

    case: Mapped[Case] = relationship(back_populates="offences")


class CaseStatusChange(Base):
    __table__ = tables.case_status_history

    case: Mapped[Case] = relationship(back_populates="status_history")


class CaseParty(Base):
    """A person in a case: role, status (with history), modus operandi and gang."""

    __table__ = tables.case_parties
    __mapper_args__ = {"version_id_col": tables.case_parties.c.version}

    case: Mapped[Case] = relationship(back_populates="parties")
    person: Mapped[Person] = relationship(back_populates="parties")
    status_history: Mapped[list[PartyStatusChange]] = relationship(
        back_populates="party", order_by="PartyStatusChange.id"
    )
    arrests: Mapped[list[Arrest]] = relationship(back_populates="party", order_by="Arrest.id")
    convictions: Mapped[list[Conviction]] = relationship(back_populates="party", order_by="Conviction.id")


class PartyStatusChange(Base):
    __table__ = tables.case_party_status_history

    party: Mapped[CaseParty] = relationship(back_populates="status_history")


class Arrest(Base):
    __table__ = tables.arrests

    party: Mapped[CaseParty] = relationship(back_populates="arrests")


class Conviction(Base):
    __table__ = tables.convictions

    party: Mapped[CaseParty] = relationship(back_populates="convictions")


class PersonFlag(Base):
    """A derived flag (wanted, proclaimed offender, absconder) raised by a case. Never deleted: clearing sets
    ``cleared_at``, so the history stays. Active = ``cleared_at IS NULL``."""

    __table__ = tables.person_flags

    person: Mapped[Person] = relationship(back_populates="flags")
    case: Mapped[Case | None] = relationship()

    @property
    def active(self) -> bool:
        return self.cleared_at is None and self.pending_unit is None
