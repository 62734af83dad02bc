"""Tables of the records core: persons (names in English and Urdu script, aliases, identity documents,
addresses, phones, dated physical descriptions), cases (FIRs) with parsed offences and status history,
persons in cases with status history, arrests, convictions, and derived flags (wanted, proclaimed offender,
absconder) that keep their history.

Every row that changes carries created_at/created_by and updated_at/updated_by (users.id). A person's id is
what the biometrics area references; a merged person stays as a redirect (``merged_into_id``).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

import crms.records.reference.models  # noqa: F401  (reference tables are part of the records metadata)
from crms.db import Base
from crms.timeutil import utcnow

# ----------------------------------------------------------------------------------------- vocabularies


class CaseStatus(StrEnum):
    REGISTERED = "registered"
    UNDER_INVESTIGATION = "under_investigation"
    CHALLAN_COMPLETE = "challan_complete"
    CHALLAN_INTERIM = "challan_interim"
    CHALLAN_512 = "challan_512"  # challan u/s 512 CrPC (accused absconding)
    CANCELLED = "cancelled"
    UNTRACED = "untraced"
    UNDER_TRIAL = "under_trial"
    CONVICTED = "convicted"
    ACQUITTED = "acquitted"
    COMPROMISED = "compromised"


class PartyRole(StrEnum):
    ACCUSED = "accused"
    COMPLAINANT = "complainant"
    VICTIM = "victim"
    WITNESS = "witness"


class PartyStatus(StrEnum):
    NAMED = "named"
    ARRESTED = "arrested"
    ON_BAIL = "on_bail"
    ABSCONDER = "absconder"
    PROCLAIMED_OFFENDER_A = "proclaimed_offender_a"
    PROCLAIMED_OFFENDER_B = "proclaimed_offender_b"
    CONVICTED = "convicted"
    ACQUITTED = "acquitted"
    DISCHARGED = "discharged"


class DocumentType(StrEnum):
    CNIC = "CNIC"
    NICOP = "NICOP"
    POC = "POC"
    AFGHAN_POR = "AFGHAN_POR"
    AFGHAN_ACC = "AFGHAN_ACC"
    PASSPORT = "PASSPORT"
    OTHER = "OTHER"


class FlagKind(StrEnum):
    WANTED = "wanted"
    PROCLAIMED_OFFENDER = "proclaimed_offender"
    ABSCONDER = "absconder"


class Gender(StrEnum):
    M = "M"
    F = "F"
    X = "X"


class Relation(StrEnum):
    SO = "s/o"
    DO = "d/o"
    WO = "w/o"


class Script(StrEnum):
    LATIN = "latin"
    URDU = "urdu"


class AddressKind(StrEnum):
    PERMANENT = "permanent"
    PRESENT = "present"


class MarkKind(StrEnum):
    SCAR = "scar"
    MARK = "mark"
    TATTOO = "tattoo"


# ----------------------------------------------------------------------------------------- mixin


class Tracked:
    """When and by whom a row was created and last changed."""

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


# ----------------------------------------------------------------------------------------- persons


class Person(Tracked, Base):
    __tablename__ = "persons"
    __table_args__ = (Index("ix_persons_name_sound_birth_year", "name_sound", "birth_year"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    given_name_en: Mapped[str | None] = mapped_column(String(100), nullable=True)
    family_name_en: Mapped[str | None] = mapped_column(String(100), nullable=True)
    given_name_ur: Mapped[str | None] = mapped_column(String(100), nullable=True)
    family_name_ur: Mapped[str | None] = mapped_column(String(100), nullable=True)
    parentage_relation: Mapped[str | None] = mapped_column(String(3), nullable=True)  # s/o d/o w/o
    parentage_name_en: Mapped[str | None] = mapped_column(String(200), nullable=True)
    parentage_name_ur: Mapped[str | None] = mapped_column(String(200), nullable=True)
    caste: Mapped[str | None] = mapped_column(String(100), nullable=True)  # qaum / tribe
    date_of_birth: Mapped[date | None] = mapped_column(Date, nullable=True)
    birth_year: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    birth_year_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    gender: Mapped[str] = mapped_column(String(1), default="X")
    nationality: Mapped[str] = mapped_column(String(2), default="PK")  # ISO 3166-1 alpha-2
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Jurisdiction of the record (unit path of the registering district/station); writes are limited to it.
    unit_path: Mapped[str] = mapped_column(String(200), default="BA", index=True)
    # Normalised full name (for duplicate reports) and a coarse phonetic key of the given name (indexed).
    name_key: Mapped[str] = mapped_column(String(300), default="", index=True)
    name_sound: Mapped[str] = mapped_column(String(16), default="")
    # A merged person stays as a redirect to the surviving record.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), nullable=True, index=True)
    merged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

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


class PersonAlias(Tracked, Base):
    __tablename__ = "person_aliases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    script: Mapped[str] = mapped_column(String(8), default="latin")  # latin | urdu
    person: Mapped[Person] = relationship(back_populates="aliases")


class IdentityDocument(Tracked, Base):
    __tablename__ = "identity_documents"
    __table_args__ = (UniqueConstraint("doc_type", "number", name="uq_identity_documents_type_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    doc_type: Mapped[str] = mapped_column(String(16))
    # Normalised: 13 digits for CNIC/NICOP/POC; upper-case without separators for the others.
    number: Mapped[str] = mapped_column(String(40), index=True)
    issuing_country: Mapped[str] = mapped_column(String(2), default="PK")
    notes: Mapped[str | None] = mapped_column(String(500), nullable=True)
    person: Mapped[Person] = relationship(back_populates="documents")


class Address(Tracked, Base):
    __tablename__ = "addresses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # permanent | present
    district_code: Mapped[str | None] = mapped_column(ForeignKey("districts.code"), nullable=True)
    police_station_code: Mapped[str | None] = mapped_column(ForeignKey("police_stations.code"), nullable=True)
    text: Mapped[str | None] = mapped_column(String(500), nullable=True)
    person: Mapped[Person] = relationship(back_populates="addresses")


class PhoneNumber(Tracked, Base):
    __tablename__ = "phone_numbers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    e164: Mapped[str] = mapped_column(String(20), index=True)
    kind: Mapped[str] = mapped_column(String(8), default="mobile")
    person: Mapped[Person] = relationship(back_populates="phones")


class PhysicalDescription(Tracked, Base):
    """A dated observation of how the person looks (it changes)."""

    __tablename__ = "physical_descriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    observed_on: Mapped[date] = mapped_column(Date)
    height_cm: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    build: Mapped[str | None] = mapped_column(String(50), nullable=True)
    complexion: Mapped[str | None] = mapped_column(String(50), nullable=True)
    eye_colour: Mapped[str | None] = mapped_column(String(50), nullable=True)
    hair: Mapped[str | None] = mapped_column(String(100), nullable=True)
    beard: Mapped[str | None] = mapped_column(String(100), nullable=True)
    languages: Mapped[list] = mapped_column(JSON, default=list)
    person: Mapped[Person] = relationship(back_populates="descriptions")
    marks: Mapped[list[BodyMark]] = relationship(
        back_populates="description", order_by="BodyMark.id", cascade="all, delete-orphan"
    )


class BodyMark(Base):
    __tablename__ = "body_marks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    description_id: Mapped[int] = mapped_column(ForeignKey("physical_descriptions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # scar | mark | tattoo
    body_location: Mapped[str] = mapped_column(String(100))
    text: Mapped[str | None] = mapped_column(String(500), nullable=True)
    description: Mapped[PhysicalDescription] = relationship(back_populates="marks")


class PersonMerge(Base):
    """History of merges: ``merged_id`` was folded into ``survivor_id``; ``moved`` lists what moved."""

    __tablename__ = "person_merges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survivor_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    merged_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    moved: Mapped[dict] = mapped_column(JSON, default=dict)
    merged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    merged_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class PersonChange(Base):
    """Field-level history of a person's own fields: ``changes`` maps field -> [old, new] (ISO dates)."""

    __tablename__ = "person_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    action: Mapped[str] = mapped_column(String(16), default="update")  # update | merge
    changes: Mapped[dict] = mapped_column(JSON, default=dict)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    changed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


# ----------------------------------------------------------------------------------------- cases


class Case(Tracked, Base):
    """An FIR. Natural key: (police station, FIR number, year); the district is implied by the station."""

    __tablename__ = "cases"
    __table_args__ = (UniqueConstraint("police_station_code", "fir_number", "year", name="uq_cases_fir_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    police_station_code: Mapped[str] = mapped_column(ForeignKey("police_stations.code"))
    district_code: Mapped[str] = mapped_column(ForeignKey("districts.code"), index=True)
    fir_number: Mapped[int] = mapped_column(Integer)
    year: Mapped[int] = mapped_column(SmallInteger)
    registered_on: Mapped[date] = mapped_column(Date)
    occurred_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    place: Mapped[str | None] = mapped_column(String(500), nullable=True)
    sections_text: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(32), default="registered", index=True)
    unit_path: Mapped[str] = mapped_column(String(200), index=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)

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
    __tablename__ = "case_offences"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    position: Mapped[int] = mapped_column(SmallInteger, default=0)
    statute_code: Mapped[str] = mapped_column(ForeignKey("statutes.code"))
    section: Mapped[str] = mapped_column(String(16))
    subclause: Mapped[str | None] = mapped_column(String(32), nullable=True)
    case: Mapped[Case] = relationship(back_populates="offences")


class CaseStatusChange(Base):
    __tablename__ = "case_status_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status: Mapped[str] = mapped_column(String(32))
    effective_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    changed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    case: Mapped[Case] = relationship(back_populates="status_history")


class CaseParty(Tracked, Base):
    """A person in a case: role, status (with history), modus operandi and gang."""

    __tablename__ = "case_parties"
    __table_args__ = (UniqueConstraint("case_id", "person_id", "role", name="uq_case_parties_link"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32), default="named")
    modus_operandi: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    gang: Mapped[str | None] = mapped_column(String(200), nullable=True)

    case: Mapped[Case] = relationship(back_populates="parties")
    person: Mapped[Person] = relationship(back_populates="parties")
    status_history: Mapped[list[PartyStatusChange]] = relationship(
        back_populates="party", order_by="PartyStatusChange.id"
    )
    arrests: Mapped[list[Arrest]] = relationship(back_populates="party", order_by="Arrest.id")
    convictions: Mapped[list[Conviction]] = relationship(back_populates="party", order_by="Conviction.id")


class PartyStatusChange(Base):
    __tablename__ = "case_party_status_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("case_parties.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status: Mapped[str] = mapped_column(String(32))
    effective_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    changed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    party: Mapped[CaseParty] = relationship(back_populates="status_history")


class Arrest(Tracked, Base):
    __tablename__ = "arrests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("case_parties.id"), index=True)
    arrested_on: Mapped[date] = mapped_column(Date)
    place: Mapped[str | None] = mapped_column(String(500), nullable=True)
    arrested_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    notes: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    party: Mapped[CaseParty] = relationship(back_populates="arrests")


class Conviction(Tracked, Base):
    __tablename__ = "convictions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("case_parties.id"), index=True)
    court: Mapped[str] = mapped_column(String(200))
    convicted_on: Mapped[date] = mapped_column(Date)
    sentence: Mapped[str] = mapped_column(String(1000))
    notes: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    party: Mapped[CaseParty] = relationship(back_populates="convictions")


class PersonFlag(Base):
    """A derived flag (wanted, proclaimed offender, absconder) raised by a case. Never deleted: clearing sets
    ``cleared_at``, so the history stays. Active = ``cleared_at IS NULL``."""

    __tablename__ = "person_flags"
    __table_args__ = (Index("ix_person_flags_person_active", "person_id", "cleared_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True, index=True)
    party_id: Mapped[int | None] = mapped_column(ForeignKey("case_parties.id"), nullable=True)
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    raised_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    raise_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    cleared_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    clear_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # A flag raised from outside the person's home district waits for that district's confirmation
    # (crms.records.services.flags): pending_unit names the district; NULL once confirmed (or when raised
    # within it). A pending flag is not active.
    pending_unit: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    confirmed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)

    person: Mapped[Person] = relationship(back_populates="flags")
    case: Mapped[Case | None] = relationship()

    @property
    def active(self) -> bool:
        return self.cleared_at is None and self.pending_unit is None
