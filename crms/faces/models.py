"""Tables of the faces area: photographs of a person (front and side views, marks and tattoos).

The image itself is in the encrypted biometric store (:class:`crms.access.crypto.EncryptedStore`, kind
``photo``), referenced by ``image_ref``; the row keeps its format, size and SHA-256. A new photo of the same
kind retires the earlier one (``active`` false, kept for history): at most one active photo per person and
kind, except marks, of which a person may have several.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from crms.db import Base
from crms.timeutil import utcnow


class PhotoKind(StrEnum):
    FRONT = "front"
    LEFT = "left"
    RIGHT = "right"
    MARK = "mark"  # a scar, mark or tattoo


class PersonPhoto(Base):
    __tablename__ = "person_photos"
    __table_args__ = (Index("ix_person_photos_person_kind_active", "person_id", "kind", "active"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # PhotoKind
    image_ref: Mapped[str] = mapped_column(String(64))  # "photo/<32 hex>" in the encrypted store
    image_format: Mapped[str] = mapped_column(String(8))  # png, jpeg, webp
    image_width: Mapped[int] = mapped_column(SmallInteger)
    image_height: Mapped[int] = mapped_column(SmallInteger)
    image_bytes: Mapped[int] = mapped_column(Integer)
    image_sha256: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(300), nullable=True)
    captured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    captured_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    retired_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
