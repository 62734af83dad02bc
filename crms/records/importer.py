"""Bulk import of digitised legacy registers: ``crms import persons FILE.csv|FILE.xlsx``.

The template (columns, formats, the duplicate key) is documented in ``docs/IMPORT.md``. Rules:

* **All or nothing** by default: every row is validated first (file format, columns, values, reference data,
  identity documents already in the database); any invalid row → nothing is written and the report lists every
  bad row with its row number, column and reason. ``skip_invalid`` imports the valid rows and writes the
  rejected ones, with reasons, to a reject file.
* **Idempotent**: a row whose person is already in the database is skipped. The key is the CNIC; for a row
  without CNIC it is normalised name + parentage + date of birth (or birth year) + district. A CNIC already
  recorded for a person with another name and parentage is an error (the registration rule of
  :func:`crms.records.services.register_person`: an identity document belongs to one person only).
* **Same rules as a single registration**: each row becomes a :class:`crms.records.schemas.PersonCreate`
  (field limits, scripts, dates not in the future), CNICs go through :mod:`crms.records.cnic`, phones
  through :mod:`crms.records.phones`, districts and stations through
  :class:`crms.records.reference.ReferenceIndex`, name keys through the records services. Only the writing
  differs: Core bulk inserts in the caller's transaction, one audit entry for the whole import.

Row numbers are spreadsheet row numbers: the header is row 1, the first person row 2.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import func, insert, select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from crms.access import audit
from crms.access.policy import Permission, authorize, unit_contains
from crms.access.principal import Principal
from crms.db import Base, sqlite_file
from crms.errors import PermissionDenied, ValidationError, rule_error
from crms.records import import_stage
from crms.records.cnic import ascii_digits, format_cnic
from crms.records.models import Address, IdentityDocument, Person, PersonAlias, PhoneNumber
from crms.records.phones import parse_phone
from crms.records.reference import ReferenceIndex, unit_path
from crms.records.schemas import SCRIPT_MESSAGES, PersonCreate, errors_of
from crms.records.services.common import CNIC_LIKE
from crms.records.services.documents import normalise_document
from crms.records.services.names import name_sound, normalise_name
from crms.records.services.persons import _SCALAR_FIELDS, _check_person_fields
from crms.records.written_dates import UnreadDate, read_written_date
from crms.timeutil import utcnow

REQUIRED_COLUMNS = (
    "cnic",
    "name",
    "father_name",
    "name_urdu",
    "father_name_urdu",
    "gender",
    "date_of_birth",
    "district",
    "police_station",
    "caste",
)
OPTIONAL_COLUMNS = (
    "relation",
    "family_name",
    "family_name_urdu",
    "alias",
    "alias_urdu",
    "phone",
    "address",
    "nationality",
    "notes",
)
ALL_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
# Added by the reject file; ignored on input, so a corrected reject file can be imported as it is.
IGNORED_COLUMNS = ("row", "errors")
LIST_SEPARATOR = ";"  # several aliases / phones in one cell
MAX_CELL = 5000  # longer cells are refused before any other check
BATCH = 500  # rows per "already in the database?" query

# Two filled-in rows, as the import page and ``crms import template --examples`` show them: one with a CNIC,
# Urdu names, aliases and a phone, one with the birth year only. A test imports them as they are.
TEMPLATE_EXAMPLES: tuple[dict[str, str], ...] = (
    {
        "cnic": "54400-7654321-3",
        "name": "Nasir Ahmed",
        "father_name": "Ghulam Rasool",
        "name_urdu": "ناصر احمد",
        "father_name_urdu": "غلام رسول",
        "gender": "M",
        "date_of_birth": "14/03/1985",
        "district": "Quetta",
        "police_station": "Cantt",
        "caste": "Bangulzai",
        "alias": "Nasiru;Nasir Bangulzai",
        "phone": "0300-1234567",
    },
    {
        "name": "Gul Khan",
        "father_name": "Sher Khan",
        "name_urdu": "گل خان",
        "father_name_urdu": "شیر خان",
        "gender": "M",
        "date_of_birth": "1979",
        "district": "Pishin",
        "caste": "Tareen",
    },
)


def template_csv(*, examples: bool = False) -> str:
    """The register's template: a CSV of every column, in order, with the byte-order mark that makes Excel
    read it as UTF-8 (the Urdu columns); with ``examples`` the filled-in rows too. Without them by default,
    so that no example person is imported by a register filled in below them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ALL_COLUMNS)
    for row in TEMPLATE_EXAMPLES if examples else ():
        writer.writerow([row.get(column, "") for column in ALL_COLUMNS])
    return "\ufeff" + out.getvalue()


# PersonCreate field (as Pydantic reports it) -> template column.
_FIELD_TO_COLUMN = {
    "given_name_en": "name",
    "family_name_en": "family_name",
    "given_name_ur": "name_urdu",
    "family_name_ur": "family_name_urdu",
    "parentage_relation": "relation",
    "parentage_name_en": "father_name",
    "parentage_name_ur": "father_name_urdu",
    "caste": "caste",
    "date_of_birth": "date_of_birth",
    "birth_year": "date_of_birth",
    "gender": "gender",
    "nationality": "nationality",
    "notes": "notes",
    "documents": "cnic",
    "addresses": "address",
    "phones": "phone",
}


# ------------------------------------------------------------------------------------------ report


def _kind_of(exc: ValidationError) -> dict | None:
    """The kind of a service's refusal (its one detail with a ``type``), for the pages to say it."""
    return exc.details[0] if len(exc.details) == 1 and exc.details[0].get("type") else None


@dataclass
class RowError:
    row: int
    column: str | None
    message: str
    detail: dict | None = None  # the rule's kind of error, as a service's detail has it (type, values, limit)

    def as_dict(self) -> dict:
        out = {"row": self.row, "column": self.column, "message": self.message}
        kind = {k: self.detail[k] for k in ("type", "values", "limit") if k in (self.detail or {})}
        return out | kind

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


@dataclass
class ImportReport:
    file: str
    rows: int = 0
    valid: int = 0
    imported: int = 0
    already_present: int = 0
    rejected: int = 0
    dry_run: bool = False
    skip_invalid: bool = False
    written: bool = False
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)
    reject_file: str | None = None
    person_ids: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the import did what was asked: no errors, or errors with skip_invalid."""
        return not self.errors or self.skip_invalid

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "ok": self.ok,
            "rows": self.rows,
            "valid": self.valid,
            "imported": self.imported,
            "already_present": self.already_present,
            "rejected": self.rejected,
            "dry_run": self.dry_run,
            "skip_invalid": self.skip_invalid,
            "written": self.written,
            "reject_file": self.reject_file,
            "errors": [e.as_dict() for e in self.errors],
            "warnings": [w.as_dict() for w in self.warnings],
        }


class ImportFileError(ValidationError):
    """The file as a whole cannot be read (format, encoding, columns, empty)."""


# ------------------------------------------------------------------------------------------ reading


@dataclass
class Table:
    columns: list[str]  # normalised names, in file order
    raw_columns: list[str]
    rows: list[tuple[int, dict[str, str]]]  # (spreadsheet row number, column -> text)


def _norm_column(name: Any) -> str:
    text = "" if name is None else str(name)
    return "_".join(text.strip().casefold().replace("-", " ").split())


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_table(path: Path | str, data: bytes | None = None) -> Table:
    """Read a .csv (UTF-8, with or without BOM) or .xlsx file; ImportFileError(field='file') saying what is
    wrong with it."""
    path = Path(path)
    suffix = path.suffix.casefold()
    if suffix not in (".csv", ".xlsx"):
        message = f"{path.name}: unsupported file type '{path.suffix}' (use .csv or .xlsx)"
        raise rule_error("file", "file_type", message, error=ImportFileError, suffix=path.suffix)
    if data is None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ImportFileError(f"{path}: no such file", field="file") from None
        except OSError as exc:
            raise ImportFileError(f"{path}: cannot read ({exc.strerror})", field="file") from None
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        raise ImportFileError(f"{path.name}: the file is empty", field="file")
    if suffix == ".xlsx":
        raw_rows = _xlsx_rows(path, data)
    else:
        raw_rows = _csv_rows(path, data)
    try:
        first_no, header = next(raw_rows)
    except StopIteration:
        raise ImportFileError(f"{path.name}: the file is empty", field="file") from None
    columns = [_norm_column(c) for c in header]
    while columns and not columns[-1]:  # trailing empty header cells (spreadsheets)
        columns.pop()
    _check_columns(path, columns, header)
    rows = []
    width = len(columns)
    for number, values in raw_rows:
        cells = [v.strip() if type(v) is str else _cell_text(v) for v in values]
        if not any(cells):
            continue  # blank line
        if len(cells) > width and any(cells[width:]):
            message = f"{path.name}: row {number} has {len(cells)} cells but the header has {width} columns"
            values = {"row": number, "cells": len(cells), "columns": width}
            raise rule_error("file", "row_too_many_cells", message, error=ImportFileError, **values)
        cells += [""] * (width - len(cells))
        rows.append((number, dict(zip(columns, cells[:width], strict=True))))
    if not rows:
        raise ImportFileError(f"{path.name}: the file has a header but no person rows", field="file")
    return Table(columns=columns, raw_columns=[_cell_text(c) for c in header[: len(columns)]], rows=rows)


def _check_columns(path: Path, columns: list[str], header: list[Any]) -> None:
    seen: dict[str, int] = {}
    for i, c in enumerate(columns):
        if not c:
            message = f"{path.name}: column {i + 1} of the header has no name"
            raise rule_error("file", "column_unnamed", message, error=ImportFileError, column=i + 1)
        if c in seen:
            message = f"{path.name}: column '{c}' appears twice in the header"
            raise rule_error(c, "column_twice", message, error=ImportFileError, column=c)
        seen[c] = i
    unknown = [c for c in columns if c not in ALL_COLUMNS and c not in IGNORED_COLUMNS]
    if unknown:
        message = (
            f"{path.name}: unknown column(s) {', '.join(unknown)}; the template has: {', '.join(ALL_COLUMNS)}"
        )
        raise rule_error(
            unknown[0], "columns_unknown", message, error=ImportFileError, columns=", ".join(unknown)
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in seen]
    if missing:
        message = f"{path.name}: missing required column(s) {', '.join(missing)} (see docs/IMPORT.md)"
        raise rule_error(
            missing[0], "columns_missing", message, error=ImportFileError, columns=", ".join(missing)
        )


def _csv_rows(path: Path, data: bytes) -> Iterator[tuple[int, list[str]]]:
    if data[:4] == b"PK\x03\x04":
        raise ImportFileError(
            f"{path.name}: this is a zip/Excel file, not CSV text; name it .xlsx or save it as CSV UTF-8",
            field="file",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        offset = exc.start
        line = data.count(b"\n", 0, offset) + 1
        bad = data[offset : offset + 1].hex()
        message = (
            f"{path.name}: not UTF-8 text: byte 0x{bad} at byte offset {offset} (line {line}); "
            "save the file as 'CSV UTF-8'"
        )
        raise rule_error("file", "file_not_utf8", message, error=ImportFileError, line=line) from None
    if "\x00" in text:
        raise ImportFileError(f"{path.name}: contains NUL characters; not a text CSV file", field="file")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    number = 0
    try:
        for values in reader:
            number += 1
            yield number, values
    except csv.Error as exc:
        message = f"{path.name}: malformed CSV near line {reader.line_num}: {exc}"
        line = reader.line_num
        raise rule_error("file", "csv_malformed", message, error=ImportFileError, line=line) from None


def _xlsx_rows(path: Path, data: bytes) -> Iterator[tuple[int, list[Any]]]:
    """The rows of the first sheet. Every XML part is parsed with defusedxml's protections (openpyxl uses it
    when it is installed; it is a core dependency): a DTD or entity declaration (billion laughs, external
    entities) is refused with ImportFileError, never expanded or fetched."""
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException

    if data[:4] != b"PK\x03\x04":
        raise ImportFileError(
            f"{path.name}: not an Excel .xlsx workbook (the file content is not a zip archive"
            + ("; it looks like CSV text, name it .csv)" if b"," in data[:2000] else ")"),
            field="file",
        )
    import openpyxl
    import openpyxl.xml

    if openpyxl.xml.DEFUSEDXML is not True:  # e.g. OPENPYXL_DEFUSEDXML=False in the environment
        raise ImportFileError(
            f"{path.name}: refused: .xlsx files are read only with defusedxml's protections, which are off "
            "(OPENPYXL_DEFUSEDXML); save the sheet as CSV UTF-8",
            field="file",
        )
    wb = None
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        ws = wb.worksheets[0]
        for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
            yield number, list(values)
    except (
        DefusedXmlException,
        ParseError,
        zipfile.BadZipFile,
        KeyError,
        OSError,
        ValueError,
        TypeError,
    ) as exc:
        raise _xlsx_refusal(path, exc) from None
    finally:
        if wb is not None:
            wb.close()


def _xlsx_refusal(path: Path, exc: BaseException) -> ImportFileError:
    """The clear refusal for an .xlsx that cannot be read safely (openpyxl wraps the parser's error)."""
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException

    seen, cause = set(), exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, DefusedXmlException):
            return ImportFileError(
                f"{path.name}: refused: the workbook's XML declares entities or a DTD "
                f"({type(cause).__name__}), which a spreadsheet never needs (an entity-expansion or "
                "external-entity attack); save the sheet again as a plain .xlsx or as CSV UTF-8",
                field="file",
            )
        if isinstance(cause, ParseError):
            return ImportFileError(
                f"{path.name}: refused: the workbook's XML is malformed or uses undeclared entities "
                f"({cause})",
                field="file",
            )
        cause = cause.__cause__ or cause.__context__
    return ImportFileError(f"{path.name}: not a readable .xlsx workbook ({exc})", field="file")


# ------------------------------------------------------------------------------------------ validation


@dataclass
class Prepared:
    """A valid row, ready to insert."""

    row: int
    person: dict[str, Any]
    cnic: str | None
    key: tuple  # the duplicate key: ("cnic", digits) or ("name", name_key, dob/birth year, district)
    address: dict[str, Any] | None
    phones: list[tuple[str, str]]
    aliases: list[tuple[str, str]]
    raw: dict[str, str]


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.split(LIST_SEPARATOR) if p.strip()]


class _Cells(dict):
    """The row's cells; a column absent from the file reads as ''."""

    def __missing__(self, key: str) -> str:
        return ""


_PHONE_SEP = re.compile(r"[\s\-().]+")


def _pk_mobile_pattern():
    try:
        import phonenumbers

        meta = phonenumbers.PhoneMetadata.metadata_for_region("PK")
        return re.compile(meta.mobile.national_number_pattern, re.ASCII)
    except Exception:  # noqa: BLE001 - no fast path then
        return None


class _Validator:
    def __init__(self, session: Session, principal: Principal):
        self.session = session
        self.principal = principal
        self.index = ReferenceIndex.from_session(session)
        # Registers repeat the same districts, stations and (common) names on many rows: cache the answers.
        self._places: dict[tuple[str, str], tuple] = {}
        self._normal: dict[str, str] = {}
        self._sounds: dict[tuple, str] = {}
        self._mobile = _pk_mobile_pattern()

    def place(self, district_text: str, station_text: str) -> tuple:
        """(district, station, unit, [(column, error)]) for the row's district and police station cells."""
        key = (district_text, station_text)
        hit = self._places.get(key)
        if hit is not None:
            return hit
        problems: list[tuple[str, str, dict | None]] = []
        district = station = None
        if district_text:
            try:
                district = self.index.district(district_text)
            except ValidationError as exc:
                problems.append(("district", exc.message, _kind_of(exc)))
        if station_text:
            try:
                station = self.index.police_station(station_text, district)
            except ValidationError as exc:
                problems.append(("police_station", exc.message, _kind_of(exc)))
        if station is not None and district is None and not district_text:
            district = self.index.district(station.district_code)
        unit = self.principal.unit
        if station is not None:
            unit = station.unit_path
        elif district is not None:
            unit = unit_path(district)
        if (district or station) and not unit_contains(self.principal.unit, unit):
            values = {"unit": unit, "yours": self.principal.unit}
            problems.append(
                (
                    "police_station" if station is not None else "district",
                    f"{unit} is outside your jurisdiction ({self.principal.unit})",
                    {"type": "outside_jurisdiction", "values": values},
                )
            )
        hit = (district, station, unit, problems)
        self._places[key] = hit
        return hit

    def phone(self, text: str):
        """(e164, kind, warnings); Pakistani mobile numbers in the common forms take a fast path that gives
        exactly what :func:`crms.records.phones.parse_phone` gives for them (same phonenumbers metadata)."""
        digits = _PHONE_SEP.sub("", ascii_digits(text))
        national = None
        if digits.startswith("+92"):
            national = digits[3:]
        elif digits.startswith("0092"):
            national = digits[4:]
        elif digits.startswith("03"):
            national = digits[1:]
        if national is not None and self._mobile is not None and self._mobile.fullmatch(national):
            return "+92" + national, "mobile", []
        phone = parse_phone(text, field_name="phone")
        return phone.e164, phone.kind, phone.warnings

    def name_keys(self, person) -> tuple[str, str]:
        """(name_key, name_sound) as :func:`crms.records.services.names._refresh_name_keys` computes them
        (a test checks they agree), with the normalisation of each name part cached: registers repeat the
        same given and father names on many rows."""
        en = " ".join(x for x in (person.given_name_en, person.family_name_en) if x)
        ur = " ".join(x for x in (person.given_name_ur, person.family_name_ur) if x)
        parent = person.parentage_name_en or person.parentage_name_ur or ""
        name_key = (self._norm(en or ur) + "|" + self._norm(parent))[:300]
        sound_key = (person.given_name_en, person.family_name_en) if en else (ur, None)
        sound = self._sounds.get(sound_key)
        if sound is None:
            sound = self._sounds[sound_key] = name_sound(*sound_key)
        return name_key, sound

    def _norm(self, text: str) -> str:
        hit = self._normal.get(text)
        if hit is None:
            hit = self._normal[text] = normalise_name(text)
            if len(self._normal) > 500_000:
                self._normal.clear()
        return hit

    def row(self, number: int, raw: dict[str, str]) -> tuple[Prepared | None, list[RowError], list[RowError]]:
        errors: list[RowError] = []
        warnings: list[RowError] = []

        def err(column: str | None, message: str, detail: dict | None = None) -> None:
            errors.append(RowError(number, column, message, detail))

        if max(map(len, raw.values()), default=0) > MAX_CELL:
            for column, cell in raw.items():
                if len(cell) > MAX_CELL:
                    message = f"text is too long ({len(cell)} characters; at most {MAX_CELL})"
                    err(column, message, {"type": "string_too_long", "limit": MAX_CELL})
            return None, errors, warnings
        g = _Cells(raw)

        # --- identity document
        cnic = None
        if g["cnic"]:
            try:
                number_, w = normalise_document("CNIC", g["cnic"], field_name="cnic")
                cnic = number_
                warnings += [RowError(number, "cnic", x) for x in w]
            except ValidationError as exc:
                err("cnic", exc.message, _kind_of(exc))

        # --- gender, relation, date of birth
        gender = g["gender"].upper() or "X"
        gender = {"MALE": "M", "FEMALE": "F"}.get(gender, gender)
        if gender not in ("M", "F", "X"):
            message = f"'{g['gender']}' is not a gender (use M, F or X)"
            err("gender", message, {"type": "gender_unknown", "values": {"value": g["gender"]}})
        relation = g["relation"].casefold().replace(" ", "") or None
        if relation is not None:
            relation = {"so": "s/o", "do": "d/o", "wo": "w/o"}.get(relation.replace("/", ""), relation)
            if relation not in ("s/o", "d/o", "w/o"):
                message = f"'{g['relation']}' is not a relation (use s/o, d/o or w/o)"
                err("relation", message, {"type": "relation_unknown", "values": {"value": g["relation"]}})
        elif g["father_name"] or g["father_name_urdu"]:
            relation = "d/o" if gender == "F" else "s/o"
        dob = birth_year = None
        try:
            born = read_written_date(g["date_of_birth"])
        except UnreadDate as exc:
            err("date_of_birth", str(exc), {"type": exc.kind, "values": exc.values})
        else:
            birth_year, dob = (born, None) if isinstance(born, int) else (None, born)

        # --- district and police station (reference data)
        district, station, unit, problems = self.place(g["district"], g["police_station"])
        for column, message, detail in problems:
            err(column, message, detail)

        # --- everything else through the registration schema (limits, scripts, future dates)
        payload: dict[str, Any] = {
            "given_name_en": g["name"] or None,
            "family_name_en": g["family_name"] or None,
            "given_name_ur": g["name_urdu"] or None,
            "family_name_ur": g["family_name_urdu"] or None,
            "parentage_relation": relation if relation in ("s/o", "d/o", "w/o") else None,
            "parentage_name_en": g["father_name"] or None,
            "parentage_name_ur": g["father_name_urdu"] or None,
            "caste": g["caste"] or None,
            "date_of_birth": dob,
            "birth_year": birth_year,
            "gender": gender if gender in ("M", "F", "X") else "X",
            "nationality": g["nationality"] or "PK",
            "notes": g["notes"] or None,
            "aliases": [{"name": a, "script": "latin"} for a in _split(g["alias"])]
            + [{"name": a, "script": "urdu"} for a in _split(g["alias_urdu"])],
            "phones": _split(g["phone"]),
        }
        if g["address"]:
            payload["addresses"] = [{"kind": "permanent", "text": g["address"]}]
        try:
            data = PersonCreate.model_validate(payload)
        except PydanticValidationError as exc:
            data = None
            for d in errors_of(exc):
                top = (d["field"] or "").split(".")[0]
                column = _FIELD_TO_COLUMN.get(top, top or None)
                if top == "aliases":
                    idx = int(d["field"].split(".")[1]) if d["field"].count(".") >= 1 else 0
                    column = "alias" if idx < len(_split(g["alias"])) else "alias_urdu"
                if d.get("type") in SCRIPT_MESSAGES:  # the other spelling's place: a column here
                    d = _other_script_column(d)
                err(column, d["message"], d if d.get("type") else None)
        phones: list[tuple[str, str]] = []
        for i, text in enumerate(_split(g["phone"])):
            try:
                e164, kind, phone_warnings = self.phone(text)
            except ValidationError as exc:
                if len(_split(g["phone"])) == 1:
                    err("phone", exc.message, _kind_of(exc))
                else:
                    err("phone", f"#{i + 1}: {exc.message}")
                continue
            warnings += [RowError(number, "phone", w) for w in phone_warnings]
            if e164 not in {p for p, _ in phones}:
                phones.append((e164, kind))
        if data is None or errors:
            return None, errors, warnings

        person = SimpleNamespace(**{k: getattr(data, k) for k in _SCALAR_FIELDS})
        try:
            _check_person_fields(person)
        except ValidationError as exc:
            err(_FIELD_TO_COLUMN.get(exc.field or "", exc.field), exc.message, _kind_of(exc))
            return None, errors, warnings
        person.name_key, person.name_sound = self.name_keys(person)
        if cnic and gender in ("M", "F"):
            hint = "M" if int(cnic[-1]) % 2 else "F"
            if hint != gender:
                warnings.append(
                    RowError(number, "cnic", f"last digit is usual for {hint}, but gender is {gender}")
                )
        record = {k: getattr(person, k) for k in _SCALAR_FIELDS}
        record.update(unit_path=unit, name_key=person.name_key, name_sound=person.name_sound)
        district_code = district.code if district is not None else None
        address = None
        if district is not None or station is not None or g["address"]:
            address = {
                "kind": "permanent",
                "district_code": district_code,
                "police_station_code": station.code if station is not None else None,
                "text": data.addresses[0].text if data.addresses else None,
            }
        if cnic:
            key: tuple = ("cnic", cnic)
        else:
            when = person.date_of_birth.isoformat() if person.date_of_birth else person.birth_year
            key = ("name", person.name_key, when, district_code)
        aliases = [(a.name, a.script.value) for a in data.aliases]
        prepared = Prepared(number, record, cnic, key, address, phones, aliases, raw)
        return prepared, errors, warnings


def _other_script_column(detail: dict) -> dict:
    """A name in the other script (an Urdu name in ``name``, an Urdu alias in ``alias``) names the column
    its spelling goes in, not the API's field or an alias's script."""
    kind, values = detail["type"], detail["values"]
    if kind.startswith("alias_"):
        other = "alias_urdu" if values["script"] == "urdu" else "alias"
        kind = kind.replace("alias_", "name_", 1)
    else:
        other = _FIELD_TO_COLUMN.get(values["other"], values["other"])
    message = SCRIPT_MESSAGES[kind].format(other=other)
    return {**detail, "type": kind, "values": {"other": other}, "message": message}


def _twice(number: int, key: tuple, first: int) -> RowError:
    """A row whose person (by CNIC, else by name, parentage, birth and district) an earlier row has."""
    message = f"{_key_text(key)} is also in row {first}"
    if key[0] == "cnic":
        detail = {"type": "row_same_cnic", "values": {"cnic": format_cnic(key[1]), "row": first}}
        return RowError(number, "cnic", message, detail)
    return RowError(number, "name", message, {"type": "row_same_person", "values": {"row": first}})


def _key_text(key: tuple) -> str:
    if key[0] == "cnic":
        return f"CNIC {format_cnic(key[1])}"
    return "the same name, parentage, date of birth and district"


def _existing(session: Session, rows: list[Prepared]) -> dict[int, tuple[str, int, str]]:
    """row number -> ('same' | 'conflict', person id, what) for rows whose key is already in the database."""
    out: dict[int, tuple[str, int, str]] = {}
    by_cnic = [r for r in rows if r.cnic]
    for start in range(0, len(by_cnic), BATCH):
        chunk = by_cnic[start : start + BATCH]
        found = {
            number: (pid, name_key, name)
            for number, doc_type, pid, name_key, name in session.execute(
                # by number only (its own index): a plan that cannot go wrong on stale statistics
                select(
                    IdentityDocument.number,
                    IdentityDocument.doc_type,
                    Person.id,
                    Person.name_key,
                    Person.given_name_en,
                )
                .join(Person, Person.id == IdentityDocument.person_id)
                .where(IdentityDocument.number.in_([r.cnic for r in chunk]))
            )
            if doc_type in CNIC_LIKE
        }
        for r in chunk:
            hit = found.get(r.cnic)
            if hit is None:
                continue
            pid, name_key, name = hit
            if name_key == r.person["name_key"]:
                out[r.row] = ("same", pid, "")
            else:
                out[r.row] = ("conflict", pid, name or "")
    by_name = [r for r in rows if not r.cnic]
    for start in range(0, len(by_name), BATCH):
        chunk = by_name[start : start + BATCH]
        keys = {r.person["name_key"] for r in chunk}
        sounds = {r.person["name_sound"] for r in chunk}  # indexed (name_sound, birth_year): no table scan
        have: dict[tuple, int] = {}
        q = (
            select(Person.id, Person.name_key, Person.date_of_birth, Person.birth_year, Address.district_code)
            .outerjoin(Address, Address.person_id == Person.id)
            .where(
                Person.name_sound.in_(sounds),
                Person.name_key.in_(keys),
                Person.merged_into_id.is_(None),
            )
        )
        for pid, name_key, dob, by, district in session.execute(q):
            when = dob.isoformat() if dob else by
            have.setdefault(("name", name_key, when, district), pid)  # any of the person's addresses
        for r in chunk:
            pid = have.get(r.key)
            if pid is not None:
                out[r.row] = ("same", pid, "")
    return out


# ------------------------------------------------------------------------------------------ the service


@dataclass
class _Plan:
    """What validation found: the report so far and the rows to write."""

    path: Path
    table: Table
    report: ImportReport
    fresh: list[Prepared]
    rejected: dict[int, list[RowError]]
    reject_file: Path | str | None


def import_persons(
    session: Session,
    principal: Principal,
    path: Path | str,
    *,
    dry_run: bool = False,
    skip_invalid: bool = False,
    reject_file: Path | str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> ImportReport:
    """Validate and import the persons of a CSV/XLSX file into the caller's transaction.

    Returns the report. When a row is invalid and ``skip_invalid`` is false nothing is written (the report
    has ``ok == False``; only the audit entry of the refused import is added). A file that cannot be read at
    all raises :class:`ImportFileError`. ``progress(stage, done, total)`` is called as rows are processed.
    :func:`import_persons_file` does the same without holding the write lock while it validates."""
    authorize(principal, Permission.IMPORT, unit=principal.unit)
    plan = _validate(session, principal, path, dry_run, skip_invalid, reject_file, progress)
    return _write(session, principal, plan, progress, recheck=False)


def import_persons_file(
    db,
    principal: Principal,
    path: Path | str,
    *,
    dry_run: bool = False,
    skip_invalid: bool = False,
    reject_file: Path | str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> ImportReport:
    """:func:`import_persons` in two transactions, so that a long import does not stall the server:

    1. **validate** in a read transaction (``Database.read_transaction``: on SQLite no write lock, so
       requests, reads and writes alike, go on while the file is read and every row checked);
    2. **write** in one short write transaction, which first checks again, on the rows to write, what
       another writer may have added meanwhile (a CNIC registered since: the row is then already present
       or rejected, by the same rules), then bulk-inserts and audits.

    All or nothing holds as before: the write is one transaction, so an error or a ``kill -9`` during it
    leaves nothing, and validation writes nothing. A refused import (invalid rows, nothing written) is
    audited in the write transaction; a caller without ``import`` (``access.refused``) and a file that cannot
    be read (``records.import``, refused) are audited in a transaction of their own before the error is
    raised."""
    try:
        authorize(principal, Permission.IMPORT, unit=principal.unit)
    except PermissionDenied as exc:
        audit.record_refusal(
            db, principal, "access.refused", exc.message, query=f"import persons {Path(path).name}"[:500]
        )
        raise
    try:
        with db.read_transaction() as session:
            plan = _validate(session, principal, path, dry_run, skip_invalid, reject_file, progress)
            staged = None
            if plan.fresh and not dry_run and (skip_invalid or not plan.rejected):
                staged = _stage(session, principal, plan.fresh)  # the rows as parameter tuples, lock-free
    except ImportFileError as exc:  # nothing written; the attempt is audited
        audit.record_refusal(
            db,
            principal,
            "records.import",
            exc.message[:1000],
            target_type="file",
            target_id=Path(path).name[:64],
        )
        raise
    db_file = sqlite_file(db.url) if staged is not None else None
    if db_file is None:
        with db.transaction() as session:
            return _write(session, principal, plan, progress, recheck=True, staged=staged)
    # SQLite: the rows go into a staging database first, in batches, without the write lock; the write
    # transaction then copies them in (crms.records.import_stage).
    with db.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        with import_stage.attached(raw, db_file):
            import_stage.fill(raw, _stage_tables(staged), progress)
            staged.in_stage = True
            with db.sessionmaker(bind=conn) as session, session.begin():
                return _write(session, principal, plan, progress, recheck=True, staged=staged)


def _validate(
    session: Session,
    principal: Principal,
    path: Path | str,
    dry_run: bool,
    skip_invalid: bool,
    reject_file: Path | str | None,
    progress: Callable[[str, int, int], None] | None,
) -> _Plan:
    path = Path(path)
    report = ImportReport(file=path.name, dry_run=dry_run, skip_invalid=skip_invalid)
    table = read_table(path)  # ImportFileError: rolled back; import_persons_file audits it
    report.rows = len(table.rows)
    validator = _Validator(session, principal)
    prepared: list[Prepared] = []
    rejected: dict[int, list[RowError]] = {}
    seen: dict[tuple, int] = {}
    total = len(table.rows)
    for i, (number, raw) in enumerate(table.rows):
        item, errors, warnings = validator.row(number, raw)
        report.warnings += warnings
        if item is not None:
            first = seen.get(item.key)
            if first is not None:
                errors.append(_twice(number, item.key, first))
                item = None
            else:
                seen[item.key] = number
        if errors:
            rejected[number] = errors
        else:
            prepared.append(item)
        if progress is not None and (i % 1000 == 999 or i == total - 1):
            progress("validate", i + 1, total)
    fresh = _sort_existing(session, prepared, report, rejected)
    return _Plan(path, table, report, fresh, rejected, reject_file)


def _sort_existing(
    session: Session, rows: list[Prepared], report: ImportReport, rejected: dict[int, list[RowError]]
) -> list[Prepared]:
    """The rows whose person is not in the database yet; the others are counted as already present, or
    rejected when their CNIC belongs to another person."""
    existing = _existing(session, rows)
    fresh: list[Prepared] = []
    for item in rows:
        hit = existing.get(item.row)
        if hit is None:
            fresh.append(item)
        elif hit[0] == "same":
            report.already_present += 1
        else:
            message = (
                f"{_key_text(item.key)} is already recorded for person {hit[1]} "
                f"({hit[2] or 'another name'}) with a different name or parentage"
            )
            detail = None
            if item.key[0] == "cnic":
                values = {"cnic": format_cnic(item.key[1]), "person": hit[1]}
                detail = {"type": "cnic_other_person", "values": values}
            rejected[item.row] = [RowError(item.row, "cnic", message, detail)]
    return fresh


def _write(
    session: Session,
    principal: Principal,
    plan: _Plan,
    progress: Callable[[str, int, int], None] | None,
    *,
    recheck: bool,
    staged: _Staged | None = None,
) -> ImportReport:
    report, rejected, fresh = plan.report, plan.rejected, plan.fresh
    if recheck and fresh:  # what another writer added since the validation's snapshot
        fresh = _sort_existing(session, fresh, report, rejected)
    report.errors = [e for number in sorted(rejected) for e in rejected[number]]
    report.rejected = len(rejected)
    report.valid = report.rows - report.rejected
    if rejected and plan.report.skip_invalid:
        report.reject_file = str(write_reject_file(plan.path, plan.table, rejected, plan.reject_file))
    outcome = "ok"
    if rejected and not plan.report.skip_invalid:
        outcome = "refused"
    elif not plan.report.dry_run:
        if staged is None and fresh:
            staged = _stage(session, principal, fresh)
        report.person_ids = _insert(session, staged, fresh, progress) if fresh else []
        report.imported = len(fresh)
        report.written = bool(fresh)
    audit.record(
        session,
        principal,
        "records.import.dry_run" if plan.report.dry_run else "records.import",
        target_type="file",
        target_id=plan.path.name[:64],
        outcome=outcome,
        query={
            "file": plan.path.name,
            "skip_invalid": plan.report.skip_invalid,
            "dry_run": plan.report.dry_run,
        },
        detail=(
            f"rows {report.rows}, imported {report.imported}, already present {report.already_present}, "
            f"rejected {report.rejected}"
        ),
    )
    return report


def reserve_ids(session: Session, table, n: int, first_row: dict | None = None) -> list[int]:
    """``n`` primary keys for ``table`` that no other writer can take, for bulk inserts without RETURNING.

    PostgreSQL: ``nextval`` of the column's sequence, n times (concurrency-safe). SQLite: ``first_row`` is
    inserted normally (its RETURNING id is the first id) which takes the database write lock until commit, so
    the following ids are free; the caller inserts the other rows with ids[1:]."""
    if n <= 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        seq = session.scalar(sql_text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name})
        rows = session.execute(sql_text("SELECT nextval(:s) FROM generate_series(1, :n)"), {"s": seq, "n": n})
        return sorted(r[0] for r in rows)
    if first_row is None:
        raise ValueError("SQLite needs the first row to take the write lock")
    first = session.execute(insert(table).returning(table.c.id), first_row).scalar_one()
    top = session.scalar(select(func.max(table.c.id)))
    if top != first:  # pragma: no cover - cannot happen while we hold the write lock
        raise RuntimeError("id allocation raced with another writer")
    return [first + i for i in range(n)]


@dataclass
class _Staged:
    """The rows to write as DBAPI parameter tuples, built before the write transaction (the Python work of
    the write: on SQLite it no longer holds the write lock). ``persons[i]`` and the child tuples lack the id
    columns; a child tuple starts with the index ``i`` of its person in ``rows``."""

    rows: list[Prepared]
    sqlite: bool
    stamp: dict[str, Any]
    person_columns: list[str]
    persons: list[tuple]
    children: dict[str, tuple[list[str], list[tuple]]]
    in_stage: bool = False  # the rows are in the attached staging database (SQLite; import_stage)


def _stage(session: Session, principal: Principal, rows: list[Prepared]) -> _Staged:
    """Convert ``rows`` (values as SQLAlchemy stores them on SQLite: dates as ISO text, timestamps as
    'YYYY-MM-DD HH:MM:SS.ffffff' UTC; PostgreSQL takes the Python values)."""
    now = utcnow()
    stamp = {
        "created_at": now,
        "created_by": principal.user_id,
        "updated_at": now,
        "updated_by": principal.user_id,
    }
    sqlite = session.get_bind().dialect.name == "sqlite"
    conv = _sqlite_value if sqlite else (lambda v: v)
    st = tuple(conv(v) for v in stamp.values())
    person_columns = [*rows[0].person, *stamp] if rows else []
    keys = list(rows[0].person) if rows else []
    if sqlite:
        persons = [tuple(_sqlite_value(r.person[c]) for c in keys) + st for r in rows]
    else:
        persons = [tuple(r.person[c] for c in keys) + st for r in rows]
    docs, addresses, phones, aliases = [], [], [], []
    address_columns: list[str] = []
    for i, r in enumerate(rows):
        if r.cnic:
            docs.append((i, "CNIC", r.cnic, "PK", *st))
        if r.address:
            if not address_columns:
                address_columns = list(r.address)
            addresses.append((i, *(conv(r.address[c]) for c in address_columns), *st))
        phones += [(i, e, k, *st) for e, k in r.phones]
        aliases += [(i, n, s, *st) for n, s in r.aliases]
    sc = list(stamp)
    children = {
        IdentityDocument.__table__.name: (["doc_type", "number", "issuing_country", *sc], docs),
        Address.__table__.name: ([*address_columns, *sc], addresses),
        PhoneNumber.__table__.name: (["e164", "kind", *sc], phones),
        PersonAlias.__table__.name: (["name", "script", *sc], aliases),
    }
    return _Staged(rows, sqlite, stamp, person_columns, persons, children)


def _stage_columns(staged: _Staged) -> list[tuple[Any, list[str]]]:
    """The tables an import writes, persons first, each with the names of the columns it stages."""
    persons = Person.__table__
    out = [(persons, [persons.c[c].name for c in staged.person_columns])]
    for name, (columns, _data) in staged.children.items():
        table = Base.metadata.tables[name]
        out.append((table, [table.c[c].name for c in columns]))
    return out


def _stage_tables(staged: _Staged) -> list[tuple[Any, list[str], list[tuple]]]:
    """The staged rows per table for :func:`import_stage.fill`: (table, column names, rows each starting
    with the index of its person in the import)."""
    rows = [[(i, *t) for i, t in enumerate(staged.persons)], *(d for _c, d in staged.children.values())]
    return [(table, columns, r) for (table, columns), r in zip(_stage_columns(staged), rows, strict=True)]


def _bulk(session: Session, table, columns: list[str], data: list[tuple]) -> None:
    """executemany of ``data`` (tuples in ``columns`` order) straight on the DBAPI cursor: SQLAlchemy's
    per-row parameter processing costs as much as SQLite itself here."""
    if not data:
        return
    sqlite = session.get_bind().dialect.name == "sqlite"
    names = ", ".join(table.c[c].name for c in columns)
    marks = ", ".join(["?" if sqlite else "%s"] * len(columns))
    session.connection().exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", data)


def _sqlite_value(value: Any) -> Any:
    if value is None or type(value) is str or type(value) is int:
        return value
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if value.tzinfo else str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def _insert(
    session: Session,
    staged: _Staged,
    rows: list[Prepared],
    progress: Callable[[str, int, int], None] | None = None,
) -> list[int]:
    """Bulk inserts (executemany) of ``rows`` (all or some of ``staged.rows``, in order) in the caller's
    transaction, ids reserved up front; only id columns are added to the staged tuples here."""
    if not rows:
        return []
    if len(rows) != len(staged.rows):  # the write's re-check dropped some rows
        keep = {id(r) for r in rows}
        index = [i for i, r in enumerate(staged.rows) if id(r) in keep]
    else:
        index = list(range(len(rows)))
    persons = Person.__table__
    if staged.in_stage:
        return _insert_from_stage(session, staged, index, progress)
    is_pg = not staged.sqlite
    first_params = {**rows[0].person, **staged.stamp}
    ids = reserve_ids(session, persons, len(rows), None if is_pg else first_params)
    pid_of = dict(zip(index, ids, strict=True))
    step = 10_000
    start = 0 if is_pg else 1  # skip, SQLite: the first person is already inserted by reserve_ids
    for lo in range(0, len(index), step):
        chunk = index[lo + start : lo + step] if lo == 0 else index[lo : lo + step]
        _bulk(
            session,
            persons,
            ["id", *staged.person_columns],
            [(pid_of[i], *staged.persons[i]) for i in chunk],
        )
        if progress is not None:
            progress("write", min(lo + step, len(index)), len(index))
    for name, (columns, data) in staged.children.items():
        table = Base.metadata.tables[name]
        if len(index) != len(staged.rows):
            data = [t for t in data if t[0] in pid_of]
        for lo in range(0, len(data), step):
            _bulk(
                session,
                table,
                ["person_id", *columns],
                [(pid_of[t[0]], *t[1:]) for t in data[lo : lo + step]],
            )
    if is_pg and len(rows) >= 10_000:
        # fresh statistics now: the next import's lookups get index plans without waiting for autovacuum
        session.execute(sql_text("ANALYZE persons, identity_documents, addresses"))
    return ids


def _insert_from_stage(
    session: Session,
    staged: _Staged,
    index: list[int],
    progress: Callable[[str, int, int], None] | None,
) -> list[int]:
    """SQLite: copy the rows ``index`` of the staging database into the real tables (this transaction holds
    the write lock, taken at BEGIN IMMEDIATE, so the ids above the highest one are free)."""
    persons = Person.__table__
    base = (session.scalar(select(func.max(persons.c.id))) or 0) + 1
    kept = set(index)
    dropped = [i for i in range(len(staged.rows)) if i not in kept] if len(kept) != len(staged.rows) else []
    for n, (table, columns) in enumerate(_stage_columns(staged)):
        import_stage.copy_in(session, table, "id" if n == 0 else "person_id", columns, base, dropped)
        if n == 0 and progress is not None:
            progress("write", len(index), len(index))  # persons copied in, not yet committed
    return [base + i for i in index]


def write_reject_file(
    source: Path, table: Table, rejected: dict[int, list[RowError]], target: Path | str | None = None
) -> Path:
    """The rejected rows as CSV (UTF-8 with BOM, opens in Excel): the original cells, then ``row`` (row number
    in the source file) and ``errors`` (column: reason; several separated by ' | ')."""
    target = Path(target) if target else source.with_name(source.stem + ".rejects.csv")
    rows = {number: raw for number, raw in table.rows}
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*table.columns, "row", "errors"])
        for number in sorted(rejected):
            raw = rows.get(number, {})
            reasons = " | ".join(
                f"{e.column}: {e.message}" if e.column else e.message for e in rejected[number]
            )
            writer.writerow([*(raw.get(c, "") for c in table.columns), number, reasons])
    return target


def iter_template_rows(rows: Iterable[dict[str, Any]]) -> Iterator[list[str]]:
    """Rows as lists in template column order (for writing test and benchmark files)."""
    for r in rows:
        yield [_cell_text(r.get(c)) for c in ALL_COLUMNS]
