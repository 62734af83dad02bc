"""Dates as registers write them (crms.records.written_dates): day first, as Pakistan writes a date and as the
CNIC card prints it (14.03.1985), with slashes, dashes, dots or spaces, the month as a number or by its
English or Urdu name; ISO dates; a year alone. Anything else is refused by kind, never guessed."""

from __future__ import annotations

from datetime import date

import pytest

from crms.records.written_dates import UnreadDate, read_written_date

MARCH_14 = date(1985, 3, 14)


@pytest.mark.parametrize(
    "text",
    [
        "14/03/1985",
        "14-03-1985",
        "14.03.1985",
        "14 / 3 / 1985",
        "14 03 1985",
        "14-Mar-1985",
        "14 mar 1985",
        "14 March 1985",
        "14-MARCH-1985",
        "14 مارچ 1985",
        "١٤/٠٣/١٩٨٥",
        "۱۴-۰۳-۱۹۸۵",
        "1985-03-14",
        "1985/03/14",
        "1985.3.14",
        "1985-03-14T00:00:00",
        "  14/03/1985 ",
    ],
)
def test_a_day_written_as_registers_write_it_is_that_day(text):
    assert read_written_date(text) == MARCH_14


def test_a_year_alone_is_a_year_and_an_empty_cell_nothing():
    assert read_written_date("1985") == 1985
    assert read_written_date("۱۹۸۵") == 1985
    assert read_written_date("") is None and read_written_date("   ") is None


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("1 Sep 2001", date(2001, 9, 1)),
        ("30 sept 2001", date(2001, 9, 30)),
        ("2 مئی 1999", date(1999, 5, 2)),
        ("29/02/2000", date(2000, 2, 29)),
        ("31-12-1999", date(1999, 12, 31)),
        ("7 جولائی 1970", date(1970, 7, 7)),
    ],
)
def test_month_names_and_the_calendars_edges(text, day):
    assert read_written_date(text) == day


@pytest.mark.parametrize(
    ("text", "kind", "values", "words"),
    [
        # month first (as in the USA) is not how Pakistan writes a date: read day first, 14 is no month
        ("03/14/1985", "date_no_such_day", (3, 14, 1985), "day 3, month 14, year 1985"),
        ("31/04/1990", "date_no_such_day", (31, 4, 1990), "day 31, month 4"),
        ("29/02/1990", "date_no_such_day", (29, 2, 1990), "is not a day of the calendar"),
        ("1990-02-30", "date_no_such_day", (30, 2, 1990), "day 30, month 2, year 1990"),
        ("00/03/1985", "date_no_such_day", (0, 3, 1985), "day 0"),
        # a year of two digits is not guessed: 85 may be 1985 or 2085 to a program, never to an officer
        ("14/03/85", "date_short_year", (), "four digits"),
        ("14-Mar-85", "date_short_year", (), "four digits"),
        ("Mar 14 1985", "date_unreadable", (), "DD/MM/YYYY"),
        ("14th March 1985", "date_unreadable", (), "DD/MM/YYYY"),
        ("14 Marc 1985", "date_unreadable", (), "DD/MM/YYYY"),
        ("14/03/1985 10:30", "date_unreadable", (), "YYYY-MM-DD"),
        ("85", "date_unreadable", (), "YYYY when only the year is known"),
        ("about 1985", "date_unreadable", (), "is not a date"),
        ("14/03/19851", "date_unreadable", (), "is not a date"),
    ],
)
def test_what_is_not_a_day_is_refused_by_kind_naming_the_text(text, kind, values, words):
    with pytest.raises(UnreadDate) as refused:
        read_written_date(text)
    assert refused.value.kind == kind
    named = dict(zip(("day", "month", "year"), values, strict=True)) if values else {}
    assert refused.value.values == {"value": text, **named}
    assert words in str(refused.value) and f"'{text}'" in str(refused.value)
