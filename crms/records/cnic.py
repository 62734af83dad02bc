"""CNIC numbers (Computerised National Identity Card, NADRA): normalisation and the checks that really apply.

A CNIC has 13 digits, written ``12345-1234567-1``. The first digit is the province/region code (1-8), the
first five the locality; the last digit is odd for men and even for women. There is *no* check digit, so a
well-formed number can still be wrong; a final 0 is unusual and gives a warning, not a rejection.

Accepted input: ASCII, Urdu (Extended Arabic-Indic ۰-۹) and Arabic-Indic (٠-٩) digits, with dashes (any
Unicode dash), spaces, dots or slashes as separators.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from crms.errors import ValidationError, rule_error

CNIC_LIKE = {"CNIC", "NICOP"}  # document types numbered in the CNIC format (NICOP carries the holder's CNIC)

PROVINCES: dict[str, str] = {
    "1": "Khyber Pakhtunkhwa",
    "2": "Federally Administered Tribal Areas (now Khyber Pakhtunkhwa)",
    "3": "Punjab",
    "4": "Sindh",
    "5": "Balochistan",
    "6": "Islamabad Capital Territory",
    "7": "Gilgit-Baltistan",
    "8": "Azad Jammu and Kashmir",
}

# Urdu (U+06F0..U+06F9) and Arabic-Indic (U+0660..U+0669) digits -> ASCII.
_DIGITS = {ord(c): str(i) for i, c in enumerate("۰۱۲۳۴۵۶۷۸۹")}
_DIGITS.update({ord(c): str(i) for i, c in enumerate("٠١٢٣٤٥٦٧٨٩")})
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212\u00ad./]+")


def ascii_digits(text: str) -> str:
    """Replace Urdu and Arabic-Indic digits with ASCII digits."""
    return text.translate(_DIGITS)


def is_cnic_like(text: str) -> bool:
    """An entry that is a CNIC rather than a record number: 13 digits, with or without dashes or spaces."""
    text = ascii_digits(text.strip())
    return re.fullmatch(r"[\d\s-]+", text) is not None and len(re.sub(r"\D", "", text)) == 13


@dataclass(frozen=True)
class Cnic:
    digits: str  # the normalised 13 digits
    province_code: str
    province: str
    gender_hint: str  # "M" (odd last digit) or "F" (even)
    warnings: list[str] = field(default_factory=list)

    @property
    def formatted(self) -> str:
        return format_cnic(self.digits)

    def as_dict(self) -> dict:
        return {
            "digits": self.digits,
            "formatted": self.formatted,
            "province_code": self.province_code,
            "province": self.province,
            "gender_hint": self.gender_hint,
            "warnings": list(self.warnings),
        }


def format_cnic(digits: str) -> str:
    return f"{digits[:5]}-{digits[5:12]}-{digits[12:]}"


def parse_cnic(text: str | None, *, field_name: str = "cnic") -> Cnic:
    """Normalise and check a CNIC; raise ValidationError(field=field_name) saying what is wrong."""
    if text is None or not str(text).strip():
        raise ValidationError("CNIC is required", field=field_name)
    raw = str(text).strip()
    if len(raw) > 40:
        raise ValidationError("CNIC is too long (at most 40 characters with separators)", field=field_name)
    value = _SEPARATORS.sub("", ascii_digits(raw))
    if not value.isascii() or not value.isdigit():
        bad = next((c for c in value if not (c.isascii() and c.isdigit())), "?")
        message = f"CNIC may contain only digits, dashes and spaces (found {bad!r})"
        raise rule_error(field_name, "cnic_characters", message, char=bad)
    if len(value) != 13:
        message = f"CNIC must have 13 digits (found {len(value)})"
        raise rule_error(field_name, "cnic_digits", message, found=len(value))
    if value[0] not in PROVINCES:
        message = f"CNIC must start with a province code 1-8 (found {value[0]})"
        raise rule_error(field_name, "cnic_province", message, found=value[0])
    warnings = []
    if value[-1] == "0":
        warnings.append("last digit is 0, which NADRA does not normally issue; check the number")
    if value[1:5] == "0000":
        warnings.append("locality digits 2-5 are all zero; check the number")
    return Cnic(
        digits=value,
        province_code=value[0],
        province=PROVINCES[value[0]],
        gender_hint="M" if int(value[-1]) % 2 else "F",
        warnings=warnings,
    )


def normalise_cnic(text: str | None) -> str:
    """The 13 normalised digits (raises ValidationError(field='cnic'))."""
    return parse_cnic(text).digits
