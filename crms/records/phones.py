"""Phone numbers: normalised to E.164 with ``phonenumbers`` (default region Pakistan). Accepts Urdu and
Arabic-Indic digits; a number that cannot be valid is refused, a merely unusual one gets a warning."""

from __future__ import annotations

from dataclasses import dataclass, field

from crms.errors import ValidationError, rule_error
from crms.records.cnic import ascii_digits

DEFAULT_REGION = "PK"


@dataclass(frozen=True)
class Phone:
    e164: str
    kind: str  # mobile | fixed | other
    region: str | None
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"e164": self.e164, "kind": self.kind, "region": self.region, "warnings": list(self.warnings)}


def parse_phone(text: str | None, *, region: str = DEFAULT_REGION, field_name: str = "phone") -> Phone:
    import phonenumbers
    from phonenumbers import PhoneNumberType

    if text is None or not str(text).strip():
        raise ValidationError("phone number is required", field=field_name)
    raw = ascii_digits(str(text).strip())
    if len(raw) > 40:
        raise ValidationError("phone number is too long", field=field_name)
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise rule_error(field_name, "phone_invalid", f"not a phone number: {exc}", phone=str(text)) from None
    if not phonenumbers.is_possible_number(number):
        message = f"'{text}' cannot be a phone number (wrong length)"
        raise rule_error(field_name, "phone_invalid", message, phone=str(text))
    warnings = []
    if not phonenumbers.is_valid_number(number):
        warnings.append("number is not in a known numbering range; check it")
    kind_code = phonenumbers.number_type(number)
    if kind_code in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE):
        kind = "mobile"
    elif kind_code == PhoneNumberType.FIXED_LINE:
        kind = "fixed"
    else:
        kind = "other"
    return Phone(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        kind=kind,
        region=phonenumbers.region_code_for_number(number),
        warnings=warnings,
    )


def normalise_phone(text: str | None, region: str = DEFAULT_REGION) -> str:
    return parse_phone(text, region=region).e164
