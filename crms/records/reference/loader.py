"""Load the versioned reference data files (``data/manifest.json`` + CSV files) into the tables.

``load_reference_data(session)`` is an idempotent upsert: new rows are inserted, changed rows updated, rows
that an administrator edited (``edited_at`` set) are left alone, and nothing is deleted (records refer to
historical units). Every file is validated completely before anything is written; a malformed file raises
:class:`ReferenceDataError` naming the file, row and column."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from crms.access.principal import PROVINCE
from crms.errors import ValidationError
from crms.records.reference.models import District, Division, PoliceStation, Statute, StatuteSection

DATA_DIR = Path(__file__).parent / "data"
KINDS = ("police", "levies")

_CODE = re.compile(r"^[A-Z0-9]+(?:-[A-Z0-9]+)*$")
_SECTION = re.compile(r"^[0-9]+(?:-[A-Z]{1,2})?$")

COLUMNS: dict[str, tuple[str, ...]] = {
    "divisions": ("code", "name_en", "name_ur", "valid_from", "valid_to", "notes"),
    "districts": (
        "code",
        "name_en",
        "name_ur",
        "division_code",
        "valid_from",
        "valid_to",
        "successor_code",
        "aliases",
        "notes",
    ),
    "police_stations": (
        "code",
        "name_en",
        "name_ur",
        "district_code",
        "kind",
        "valid_from",
        "valid_to",
        "merged_into_code",
        "aliases",
        "notes",
    ),
    "statutes": ("code", "title", "year", "notes"),
    "statute_sections": ("statute_code", "section", "title", "notes"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "divisions": ("code", "name_en", "name_ur"),
    "districts": ("code", "name_en", "name_ur", "division_code"),
    "police_stations": ("code", "name_en", "name_ur", "district_code", "kind"),
    "statutes": ("code", "title"),
    "statute_sections": ("statute_code", "section", "title"),
}
MAX_LEN = {"code": 64, "name_en": 150, "name_ur": 150, "aliases": 300, "title": 300, "section": 16}


class ReferenceDataError(ValidationError):
    """A reference data file is malformed; ``field`` is 'file:row:column'."""


@dataclass(frozen=True)
class ReferenceData:
    version: str
    divisions: list[dict]
    districts: list[dict]
    police_stations: list[dict]
    statutes: list[dict]
    statute_sections: list[dict]


def _fail(file: str, row: int | None, column: str | None, message: str) -> ReferenceDataError:
    where = file + (f" row {row}" if row is not None else "") + (f" column '{column}'" if column else "")
    field = ":".join(str(p) for p in (file, row, column) if p is not None)
    return ReferenceDataError(f"reference data {where}: {message}", field=field)


def _date(file: str, row: int, column: str, value: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(file, row, column, f"'{value}' is not a date (YYYY-MM-DD)") from None


def _read_csv(path: Path, kind: str) -> list[dict]:
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _fail(name, None, None, "file is missing") from None
    except UnicodeDecodeError as exc:
        raise _fail(name, None, None, f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    header = tuple(reader.fieldnames or ())
    if header != COLUMNS[kind]:
        raise _fail(name, 1, None, f"header must be {','.join(COLUMNS[kind])}; found {','.join(header)}")
    rows = []
    for lineno, raw in enumerate(reader, start=2):
        if None in raw or any(v is None for v in raw.values()):
            raise _fail(name, lineno, None, f"expected {len(header)} columns")
        row = {k: v.strip() for k, v in raw.items()}
        for col in REQUIRED[kind]:
            if not row[col]:
                raise _fail(name, lineno, col, "is empty")
        for col, limit in MAX_LEN.items():
            if col in row and len(row[col]) > limit:
                raise _fail(name, lineno, col, f"longer than {limit} characters")
        for col in ("code", "division_code", "district_code", "successor_code", "merged_into_code"):
            if row.get(col) and not _CODE.match(row[col]):
                raise _fail(name, lineno, col, f"'{row[col]}' is not a code (A-Z, 0-9, '-')")
        for col in ("valid_from", "valid_to"):
            if col in row:
                row[col] = _date(name, lineno, col, row[col])
        if row.get("valid_from") and row.get("valid_to") and row["valid_to"] <= row["valid_from"]:
            raise _fail(name, lineno, "valid_to", "must be after valid_from")
        if kind == "police_stations" and row["kind"] not in KINDS:
            raise _fail(name, lineno, "kind", f"'{row['kind']}' is not one of {', '.join(KINDS)}")
        if kind == "statutes":
            if row["year"] and not re.fullmatch(r"1[89]\d\d|20\d\d", row["year"]):
                raise _fail(name, lineno, "year", f"'{row['year']}' is not a year")
            row["year"] = int(row["year"]) if row["year"] else None
        if kind == "statute_sections" and not _SECTION.match(row["section"]):
            raise _fail(
                name, lineno, "section", f"'{row['section']}' is not a section number like 302 or 489-F"
            )
        for col in ("notes", "aliases", "successor_code", "merged_into_code"):
            if col in row and not row[col]:
                row[col] = None
        row["_line"] = lineno
        rows.append(row)
    if not rows:
        raise _fail(name, None, None, "has no rows")
    return rows


def _unique(file: str, rows: list[dict], key) -> None:
    seen: dict = {}
    for row in rows:
        k = key(row)
        if k in seen:
            raise _fail(file, row["_line"], None, f"duplicate {k} (first at row {seen[k]})")
        seen[k] = row["_line"]


def _refs(file: str, rows: list[dict], column: str, known: set[str]) -> None:
    for row in rows:
        if row.get(column) and row[column] not in known:
            raise _fail(file, row["_line"], column, f"'{row[column]}' is not defined")


def read_reference_data(data_dir: Path | str | None = None) -> ReferenceData:
    """Read and validate all files (nothing touches the database)."""
    base = Path(data_dir) if data_dir is not None else DATA_DIR
    try:
        manifest = json.loads((base / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _fail("manifest.json", None, None, "file is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _fail("manifest.json", None, None, f"not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("version"), str):
        raise _fail("manifest.json", None, "version", "missing or not a string")
    files = manifest.get("files")
    if not isinstance(files, dict) or set(files) != set(COLUMNS):
        raise _fail("manifest.json", None, "files", f"must name exactly: {', '.join(COLUMNS)}")
    data = {kind: _read_csv(base / files[kind], kind) for kind in COLUMNS}
    f = {kind: files[kind] for kind in COLUMNS}
    for kind in ("divisions", "districts", "police_stations", "statutes"):
        _unique(f[kind], data[kind], lambda r: r["code"])
    _unique(f["statute_sections"], data["statute_sections"], lambda r: (r["statute_code"], r["section"]))
    divisions = {r["code"] for r in data["divisions"]}
    districts = {r["code"] for r in data["districts"]}
    stations = {r["code"] for r in data["police_stations"]}
    _refs(f["districts"], data["districts"], "division_code", divisions)
    _refs(f["districts"], data["districts"], "successor_code", districts)
    _refs(f["police_stations"], data["police_stations"], "district_code", districts)
    _refs(f["police_stations"], data["police_stations"], "merged_into_code", stations)
    _refs(
        f["statute_sections"], data["statute_sections"], "statute_code", {r["code"] for r in data["statutes"]}
    )
    for row in data["police_stations"]:
        if row["merged_into_code"] and not row["valid_to"]:
            raise _fail(f["police_stations"], row["_line"], "valid_to", "a merged station needs valid_to")
        if row["merged_into_code"] == row["code"]:
            raise _fail(
                f["police_stations"], row["_line"], "merged_into_code", "a station cannot merge into itself"
            )
    return ReferenceData(version=manifest["version"], **data)


@lru_cache(maxsize=1)
def packaged_data() -> ReferenceData:
    """The package's own files, read once (used by the offence parser without a database)."""
    return read_reference_data()


def unit_path(
    district: District | str, police_station: PoliceStation | str | None = None, *, division=None
) -> str:
    """Jurisdiction path 'BA/<division>/<district>[/<station>]' (see crms.access.policy.unit_contains).

    ``district`` is a District row (its division is known) or a district code together with ``division``
    (a code); with a bare code and no division the packaged data supplies it."""
    if isinstance(district, District):
        code, div = district.code, district.division_code
    else:
        code = district
        div = division
        if div is None:
            div = next((r["division_code"] for r in packaged_data().districts if r["code"] == code), None)
            if div is None:
                raise ValidationError(f"unknown district '{code}'", field="district")
    path = f"{PROVINCE}/{div}/{code}"
    if police_station is not None:
        station = police_station.code if isinstance(police_station, PoliceStation) else police_station
        path += f"/{station}"
    return path


def _apply(obj, values: dict) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(obj, key) != value:
            setattr(obj, key, value)
            changed = True
    return changed


def load_reference_data(session: Session, data_dir: Path | str | None = None) -> dict[str, int]:
    """Upsert the reference data files into the tables (idempotent). Returns counts of inserted and
    updated rows. Raises ReferenceDataError (nothing written) when a file is malformed."""
    data = read_reference_data(data_dir)
    counts = {"inserted": 0, "updated": 0, "kept_edited": 0}

    sections = {(s.statute_code, s.section): s for s in session.scalars(select(StatuteSection))}

    def upsert(model, key, values: dict):
        obj = sections.get(key) if model is StatuteSection else session.get(model, key)
        if obj is None:
            obj = model(**values)
            session.add(obj)
            counts["inserted"] += 1
        elif obj.edited_at is not None:
            counts["kept_edited"] += 1
            return None
        elif _apply(obj, values):
            counts["updated"] += 1
        return obj

    def cols(row: dict, *names: str) -> dict:
        return {n: row[n] for n in names}

    for row in data.divisions:
        upsert(
            Division, row["code"], cols(row, "code", "name_en", "name_ur", "valid_from", "valid_to", "notes")
        )
    session.flush()
    # Self-references (successor, merged_into) are set after every row exists.
    later: list[tuple[object, str, str | None]] = []
    for row in data.districts:
        obj = upsert(
            District,
            row["code"],
            cols(
                row,
                "code",
                "name_en",
                "name_ur",
                "division_code",
                "valid_from",
                "valid_to",
                "aliases",
                "notes",
            ),
        )
        if obj is not None:
            later.append((obj, "successor_code", row["successor_code"]))
    session.flush()
    for row in data.police_stations:
        values = cols(
            row,
            "code",
            "name_en",
            "name_ur",
            "district_code",
            "kind",
            "valid_from",
            "valid_to",
            "aliases",
            "notes",
        )
        # The division comes from the table, so an administrator's change of a district's division counts.
        district = session.get(District, row["district_code"])
        values["unit_path"] = unit_path(district, row["code"])
        obj = upsert(PoliceStation, row["code"], values)
        if obj is not None:
            later.append((obj, "merged_into_code", row["merged_into_code"]))
    session.flush()
    for obj, attr, value in later:
        if getattr(obj, attr) != value:
            setattr(obj, attr, value)
    for row in data.statutes:
        upsert(Statute, row["code"], cols(row, "code", "title", "year", "notes"))
    session.flush()
    for row in data.statute_sections:
        upsert(
            StatuteSection,
            (row["statute_code"], row["section"]),
            cols(row, "statute_code", "section", "title", "notes"),
        )
    session.flush()
    counts["version"] = data.version  # type: ignore[assignment]
    return counts
