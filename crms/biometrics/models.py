"""Tables of the biometrics area: enrolled fingerprints.

One row per captured finger of a person: the finger position (ANSI/NIST-ITL friction ridge position codes
1-10), the image (encrypted in the biometric store, :class:`crms.access.crypto.EncryptedStore`, referenced by
``image_ref``) with its format, resolution and size, and, once extracted, the template (CRMS binary format,
:mod:`crms.fingerprint.serialise`) with its quality and the extractor that made it. A finger is *pending*
until its template is extracted (``template`` NULL), then *enrolled*; an image the extractor cannot read is
*failed* (with the reason). Recapturing a finger retires the old row (``active`` false, kept for history), so
each person has at most one active print per position (a partial unique index on both databases). An
*enrolled* print stays active while its recapture waits for its template (the new row pending, not active,
``retired_at`` NULL) and is retired only when the recapture enrols; a pending print recaptured before it
enrolled is *superseded*.

Tenprint cards, 1:N identification and latent cases will add their own tables; they reference these rows.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from crms.db import Base
from crms.records.models import Tracked
from crms.timeutil import utcnow

# ANSI/NIST-ITL 1-2011 Table 8 (friction ridge position codes), fingers only.
FINGER_POSITIONS: dict[int, str] = {
    1: "right_thumb",
    2: "right_index",
    3: "right_middle",
    4: "right_ring",
    5: "right_little",
    6: "left_thumb",
    7: "left_index",
    8: "left_middle",
    9: "left_ring",
    10: "left_little",
}


class EnrolmentStatus(StrEnum):
    PENDING = "pending"  # image stored, template not yet extracted
    ENROLLED = "enrolled"  # template stored
    FAILED = "failed"  # the extractor could not read the image, or found too few minutiae (``error``)
    SUPERSEDED = "superseded"  # recaptured while still pending: never enrolled, kept for history


class FingerprintSource(StrEnum):
    LIVESCAN = "livescan"
    CARD = "card"  # a scanned ink tenprint card
    SYNTHETIC = "synthetic"  # demo data (crms.fingerprint.synthesis)


class Fingerprint(Tracked, Base):
    __tablename__ = "fingerprints"
    __table_args__ = (
        CheckConstraint("position BETWEEN 1 AND 10", name="position"),
        # At most one active print per person and finger; retired ones are kept.
        Index(
            "uq_fingerprints_person_position_active",
            "person_id",
            "position",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
        # The enrolment queue: pending rows in id order.
        Index("ix_fingerprints_status_id", "status", "id"),
        # The 1:N gallery reads the rows changed since it last looked (crms.biometrics.identification).
        Index("ix_fingerprints_updated_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    position: Mapped[int] = mapped_column(SmallInteger)  # FINGER_POSITIONS
    source: Mapped[str] = mapped_column(String(16), default=FingerprintSource.LIVESCAN.value)
    # The image, encrypted in the biometric store ("fingerprint/<32 hex>").
    image_ref: Mapped[str] = mapped_column(String(64))
    image_format: Mapped[str] = mapped_column(String(8))  # png, wsq, jp2, tiff, bmp, jpeg
    image_ppi: Mapped[int] = mapped_column(SmallInteger)
    # Where image_ppi came from (caller, file, estimated, default: as
    # crms.biometrics.enrolment.capture_resolution chose) and why, in words; NULL for prints captured before
    # these were kept (the caller's or the file's).
    image_ppi_source: Mapped[str | None] = mapped_column(String(10), nullable=True)
    image_ppi_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    image_width: Mapped[int] = mapped_column(SmallInteger)
    image_height: Mapped[int] = mapped_column(SmallInteger)
    image_sha256: Mapped[str] = mapped_column(String(64))
    # The template and what the extractor said about the print; NULL while pending.
    status: Mapped[str] = mapped_column(String(10), default=EnrolmentStatus.PENDING.value)
    template: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    quality: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)  # 0-100 (NFIQ 2 scale)
    minutiae: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    extractor: Mapped[str | None] = mapped_column(String(40), nullable=True)
    enrolled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    error: Mapped[str | None] = mapped_column(String(300), nullable=True)
    # The failure's kind and the values it names, as JSON ({"type": ..., "values": {...}}: crms.errors'
    # rule kinds), for saying ``error`` in the reader's language; NULL where it has none or failed before.
    error_kind: Mapped[str | None] = mapped_column(String(300), nullable=True)
    # Capture: when and by whom (NULL for system jobs such as the demo loader).
    captured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    captured_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    retired_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)

    @property
    def finger(self) -> str:
        return FINGER_POSITIONS[self.position]


class DuplicateStatus(StrEnum):
    OPEN = "open"  # waiting for a fingerprint examiner
    CONFIRMED = "confirmed"  # the examiner says: the same person; waiting for the merge
    MERGED = "merged"  # the two records were merged (crms.records.services.merge_persons)
    REJECTED = "rejected"  # the examiner says: different persons; both stay enrolled
    RESOLVED = "resolved"  # both persons became one record by another merge: nothing left to decide or merge


class DuplicateCase(Tracked, Base):
    """A probable duplicate enrolment: a person's prints, searched when they were enrolled, hit another
    person above the decision threshold. An examiner confirms (then the records are merged) or rejects it,
    with a reason; nothing is merged without that decision."""

    __tablename__ = "duplicate_cases"
    __table_args__ = (
        CheckConstraint("person_id <> candidate_id", name="distinct_persons"),
        Index("uq_duplicate_cases_pair", "person_id", "candidate_id", unique=True),
        Index("ix_duplicate_cases_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))  # the newly enrolled record
    candidate_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)  # already enrolled
    score: Mapped[float] = mapped_column(Float)  # fused score of the search
    threshold: Mapped[float] = mapped_column(Float)  # the decision threshold it passed
    fingers: Mapped[str] = mapped_column(Text)  # JSON: per-finger scores of the hit
    status: Mapped[str] = mapped_column(String(10), default=DuplicateStatus.OPEN.value)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    merged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    merged_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class MissingReason(StrEnum):
    AMPUTATED = "amputated"
    MISSING = "missing"  # missing at birth or otherwise absent
    BANDAGED = "bandaged"  # temporarily impossible to print
    UNABLE = "unable"  # present but cannot be printed (scarred, worn, the person resists)


class FingerMark(Base):
    """A finger of a tenprint that could not be captured, and why (ANSI/NIST-ITL "amputated" / "unable to
    print"). Capturing the finger later clears the mark (``active`` false, kept for history), so each person
    has at most one active mark per position, and never an active mark together with an active print."""

    __tablename__ = "fingerprint_marks"
    __table_args__ = (
        CheckConstraint("position BETWEEN 1 AND 10", name="position"),
        Index(
            "uq_fingerprint_marks_person_position_active",
            "person_id",
            "position",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    position: Mapped[int] = mapped_column(SmallInteger)
    reason: Mapped[str] = mapped_column(String(12))  # MissingReason
    note: Mapped[str | None] = mapped_column(String(300), nullable=True)
    marked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    marked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    cleared_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    # The print whose capture cleared the mark (NULL when cleared by a new mark).
    cleared_by_print: Mapped[int | None] = mapped_column(ForeignKey("fingerprints.id"), nullable=True)
