"""Reference tables: Balochistan's divisions, districts and police stations (with validity dates), and the
statutes and sections that FIRs cite. Loaded from the versioned data files in ``data/``; editable by an
administrator (an edited row keeps ``edited_at`` and is no longer overwritten by the file loader)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crms.db import Base


def _is_current(valid_from: date | None, valid_to: date | None, on: date | None) -> bool:
    if on is None:
        from crms.timeutil import today

        on = today()
    if valid_from is not None and on < valid_from:
        return False
    return valid_to is None or on < valid_to


class Division(Base):
    __tablename__ = "divisions"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name_en: Mapped[str] = mapped_column(String(100))
    name_ur: Mapped[str] = mapped_column(String(100))
    valid_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    valid_to: Mapped[date | None] = mapped_column(Date, nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    def is_current(self, on: date | None = None) -> bool:
        return _is_current(self.valid_from, self.valid_to, on)


class District(Base):
    __tablename__ = "districts"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_en: Mapped[str] = mapped_column(String(100))
    name_ur: Mapped[str] = mapped_column(String(100))
    division_code: Mapped[str] = mapped_column(ForeignKey("divisions.code"), index=True)
    valid_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    valid_to: Mapped[date | None] = mapped_column(Date, nullable=True)
    successor_code: Mapped[str | None] = mapped_column(ForeignKey("districts.code"), nullable=True)
    aliases: Mapped[str | None] = mapped_column(String(300), nullable=True)  # "|"-separated other names
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    def is_current(self, on: date | None = None) -> bool:
        return _is_current(self.valid_from, self.valid_to, on)


class PoliceStation(Base):
    __tablename__ = "police_stations"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_en: Mapped[str] = mapped_column(String(150))
    name_ur: Mapped[str] = mapped_column(String(150))
    district_code: Mapped[str] = mapped_column(ForeignKey("districts.code"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="police")  # police | levies
    valid_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    valid_to: Mapped[date | None] = mapped_column(Date, nullable=True)
    merged_into_code: Mapped[str | None] = mapped_column(ForeignKey("police_stations.code"), nullable=True)
    unit_path: Mapped[str] = mapped_column(String(200), index=True)
    aliases: Mapped[str | None] = mapped_column(String(300), nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    def is_current(self, on: date | None = None) -> bool:
        return _is_current(self.valid_from, self.valid_to, on)


class Statute(Base):
    __tablename__ = "statutes"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class StatuteSection(Base):
    __tablename__ = "statute_sections"
    __table_args__ = (UniqueConstraint("statute_code", "section"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    statute_code: Mapped[str] = mapped_column(ForeignKey("statutes.code"), index=True)
    section: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
