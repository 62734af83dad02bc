"""CNIC and phone normalisation: the real rules (13 digits, province 1-8, no check digit, final 0 warns)."""

from __future__ import annotations

import pytest

from crms.errors import ValidationError
from crms.records.cnic import format_cnic, normalise_cnic, parse_cnic
from crms.records.phones import parse_phone


@pytest.mark.parametrize(
    "text",
    [
        "54400-1234567-3",
        "5440012345673",
        " 54400 1234567 3 ",
        "54400–1234567–3",  # en dashes, as word processors write them
        "۵۴۴۰۰-۱۲۳۴۵۶۷-۳",  # Urdu (Extended Arabic-Indic) digits
        "٥٤٤٠٠-١٢٣٤٥٦٧-٣",  # Arabic-Indic digits
        "۵۴۴۰۰ 1234567-٣",  # mixed
    ],
)
def test_accepted_forms_normalise_to_13_digits(text):
    cnic = parse_cnic(text)
    assert cnic.digits == "5440012345673"
    assert cnic.formatted == "54400-1234567-3"
    assert cnic.province == "Balochistan" and cnic.province_code == "5"
    assert cnic.gender_hint == "M" and cnic.warnings == []


def test_final_zero_is_a_warning_not_a_rejection():
    cnic = parse_cnic("۵۴۴۰۰-۱۲۳۴۵۶۷-۰")
    assert cnic.digits == "5440012345670"
    assert len(cnic.warnings) == 1 and "last digit is 0" in cnic.warnings[0]


def test_even_last_digit_hints_female():
    assert parse_cnic("35202-1234567-4").gender_hint == "F"
    assert parse_cnic("35202-1234567-4").province == "Punjab"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "required"),
        ("54400-123456-3", "13 digits (found 12)"),
        ("54400-12345678-3", "13 digits (found 14)"),
        ("94400-1234567-3", "province code 1-8 (found 9)"),
        ("04400-1234567-3", "province code 1-8 (found 0)"),
        ("54400-12E4567-3", "only digits"),
        ("5" * 60, "too long"),
    ],
)
def test_malformed_cnic_is_refused_naming_the_field(text, message):
    with pytest.raises(ValidationError) as err:
        parse_cnic(text)
    assert err.value.field == "cnic"
    assert message in err.value.message


def test_no_check_digit_any_last_digit_is_valid():
    for last in range(1, 10):
        assert normalise_cnic(f"1730112345{last}1{last}")[-1] == str(last)
    assert format_cnic("6110112345671") == "61101-1234567-1"


def test_phones_e164_with_default_region_pk():
    assert parse_phone("0300-1234567").e164 == "+923001234567"
    assert parse_phone("0300-1234567").kind == "mobile"
    assert parse_phone("۰۳۰۰۱۲۳۴۵۶۷").e164 == "+923001234567"
    assert parse_phone("+92 81 2345678").e164 == "+92812345678"
    assert parse_phone("+44 20 7946 0018").region == "GB"
    for written in ("+92 0300 1234567", "0092 0300-1234567", "+9203001234567"):  # the trunk zero kept
        assert (parse_phone(written).e164, parse_phone(written).warnings) == ("+923001234567", []), written
    with pytest.raises(ValidationError) as err:
        parse_phone("12", field_name="phones.0")
    assert err.value.field == "phones.0"
    with pytest.raises(ValidationError):
        parse_phone("call me maybe")
