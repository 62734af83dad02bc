"""The office's time zone (CRMS_TIMEZONE, Pakistan's by default): "today" for the date rules is the office's
day, not UTC's (an arrest made after midnight in Quetta is not "in the future" until 05:00); pages show
times in that zone; a mistyped zone stops the start, naming the variable."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crms.timeutil import local, office_day_span, office_zone, today


def test_pakistan_time_is_the_default_and_today_is_the_offices_day(monkeypatch):
    monkeypatch.delenv("CRMS_TIMEZONE", raising=False)
    assert office_zone() == ZoneInfo("Asia/Karachi")
    assert today() == datetime.now(ZoneInfo("Asia/Karachi")).date()
    assert local(datetime(2026, 12, 6, 20, 30, tzinfo=UTC)) == datetime(
        2026, 12, 7, 1, 30, tzinfo=ZoneInfo("Asia/Karachi")
    )
    assert local(datetime(2026, 12, 6, 20, 30)).day == 7  # SQLite's naive datetimes are UTC


def test_a_date_of_the_offices_today_is_accepted_when_utc_is_still_on_yesterday(monkeypatch):
    """Kiritimati is 14 hours ahead of UTC, so its today is UTC's tomorrow for most of the day: the rule
    must follow the office's day whatever the hour this test runs."""
    from crms.records.schemas import ArrestIn

    monkeypatch.setenv("CRMS_TIMEZONE", "Pacific/Kiritimati")
    local_today = datetime.now(ZoneInfo("Pacific/Kiritimati")).date()
    assert today() == local_today
    assert ArrestIn(arrested_on=local_today).arrested_on == local_today
    with pytest.raises(ValueError, match="arrested_on is in the future"):
        ArrestIn(arrested_on=local_today + timedelta(days=1))


def test_a_mistyped_zone_stops_the_start_naming_the_variable(monkeypatch, sqlite_db):
    from crms.api.app import create_app

    monkeypatch.setenv("CRMS_TIMEZONE", "Asia/Quetta")
    with pytest.raises(ValueError, match="CRMS_TIMEZONE"):
        create_app(database=sqlite_db)
    for bad in ("../../etc/passwd", "UTC+5", "Asia/Karachi\x00"):
        monkeypatch.setenv("CRMS_TIMEZONE", bad.replace("\x00", " x"))
        with pytest.raises(ValueError, match="CRMS_TIMEZONE"):
            office_zone()
    monkeypatch.setenv("CRMS_TIMEZONE", " ")  # empty: the default
    assert office_zone() == ZoneInfo("Asia/Karachi")
    monkeypatch.setenv("CRMS_TIMEZONE", "UTC")
    assert office_zone() == ZoneInfo("UTC") and create_app(database=sqlite_db) is not None


def test_pages_show_times_and_days_in_the_offices_zone(monkeypatch):
    from crms.web.i18n import Formatter

    monkeypatch.delenv("CRMS_TIMEZONE", raising=False)
    at = "2026-12-06T20:30:00+00:00"  # 01:30 on the 7th in Quetta
    en, ur = Formatter("en"), Formatter("ur")
    assert en.datetime(at).startswith("07-Dec-2026, 1:30:00") and en.date(at) == "07-Dec-2026"
    assert ur.date(at).startswith("7 دسمبر")
    assert en.date(date(2026, 12, 6)) == "06-Dec-2026"  # a day is a day: no conversion
    assert en.zone == "Pakistan Time" and ur.zone == "پاکستان وقت"


def test_a_day_is_its_span_on_the_offices_clock_even_at_the_calendars_ends(monkeypatch):
    monkeypatch.delenv("CRMS_TIMEZONE", raising=False)
    start, end = office_day_span(date(2026, 12, 6))
    assert start == datetime(2026, 12, 5, 19, 0, tzinfo=UTC)
    assert end == datetime(2026, 12, 6, 18, 59, 59, 999999, tzinfo=UTC)
    for zone in ("Asia/Karachi", "America/Los_Angeles", "Pacific/Kiritimati"):
        monkeypatch.setenv("CRMS_TIMEZONE", zone)
        for day in (date.min, date.max):  # a filter typed as 0001-01-01 or 9999-12-31
            first, last = office_day_span(day)
            assert first <= last
