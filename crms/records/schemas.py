"""Input schemas of the records services (Pydantic 2, with field limits). The API uses them as request
bodies; the CLI, importer and demo build them too. :func:`coerce` turns a dict into a schema and Pydantic's
errors into a :class:`crms.errors.ValidationError` naming the failing field."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

from crms.db import MAX_ID
from crms.errors import ValidationError, validation_detail
from crms.records.models import (
    AddressKind,
    CaseStatus,
    DocumentType,
    FlagKind,
    MarkKind,
    PartyRole,
    PartyStatus,
    Script,
)
from crms.records.written_dates import UnreadDate, read_written_date
from crms.timeutil import today

_LATIN_LETTER = re.compile(r"[A-Za-z]")
_ARABIC_LETTER = re.compile(r"[\u0600-\u06FF\u0750-\u077F\uFB50-\uFDFF\uFE70-\uFEFF]")


def _text(max_length: int, min_length: int = 1):
    return Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length)
    ]


def _name_text(value: str) -> str:
    """A name is letters and their marks, spaces and punctuation: a symbol (an emoji, ``+``, ``$``) or a
    control or format character other than the joiners Urdu spelling needs is refused, naming it."""
    for ch in value:
        if unicodedata.category(ch)[0] in "SC" and ch not in "\u200c\u200d":
            raise PydanticCustomError(
                "name_symbol",
                "a name may not contain {char} (a symbol, emoji or control character)",
                {"char": repr(ch)},
            )
    return value


# A name in the other script (kind -> message): ``other`` is where its spelling in that script goes (the
# API's field; the import's column); for an alias, ``script`` is the script to choose.
SCRIPT_MESSAGES = {
    "name_script_arabic": (
        "an English-script name may not contain Arabic-script letters: write the Urdu spelling in {other}"
    ),
    "name_script_latin": (
        "an Urdu-script name may not contain Latin letters: write the English spelling in {other}"
    ),
    # an alias: ``script`` is the script to choose
    "alias_script_arabic": (
        "a Latin-script alias may not contain Arabic-script letters; use script '{script}'"
    ),
    "alias_script_latin": "an Urdu-script alias may not contain Latin letters; use script '{script}'",
}


def script_error(kind: str, **values: str) -> PydanticCustomError:
    """A name written in the other script (kinds of :data:`SCRIPT_MESSAGES`)."""
    return PydanticCustomError(kind, SCRIPT_MESSAGES[kind], values)


Name = Annotated[_text(100), AfterValidator(_name_text)]
LongName = Annotated[_text(200), AfterValidator(_name_text)]
Short = _text(50)
Text500 = _text(500)
Text1000 = _text(1000)
Notes = _text(5000)


def _country(value: str) -> str:
    """A two-letter country code, in either case (``af``: ``AF``); the pattern alone checked the letters
    before upper-casing them, and refused ``af`` with a regular expression for a message."""
    code = value.strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", code):
        raise PydanticCustomError(
            "country_code",
            "a two-letter country code such as PK or AF is expected, not '{value}'",
            {"value": value},
        )
    return code


Country = Annotated[str, StringConstraints(max_length=10), AfterValidator(_country)]


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?")


def _calendar_day(value: Any) -> Any:
    """A date is written as a date (``YYYY-MM-DD``) and nothing else: Pydantic would read a number, or a
    number in a string, as seconds since 1970 (``"observed_on": 0`` was stored as 1970-01-01). A date written
    as an officer writes it (``14/03/2024``) is refused too, the day it reads as (day first) shown
    ``YYYY-MM-DD``, so that the caller, not the program, says which number is the day."""
    if isinstance(value, int | float):
        raise ValueError("a date is written YYYY-MM-DD, not as a number")
    if isinstance(value, str) and not _ISO_DAY.fullmatch(value := value.strip()):
        try:
            day = read_written_date(value)
        except UnreadDate:
            day = None
        if isinstance(day, date):
            said = "a date is written YYYY-MM-DD: write {iso} for '{value}'"
            raise PydanticCustomError("date_parsing", said, {"value": value, "iso": day.isoformat()})
        said = "a date is written YYYY-MM-DD, not '{value}'"
        raise PydanticCustomError("date_parsing", said, {"value": value})
    return value


Day = Annotated[date, BeforeValidator(_calendar_day)]


# The crime cannot have happened after the FIR was registered (the kind ``after_other_date``).
AFTER_REGISTERED = {"what": "occurred_on", "other": "registered_on"}


def _not_future(value: date | None, what: str) -> date | None:
    """The office's today at the latest; refused with the kind ``date_in_future`` (the pages say it in the
    officer's language) and the words API clients know ("arrested_on is in the future")."""
    if value is not None and value > today():
        raise PydanticCustomError("date_in_future", "{what} is in the future", {"what": what})
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AliasIn(Strict):
    script: Script = Script.LATIN
    name: LongName

    @field_validator("name")
    @classmethod
    def _script_matches(cls, v: str, info: ValidationInfo) -> str:
        script = info.data.get("script", Script.LATIN)
        if script == Script.URDU and _LATIN_LETTER.search(v):
            raise script_error("alias_script_latin", script=Script.LATIN.value)
        if script == Script.LATIN and _ARABIC_LETTER.search(v):
            raise script_error("alias_script_arabic", script=Script.URDU.value)
        return v


class DocumentIn(Strict):
    doc_type: DocumentType
    number: _text(40)
    issuing_country: Country = "PK"
    notes: Text500 | None = None


class AddressIn(Strict):
    kind: AddressKind
    district: _text(100) | None = None
    police_station: _text(150) | None = None
    text: Text500 | None = None


class MarkIn(Strict):
    kind: MarkKind
    body_location: _text(100)
    text: Text500 | None = None


def _language_list(value: Any) -> Any:
    """Languages given as one text (a form's, the command line's) are separated by commas, Urdu's (،)
    included; a list stays as it is."""
    if isinstance(value, str):
        return [part.strip() for part in re.split(r"[,،]", value) if part.strip()]
    return value


class DescriptionIn(Strict):
    observed_on: Day
    height_cm: int | None = Field(default=None, ge=50, le=250)
    build: Short | None = None
    complexion: Short | None = None
    eye_colour: Short | None = None
    hair: _text(100) | None = None
    beard: _text(100) | None = None
    languages: Annotated[list[Short], BeforeValidator(_language_list)] = Field(
        default_factory=list, max_length=20
    )
    marks: list[MarkIn] = Field(default_factory=list, max_length=50)

    @field_validator("observed_on")
    @classmethod
    def _observed(cls, v: date) -> date:
        return _not_future(v, "observed_on")


class _PersonFields(Strict):
    given_name_en: Name | None = None
    family_name_en: Name | None = None
    given_name_ur: Name | None = None
    family_name_ur: Name | None = None
    parentage_relation: Literal["s/o", "d/o", "w/o"] | None = None
    parentage_name_en: LongName | None = None
    parentage_name_ur: LongName | None = None
    caste: Name | None = None
    date_of_birth: Day | None = None
    birth_year: int | None = Field(default=None, ge=1900)
    birth_year_estimated: bool | None = None
    gender: Literal["M", "F", "X"] | None = None
    nationality: Country | None = None
    notes: Notes | None = None

    @field_validator("given_name_en", "family_name_en", "parentage_name_en")
    @classmethod
    def _latin(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and _ARABIC_LETTER.search(v):
            raise script_error("name_script_arabic", other=info.field_name.removesuffix("_en") + "_ur")
        return v

    @field_validator("given_name_ur", "family_name_ur", "parentage_name_ur")
    @classmethod
    def _urdu(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and _LATIN_LETTER.search(v):
            raise script_error("name_script_latin", other=info.field_name.removesuffix("_ur") + "_en")
        return v

    @field_validator("date_of_birth")
    @classmethod
    def _dob(cls, v: date | None) -> date | None:
        if v is not None and v.year < 1900:
            raise PydanticCustomError("date_before_1900", "{what} before 1900", {"what": "date_of_birth"})
        return _not_future(v, "date_of_birth")

    @field_validator("birth_year")
    @classmethod
    def _by(cls, v: int | None) -> int | None:
        if v is not None and v > today().year:
            raise PydanticCustomError("year_in_future", "{what} is in the future", {"what": "birth_year"})
        return v


class PersonCreate(_PersonFields):
    """A new person. At least one given name (English or Urdu script); documents are optional."""

    gender: Literal["M", "F", "X"] = "X"
    nationality: Country = "PK"
    birth_year_estimated: bool = False
    aliases: list[AliasIn] = Field(default_factory=list, max_length=50)
    documents: list[DocumentIn] = Field(default_factory=list, max_length=10)
    addresses: list[AddressIn] = Field(default_factory=list, max_length=10)
    phones: list[_text(40)] = Field(default_factory=list, max_length=10)
    descriptions: list[DescriptionIn] = Field(default_factory=list, max_length=10)
    unit: _text(200) | None = None  # jurisdiction of the record; default: the registering user's unit


# The version of the copy an edit was made on: a record changed since is refused with 409 naming ``version``
# rather than silently losing that change. Optional: an edit that sends none is applied to what is there.
Version = Annotated[
    int | None,
    Field(
        ge=1,
        le=MAX_ID,
        description="the record's `version` when it was read; a record changed since is refused (409)",
    ),
]


class DescriptionUpdate(DescriptionIn):
    """A correction of a recorded description: all its fields and marks are replaced by these."""

    version: Version = None


class EntryRemoval(Strict):
    """Why an entry recorded in error (a document, an alias, an address, a phone) is taken off a record: the
    audit trail keeps what it held and this reason."""

    reason: _text(500, min_length=0) | None = None  # none or blank: refused by the service, naming it


class PersonUpdate(_PersonFields):
    """Partial update: only the fields sent change (send null to clear an optional field)."""

    version: Version = None


class CaseCreate(Strict):
    police_station: _text(150)
    district: _text(100) | None = None
    fir_number: int = Field(ge=1, le=999_999)
    registered_on: Day
    year: int = Field(ge=1947)
    occurred_on: Day | None = None
    place: Text500 | None = None
    sections: _text(300)
    notes: Notes | None = None

    @field_validator("registered_on")
    @classmethod
    def _reg(cls, v: date) -> date:
        return _not_future(v, "registered_on")

    @field_validator("year")
    @classmethod
    def _year(cls, v: int, info: ValidationInfo) -> int:
        registered = info.data.get("registered_on")
        if registered is not None and v != registered.year:
            raise ValueError("year must be the year of registered_on (FIR numbers restart each year)")
        return v

    @field_validator("occurred_on")
    @classmethod
    def _occ(cls, v: date | None, info: ValidationInfo) -> date | None:
        registered = info.data.get("registered_on")
        if v is not None and registered is not None and v > registered:
            raise PydanticCustomError("after_other_date", "{what} is after {other}", AFTER_REGISTERED)
        return _not_future(v, "occurred_on")


class CaseUpdate(Strict):
    version: Version = None
    occurred_on: Day | None = None
    place: Text500 | None = None
    sections: _text(300) | None = None
    notes: Notes | None = None

    @field_validator("occurred_on")
    @classmethod
    def _occ(cls, v: date | None) -> date | None:
        return _not_future(v, "occurred_on")


class _StatusChangeIn(Strict):
    """A status change: when it took effect (not in the future) and a note; subclasses give the status."""

    effective_on: Day | None = None
    note: Text500 | None = None

    @field_validator("effective_on")
    @classmethod
    def _eff(cls, v: date | None) -> date | None:
        return _not_future(v, "effective_on")


class CaseStatusIn(_StatusChangeIn):
    status: CaseStatus


class PartyStatusIn(_StatusChangeIn):
    status: PartyStatus


class LinkCreate(Strict):
    person_id: int | None = Field(None, ge=1, le=MAX_ID, description="the person's record number, or:")
    cnic: _text(20) | None = Field(None, description="the person's CNIC (13 digits, dashes optional)")
    role: PartyRole
    status: PartyStatus = PartyStatus.NAMED
    effective_on: Day | None = Field(
        None, description="The day the person was named in the case (not before the FIR), where known."
    )
    modus_operandi: Text1000 | None = None
    gang: _text(200) | None = None

    @field_validator("effective_on")
    @classmethod
    def _eff(cls, v: date | None) -> date | None:
        return _not_future(v, "effective_on")


class LinkUpdate(Strict):
    modus_operandi: Text1000 | None = None
    gang: _text(200) | None = None
    version: Version = None


class ArrestIn(Strict):
    arrested_on: Day
    place: Text500 | None = None
    arrested_by: _text(200) | None = None
    notes: Text1000 | None = None

    @field_validator("arrested_on")
    @classmethod
    def _on(cls, v: date) -> date:
        return _not_future(v, "arrested_on")


class ConvictionIn(Strict):
    court: _text(200)
    convicted_on: Day
    sentence: Text1000
    notes: Text1000 | None = None

    @field_validator("convicted_on")
    @classmethod
    def _on(cls, v: date) -> date:
        return _not_future(v, "convicted_on")


class FlagConfirmIn(Strict):
    """The home district's answer to a flag raised from outside it."""

    action: Literal["confirm", "reject"]
    reason: _text(500)


class FlagIn(Strict):
    kind: FlagKind
    case_id: int = Field(ge=1, le=MAX_ID)
    action: Literal["raise", "clear"] = "raise"
    reason: Text500


class MergeIn(Strict):
    survivor_id: int = Field(ge=1, le=MAX_ID)
    merged_id: int = Field(ge=1, le=MAX_ID)
    reason: Text500


# ------------------------------------------------------------------------------------------ coercion

S = TypeVar("S", bound=BaseModel)


def errors_of(exc: PydanticValidationError, prefix: str = "") -> list[dict]:
    """Pydantic's errors as details: ``field`` (dotted, after ``prefix``), ``message``, the error's ``type``
    and its ``limit`` where it has one (:func:`crms.errors.validation_detail`)."""
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        name = ".".join(([prefix] if prefix else []) + loc) or prefix or None
        out.append(validation_detail(err, name, err.get("msg", "invalid").removeprefix("Value error, ")))
    return out


def coerce(schema: type[S], data: Any, *, prefix: str = "") -> S:
    """``data`` as ``schema`` (a dict, or already the schema); invalid → ValidationError naming the field."""
    if isinstance(data, schema):
        return data
    if isinstance(data, BaseModel):
        data = data.model_dump(exclude_unset=True)
    try:
        return schema.model_validate(data)
    except PydanticValidationError as exc:
        details = errors_of(exc, prefix)
        first = details[0]
        where = first["field"] or schema.__name__
        raise ValidationError(f"{where}: {first['message']}", field=first["field"], details=details) from None
