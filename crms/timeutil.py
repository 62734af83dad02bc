"""Time: stored and exchanged in UTC; the office's day and clock (``CRMS_TIMEZONE``, an IANA zone name,
Pakistan's ``Asia/Karachi`` by default) for what people read and for "today" in the date rules."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "Asia/Karachi"


def utcnow() -> datetime:
    return datetime.now(UTC)


def office_zone() -> ZoneInfo:
    """The office's time zone from CRMS_TIMEZONE (unset or empty: Asia/Karachi); an unknown name raises
    ValueError naming the variable."""
    return _zone(os.environ.get("CRMS_TIMEZONE", "").strip() or DEFAULT_ZONE)


@cache
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # unknown, malformed, a directory of zones
        raise ValueError(
            f"CRMS_TIMEZONE must name a time zone of the IANA database, such as {DEFAULT_ZONE}, not {name!r}"
        ) from None


def today() -> date:
    """The office's date now (a date rule's "today": not UTC's, which is a day behind after midnight)."""
    return datetime.now(office_zone()).date()


def local(value: datetime) -> datetime:
    """A stored time (UTC; SQLite's naive ones included) on the office's clock."""
    return as_utc(value).astimezone(office_zone())


def office_day_span(day: date) -> tuple[datetime, datetime]:
    """The first and the last moment (UTC) of a day on the office's clock (at the calendar's ends, where
    the day's edge in UTC falls outside it, the first or last moment there is)."""
    zone = office_zone()

    def midnight(d: date) -> datetime:
        try:
            return datetime.combine(d, time(), tzinfo=zone).astimezone(UTC)
        except OverflowError:
            return (datetime.min if d.year == 1 else datetime.max).replace(tzinfo=UTC)

    if day == date.max:
        return midnight(day), datetime.max.replace(tzinfo=UTC)
    return midnight(day), midnight(day + timedelta(days=1)) - timedelta(microseconds=1)


def as_utc(value: datetime) -> datetime:
    """A time in UTC: an aware one converted (``04:00+05:00`` is ``23:00`` UTC the day before: SQLite
    stores a time without its offset, so one left unconverted would be compared as another instant), a
    naive one taken as UTC (SQLite hands stored times back naive; the API and the CLI read a time without an
    offset as UTC). An offset that carries a time past the calendar's ends gives its first or last moment."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return (datetime.min if value.year == 1 else datetime.max).replace(tzinfo=UTC)


def time_bound(text: str, *, end: bool = False) -> datetime:
    """A time filter's bound as a person types it: a date (YYYY-MM-DD) is the office's day (its first
    moment, or with ``end`` its last), a date and time (ISO 8601) is that instant, in UTC unless it carries
    an offset (``2026-12-07T04:00+05:00``). ValueError for anything else."""
    text = text.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return as_utc(datetime.fromisoformat(text))
    return office_day_span(day)[1 if end else 0]


def iso_or_none(value: date | datetime | None) -> str | None:
    """ISO 8601 text for an API answer; a datetime as UTC with its offset (SQLite's naive ones included)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    return value.isoformat()
