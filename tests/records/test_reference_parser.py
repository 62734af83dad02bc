"""The FIR offence parser on its own (package data, no database)."""

from __future__ import annotations

import pytest

from crms.errors import ValidationError
from crms.records.reference import Offence, format_offences, parse_offences

Of = Offence

CASES = [
    ("392/411/34 PPC", [Of("PPC", "392"), Of("PPC", "411"), Of("PPC", "34")]),
    ("302, 324, 34 PPC", [Of("PPC", "302"), Of("PPC", "324"), Of("PPC", "34")]),
    ("9(c) CNSA", [Of("CNSA", "9", "c")]),
    ("9-C CNSA 1997", [Of("CNSA", "9", "c")]),
    ("9 (b) C.N.S.A", [Of("CNSA", "9", "b")]),
    ("13-E Arms Ordinance", [Of("AO1965", "13-E")]),
    ("13/20/65 AO", [Of("AO1965", "13")]),
    ("13-20-65 Arms Ordinance", [Of("AO1965", "13")]),
    ("u/s 13/20/65", [Of("AO1965", "13")]),
    ("13-E/20/65", [Of("AO1965", "13-E")]),
    ("324 PPC & 13-E AO", [Of("PPC", "324"), Of("AO1965", "13-E")]),
    ("489-F PPC", [Of("PPC", "489-F")]),
    ("489F P.P.C.", [Of("PPC", "489-F")]),
    ("337-A(ii) PPC", [Of("PPC", "337-A", "ii")]),
    ("337-F(i)/34 PPC", [Of("PPC", "337-F", "i"), Of("PPC", "34")]),
    ("U/S 302 PPC", [Of("PPC", "302")]),
    ("Section 302 of the PPC", [Of("PPC", "302")]),
    ("302-B PPC", [Of("PPC", "302", "b")]),  # no section 302-B: the letter is a clause
    ("PPC 302/34", [Of("PPC", "302"), Of("PPC", "34")]),
    ("PPC 302/34 & 13-E AO", [Of("PPC", "302"), Of("PPC", "34"), Of("AO1965", "13-E")]),
    ("302/34 PPC r/w 7 ATA", [Of("PPC", "302"), Of("PPC", "34"), Of("ATA", "7")]),
    ("7 ATA, 11-W ATA 1997", [Of("ATA", "7"), Of("ATA", "11-W")]),
    ("3/4 PO", [Of("PO1979", "3"), Of("PO1979", "4")]),
    ("Cr.P.C. 512", [Of("CRPC", "512")]),
    ("87/88 CrPC", [Of("CRPC", "87"), Of("CRPC", "88")]),
    ("14 Foreigners Act", [Of("FA1946", "14")]),
    ("9(1)(3)(c) CNSA", [Of("CNSA", "9", "1)(3)(c")]),
    ("392 PPC, 392 PPC", [Of("PPC", "392")]),  # duplicates collapse
    ("S.302 PPC", [Of("PPC", "302")]),
    ("u/s.302 P.P.C.", [Of("PPC", "302")]),
    ("302/34-PPC", [Of("PPC", "302"), Of("PPC", "34")]),
    ("365A PPC", [Of("PPC", "365-A")]),
    ("489 F PPC", [Of("PPC", "489-F")]),
    ("302 P P C", [Of("PPC", "302")]),
    ("13 E/20/65", [Of("AO1965", "13-E")]),
    ("11-EE ATA", [Of("ATA", "11-EE")]),
    ("302/324/148/149 PPC", [Of("PPC", "302"), Of("PPC", "324"), Of("PPC", "148"), Of("PPC", "149")]),
    ("زیر دفعہ 302 ت پ", [Of("PPC", "302")]),
    ("زیر دفعہ ۳۰۲/۳۴ ت۔پ", [Of("PPC", "302"), Of("PPC", "34")]),  # Urdu digits, Urdu full stop
    ("٣٩٢ تعزیرات پاکستان", [Of("PPC", "392")]),  # Arabic-Indic digits
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_parse(text, expected):
    assert parse_offences(text) == expected


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("302 XYZ", "'XYZ'"),
        ("302", "no statute given for 302"),
        ("PPC", "no section numbers"),
        ("", "no offence sections"),
        ("   ", "no offence sections"),
        ("302/ABC PPC", "'ABC'"),
    ],
)
def test_unreadable_text_names_the_problem(text, needle):
    with pytest.raises(ValidationError) as err:
        parse_offences(text)
    assert err.value.field == "sections"
    assert needle in err.value.message


def test_str_and_format():
    offences = parse_offences("392/411/34 PPC & 9(c) CNSA")
    assert [str(o) for o in offences] == ["392 PPC", "411 PPC", "34 PPC", "9(c) CNSA"]
    assert format_offences(offences) == "392/411/34 PPC; 9(c) CNSA"
    assert parse_offences(format_offences(offences)) == offences
