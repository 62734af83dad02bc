"""The records core's tables, in SQLAlchemy Core: persons (names in English and Urdu script, aliases,
identity documents, addresses, phones, dated physical descriptions), cases (FIRs) with parsed offences and
status history, persons in cases with status history, arrests, convictions, and derived flags (wanted,
proclaimed offender, absconder) that keep their history.

The ORM classes of :mod:`crms.records.models` are mapped onto these tables. Reads that need no ORM objects
(the CNIC lookup, the full record) use the tables alone, so that a ``crms lookup`` neither builds the ORM
classes nor configures their mappers (start-up time, docs/BENCHMARKS.md "CLI start-up").

Every row that changes carries created_at/created_by and updated_at/updated_by (users.id). A person's id is
what the biometrics area references; a merged person stays as a redirect (``merged_into_id``). Foreign keys
to the reference tables (districts, police stations, statutes) and to users name them; the types of such
columns come from the tables they point to once those are defined (:mod:`crms.records.reference.models`,
:mod:`crms.access.models`).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from crms.access.principal import PROVINCE
from crms.db import Base
from crms.timeutil import utcnow


def _tracked() -> list[Column]:
    """When and by whom a row was created and last changed (the ORM mixin ``crms.records.models.Tracked``
    declares the same columns for the other areas' tables)."""
    return [
        Column("created_at", DateTime(timezone=True), default=utcnow, nullable=False),
        Column("created_by", ForeignKey("users.id")),
        Column("updated_at", DateTime(timezone=True), default=utcnow, nullable=False),
        Column("updated_by", ForeignKey("users.id")),
    ]


def _version() -> Column:
    """The row's version, raised by one at every change of the row (the ORM's ``version_id_col``): an edit
    made on a copy read at an older version is refused rather than silently undoing the changes made since
    (:func:`crms.records.services.common.check_version`)."""
    return Column("version", Integer, nullable=False, server_default=text("1"))


def _status_change() -> list[Column]:
    """A status history row: from which status to which, the day it took effect, a note, who and when."""
    return [
        Column("from_status", String(32)),
        Column("status", String(32), nullable=False),
        Column("effective_on", Date),
        Column("note", String(500)),
        Column("changed_at", DateTime(timezone=True), default=utcnow, nullable=False),
        Column("changed_by", ForeignKey("users.id")),
    ]


# Person
persons = Table(
    "persons",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("given_name_en", String(100)),
    Column("family_name_en", String(100)),
    Column("given_name_ur", String(100)),
    Column("family_name_ur", String(100)),
    Column("parentage_relation", String(3)),  # s/o d/o w/o
    Column("parentage_name_en", String(200)),
    Column("parentage_name_ur", String(200)),
    Column("caste", String(100)),  # qaum / tribe
    Column("date_of_birth", Date),
    Column("birth_year", SmallInteger),
    Column("birth_year_estimated", Boolean, default=False, nullable=False),
    Column("gender", String(1), default="X", nullable=False),
    Column("nationality", String(2), default="PK", nullable=False),  # ISO 3166-1 alpha-2
    Column("notes", Text),
    # Jurisdiction of the record (unit path of the registering district/station); writes are limited to it.
    Column("unit_path", String(200), default=PROVINCE, index=True, nullable=False),
    # Normalised full name (for duplicate reports) and a coarse phonetic key of the given name (indexed).
    Column("name_key", String(300), default="", index=True, nullable=False),
    Column("name_sound", String(16), default="", nullable=False),
    # A merged person stays as a redirect to the surviving record.
    Column("merged_into_id", ForeignKey("persons.id"), index=True),
    Column("merged_at", DateTime(timezone=True)),
    *_tracked(),
    _version(),
    Index("ix_persons_name_sound_birth_year", "name_sound", "birth_year"),
)

# PersonAlias
person_aliases = Table(
    "person_aliases",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("person_id", ForeignKey("persons.id"), index=True, nullable=False),
    Column("name", String(200), nullable=False),
    Column("script", String(8), default="latin", nullable=False),  # latin | urdu
    *_tracked(),
)

# IdentityDocument
identity_documents = Table(
    "identity_documents",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("person_id", ForeignKey("persons.id"), index=True, nullable=False),
    Column("doc_type", String(16), nullable=False),
    # Normalised: 13 digits for CNIC/NICOP/POC; upper-case without separators for the others.
    Column("number", String(40), index=True, nullable=False),
    Column("issuing_country", String(2), default="PK", nullable=False),
    Column("notes", String(500)),
    *_tracked(),
    UniqueConstraint("doc_type", "number", name="uq_identity_documents_type_number"),
)

# Address
addresses = Table(
    "addresses",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("person_id", ForeignKey("persons.id"), index=True, nullable=False),
    Column("kind", String(16), nullable=False),  # permanent | present
    Column("district_code", ForeignKey("districts.code")),
    Column("police_station_code", ForeignKey("police_stations.code")),
    Column("text", String(500)),
    *_tracked(),
)

# PhoneNumber
phone_numbers = Table(
    "phone_numbers",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("person_id", ForeignKey("persons.id"), index=True, nullable=False),
    Column("e164", String(20), index=True, nullable=False),
    Column("kind", String(8), default="mobile", nullable=False),
    *_tracked(),
)

# PhysicalDescription: A dated observation of how the person looks (it changes).
physical_descriptions = Table(
    "physical_descriptions",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("person_id", ForeignKey("persons.id"), index=True, nullable=False),
    Column("observed_on", Date, nullable=False),
    Column("height_cm", SmallInteger),
    Column("build", String(50)),
    Column("complexion", String(50)),
    Column("eye_colour", String(50)),
    Column("hair", String(100)),
    Column("beard", String(100)),
    Column("languages", JSON, default=list, nullable=False),
    *_tracked(),
    _version(),
)

# BodyMark
body_marks = Table(
    "body_marks",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("description_id", ForeignKey("physical_descriptions.id"), index=True, nullable=False),
    Column("kind", String(8), nullable=False),  # scar | mark | tattoo
    Column("body_location", String(100), nullable=False),
    Column("text", String(500)),
)

# PersonMerge: History of merges: ``merged_id`` was folded into ``survivor_id``; ``moved`` lists what moved.
person_merges = Table(
    "person_merges",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("survivor_id", ForeignKey("persons.id"), index=True, nullable=False),
    Column("merged_id", ForeignKey("persons.id"), index=True, nullable=False),
    Column("reason", String(500)),
    Column("moved", JSON, default=dict, nullable=False),
    Column("merged_at", DateTime(timezone=True), default=utcnow, nullable=False),
    Column("merged_by", ForeignKey("users.id")),
)

# PersonChange: Field-level history of a person's own fields: ``changes`` maps field -> [old, new] (ISO
# dates).
person_changes = Table(
    "person_changes",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("person_id", ForeignKey("persons.id"), index=True, nullable=False),
    Column("action", String(16), default="update", nullable=False),  # update | merge
    Column("changes", JSON, default=dict, nullable=False),
    Column("changed_at", DateTime(timezone=True), default=utcnow, nullable=False),
    Column("changed_by", ForeignKey("users.id")),
)

# Case: An FIR. Natural key: (police station, FIR number, year); the district is implied by the station.
cases = Table(
    "cases",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("police_station_code", ForeignKey("police_stations.code"), nullable=False),
    Column("district_code", ForeignKey("districts.code"), index=True, nullable=False),
    Column("fir_number", Integer, nullable=False),
    Column("year", SmallInteger, nullable=False),
    Column("registered_on", Date, nullable=False),
    Column("occurred_on", Date),
    Column("place", String(500)),
    Column("sections_text", String(300), nullable=False),
    Column("status", String(32), default="registered", index=True, nullable=False),
    Column("unit_path", String(200), index=True, nullable=False),
    Column("notes", Text),
    *_tracked(),
    _version(),
    UniqueConstraint("police_station_code", "fir_number", "year", name="uq_cases_fir_key"),
)

# CaseOffence
case_offences = Table(
    "case_offences",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", ForeignKey("cases.id"), index=True, nullable=False),
    Column("position", SmallInteger, default=0, nullable=False),
    Column("statute_code", ForeignKey("statutes.code"), nullable=False),
    Column("section", String(16), nullable=False),
    Column("subclause", String(32)),
)

# CaseStatusChange
case_status_history = Table(
    "case_status_history",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", ForeignKey("cases.id"), index=True, nullable=False),
    *_status_change(),
)

# CaseParty: A person in a case: role, status (with history), modus operandi and gang.
case_parties = Table(
    "case_parties",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", ForeignKey("cases.id"), index=True, nullable=False),
    Column("person_id", ForeignKey("persons.id"), index=True, nullable=False),
    Column("role", String(16), nullable=False),
    Column("status", String(32), default="named", nullable=False),
    Column("modus_operandi", String(1000)),
    Column("gang", String(200)),
    *_tracked(),
    _version(),
    UniqueConstraint("case_id", "person_id", "role", name="uq_case_parties_link"),
    # SQLite: a removed link's id is never given again (the audit trail names links by id); migration 0013
    sqlite_autoincrement=True,
)

# PartyStatusChange
case_party_status_history = Table(
    "case_party_status_history",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("party_id", ForeignKey("case_parties.id"), index=True, nullable=False),
    *_status_change(),
)

# Arrest
arrests = Table(
    "arrests",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("party_id", ForeignKey("case_parties.id"), index=True, nullable=False),
    Column("arrested_on", Date, nullable=False),
    Column("place", String(500)),
    Column("arrested_by", String(200)),
    Column("notes", String(1000)),
    *_tracked(),
)

# Conviction
convictions = Table(
    "convictions",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("party_id", ForeignKey("case_parties.id"), index=True, nullable=False),
    Column("court", String(200), nullable=False),
    Column("convicted_on", Date, nullable=False),
    Column("sentence", String(1000), nullable=False),
    Column("notes", String(1000)),
    *_tracked(),
)

# PersonFlag: A derived flag (wanted, proclaimed offender, absconder) raised by a case. Never deleted:
# clearing sets ``cleared_at``, so the history stays. Active = ``cleared_at IS NULL``.
person_flags = Table(
    "person_flags",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("person_id", ForeignKey("persons.id"), index=True, nullable=False),
    Column("kind", String(24), nullable=False),
    Column("case_id", ForeignKey("cases.id"), index=True),
    Column("party_id", ForeignKey("case_parties.id")),
    Column("raised_at", DateTime(timezone=True), default=utcnow, nullable=False),
    Column("raised_by", ForeignKey("users.id")),
    Column("raise_reason", String(500)),
    Column("cleared_at", DateTime(timezone=True)),
    Column("cleared_by", ForeignKey("users.id")),
    Column("clear_reason", String(500)),
    # A flag raised from outside the person's home district waits for that district's confirmation
    # (crms.records.services.flags): pending_unit names the district; NULL once confirmed (or when raised
    # within it). A pending flag is not active.
    Column("pending_unit", String(200), index=True),
    Column("confirmed_at", DateTime(timezone=True)),
    Column("confirmed_by", ForeignKey("users.id")),
    Index("ix_person_flags_person_active", "person_id", "cleared_at"),
)
