"""Dates as a register writes them: day first, as Pakistan writes a date and the CNIC card prints it.

``14/03/1985``, ``14-03-1985``, ``14.03.1985`` and ``14 03 1985`` are the 14th of March 1985, and so are
``14-Mar-1985`` (Excel's format), ``14 March 1985`` and ``14 مارچ 1985`` (the month by its English or Urdu
name); ``1985-03-14`` (ISO, the API's form, also with ``/`` or ``.``) and a year alone (``1985``, when only
the year is known) are read too, in any of the digits :func:`crms.records.cnic.ascii_digits` knows.

Nothing is guessed: a date written month first (``03/14/1985``) is read day first and refused because 14 is
no month, and a two-digit year (``14/03/85``) is refused rather than given a century.
"""

from __future__ import annotations

import re
from datetime import date

from crms.records.cnic import ascii_digits

MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        ("jan", "january", "جنوری"),
        ("feb", "february", "فروری"),
        ("mar", "march", "مارچ"),
        ("apr", "april", "اپریل"),
        ("may", "مئی", "مئ"),
        ("jun", "june", "جون"),
        ("jul", "july", "جولائی", "جولائ"),
        ("aug", "august", "اگست"),
        ("sep", "sept", "september", "ستمبر"),
        ("oct", "october", "اکتوبر"),
        ("nov", "november", "نومبر"),
        ("dec", "december", "دسمبر"),
    ),
    start=1,
):
    MONTHS.update(dict.fromkeys(_names, _number))

_SEP = r"\s*(?:[-/.]\s*|\s)"
_DAY_FIRST = re.compile(rf"(\d{{1,2}}){_SEP}(\d{{1,2}}|[^\W\d_]+){_SEP}(\d+)")
_YEAR_FIRST = re.compile(r"(\d{4})\s*([-/.])\s*(\d{1,2})\s*\2\s*(\d{1,2})(?:[T ]00:00(?::00)?)?")
# Arabic letters a keyboard may give for the Urdu ones of a month's name
_URDU_LETTERS = str.maketrans({"ي": "ی", "ك": "ک", "ى": "ی"})


class UnreadDate(ValueError):
    """A written date that names no day: ``kind`` and ``values`` as a rule's error has them."""

    def __init__(self, kind: str, message: str, values: dict[str, object]):
        super().__init__(message)
        self.kind = kind
        self.values = values


def read_written_date(text: str) -> date | int | None:
    """The day ``text`` names, the year when it names only a year, None when it is blank."""
    value = ascii_digits(text).strip()
    if not value:
        return None
    if len(value) == 4 and value.isdigit():
        return int(value)
    if found := _YEAR_FIRST.fullmatch(value):
        return _day(text, int(found[4]), int(found[3]), int(found[1]))
    if found := _DAY_FIRST.fullmatch(value):
        day, month, year = found.groups()
        number = int(month) if month.isdigit() else MONTHS.get(month.casefold().translate(_URDU_LETTERS))
        if number is not None and len(year) == 2:
            raise UnreadDate("date_short_year", f"'{text}': write the year in four digits", {"value": text})
        if number is not None and len(year) == 4:
            return _day(text, int(day), number, int(year))
    message = (
        f"'{text}' is not a date (write DD/MM/YYYY, the day first, or YYYY-MM-DD, "
        "or YYYY when only the year is known)"
    )
    raise UnreadDate("date_unreadable", message, {"value": text})


def _day(text: str, day: int, month: int, year: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        message = f"'{text}' is not a day of the calendar (read as day {day}, month {month}, year {year})"
        values = {"value": text, "day": day, "month": month, "year": year}
        raise UnreadDate("date_no_such_day", message, values) from None
