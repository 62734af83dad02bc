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
    """SQLite hands back naive datetimes; treat them as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def iso_or_none(value: date | datetime | None) -> str | None:
    """ISO 8601 text for an API answer; a datetime as UTC with its offset (SQLite's naive ones included)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    return value.isoformat()
