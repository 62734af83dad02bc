"""Languages of the web pages: English (the msgids) and Urdu (``locale/ur/LC_MESSAGES/messages.po``).

The catalogue is compiled with Babel: ``pybabel compile -d crms/web/locale`` writes the ``.mo`` at install
or test time; when no ``.mo`` is there (a fresh checkout) the ``.po`` is compiled in memory on first use, so
the pages never show an uncompiled language. Dates and numbers are formatted by Babel for the language.
"""

from __future__ import annotations

import gettext
import io
from datetime import date, datetime
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_datetime, get_timezone_name
from babel.numbers import format_decimal

from crms.timeutil import as_utc, office_zone

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("en", "ur")
BABEL_LOCALES = {"en": "en_PK", "ur": "ur_PK"}
RTL = frozenset({"ur"})


def N_(text: str) -> str:  # marks a string for the catalogue; translated where it is shown
    return text


@cache
def translations(lang: str) -> gettext.NullTranslations:
    if lang == "en":
        return gettext.NullTranslations()
    mo = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.mo"
    po = mo.with_suffix(".po")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as fh:
            return gettext.GNUTranslations(fh)
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def choose(value: str | None) -> str:
    return value if value in LANGUAGES else "en"


class Formatter:
    """Dates, times and numbers for one language (Urdu uses its own month names; digits stay Western, as on
    Pakistani forms). Times are shown on the office's clock (:func:`crms.timeutil.office_zone`), and the day
    of a time is the office's day; a date is shown as it is."""

    def __init__(self, lang: str):
        self.lang = lang
        self.locale = Locale.parse(BABEL_LOCALES[lang])
        self.tz = office_zone()

    @property
    def zone(self) -> str:
        """The office's zone as people call it in this language ("Pakistan Time")."""
        return get_timezone_name(self.tz, width="short", locale=self.locale)

    def date(self, value: str | date | None) -> str:
        if not value:
            return ""
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                return value
            value = parsed.date() if len(value) <= 10 else parsed  # "2024-03-14" is a day, not a time
        if isinstance(value, datetime):
            value = as_utc(value).astimezone(self.tz).date()
        return format_date(value, format="medium", locale=self.locale)

    def datetime(self, value: str | datetime | None) -> str:
        if not value:
            return ""
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                return value
        return format_datetime(as_utc(value), format="medium", locale=self.locale, tzinfo=self.tz)

    def number(self, value: int | float | None) -> str:
        return "" if value is None else format_decimal(value, locale=self.locale)
