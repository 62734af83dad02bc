"""Reading and editing reference data. Reads need only a logged-in user (the route checks that); edits need
Permission.REFERENCE_EDIT, are validated completely before anything changes, set ``edited_at`` (so the file
loader no longer overwrites the row) and are audited in the same transaction."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crms.access import audit
from crms.access.policy import Permission, authorize
from crms.access.principal import Principal
from crms.errors import NotFound, ValidationError
from crms.records.reference.loader import KINDS, unit_path
from crms.records.reference.models import District, Division, PoliceStation, Statute, StatuteSection
from crms.timeutil import today, utcnow

_CODE = re.compile(r"^[A-Z0-9]+(?:-[A-Z0-9]+)*$")
_SECTION = re.compile(r"^[0-9]+(?:-[A-Z]{1,2})?$")


def _current(model, on: date | None = None):
    on = on or today()
    return (
        or_(model.valid_from.is_(None), model.valid_from <= on),
        or_(model.valid_to.is_(None), model.valid_to > on),
    )


def list_divisions(session: Session, *, include_historical: bool = False) -> list[Division]:
    query = select(Division).order_by(Division.code)
    if not include_historical:
        query = query.where(*_current(Division))
    return list(session.scalars(query))


def list_districts(
    session: Session, *, division: str | None = None, include_historical: bool = False
) -> list[District]:
    query = select(District).order_by(District.name_en)
    if division:
        code = division.strip().upper()
        if session.get(Division, code) is None:
            raise ValidationError(f"unknown division '{division}'", field="division")
        query = query.where(District.division_code == code)
    if not include_historical:
        query = query.where(*_current(District))
    return list(session.scalars(query))


def list_police_stations(
    session: Session,
    *,
    district: str | None = None,
    kind: str | None = None,
    include_historical: bool = False,
) -> list[PoliceStation]:
    from crms.records.reference.lookups import get_district

    query = select(PoliceStation).order_by(PoliceStation.district_code, PoliceStation.name_en)
    if district:
        query = query.where(PoliceStation.district_code == get_district(session, district).code)
    if kind:
        if kind not in KINDS:
            raise ValidationError(f"kind must be one of {', '.join(KINDS)}", field="kind")
        query = query.where(PoliceStation.kind == kind)
    if not include_historical:
        query = query.where(*_current(PoliceStation))
    return list(session.scalars(query))


def list_statutes(session: Session) -> list[Statute]:
    return list(session.scalars(select(Statute).order_by(Statute.code)))


def _section_sort_key(section: str) -> tuple[int, str]:
    num, _, suffix = section.partition("-")
    return (int(num) if num.isdigit() else 0, suffix)


def list_sections(session: Session, statute: str) -> list[StatuteSection]:
    code = statute.strip().upper()
    if session.get(Statute, code) is None:
        raise NotFound(f"unknown statute '{statute}'", field="statute")
    rows = session.scalars(select(StatuteSection).where(StatuteSection.statute_code == code))
    return sorted(rows, key=lambda s: _section_sort_key(s.section))


def as_dict(row: Any) -> dict[str, Any]:
    out = {c.name: getattr(row, c.key) for c in row.__table__.columns}
    for key, value in out.items():
        if isinstance(value, date):
            out[key] = value.isoformat()
    if hasattr(row, "is_current"):
        out["current"] = row.is_current()
    if "aliases" in out:
        out["aliases"] = [a for a in (out["aliases"] or "").split("|") if a]
    return out


# ---------------------------------------------------------------------------------------------- editing

KIND_MODELS = {
    "division": Division,
    "district": District,
    "police_station": PoliceStation,
    "statute": Statute,
    "section": StatuteSection,
}
EDITABLE: dict[str, dict[str, int | None]] = {  # field -> max length (None: not text)
    "division": {"name_en": 100, "name_ur": 100, "valid_from": None, "valid_to": None, "notes": 2000},
    "district": {
        "name_en": 100,
        "name_ur": 100,
        "division_code": 16,
        "valid_from": None,
        "valid_to": None,
        "successor_code": 32,
        "aliases": 300,
        "notes": 2000,
    },
    "police_station": {
        "name_en": 150,
        "name_ur": 150,
        "district_code": 32,
        "kind": 16,
        "valid_from": None,
        "valid_to": None,
        "merged_into_code": 64,
        "aliases": 300,
        "notes": 2000,
    },
    "statute": {"title": 200, "year": None, "notes": 2000},
    "section": {"title": 300, "notes": 2000},
}
REQUIRED_ON_CREATE = {
    "division": ("name_en", "name_ur"),
    "district": ("name_en", "name_ur", "division_code"),
    "police_station": ("name_en", "name_ur", "district_code"),
    "statute": ("title",),
    "section": ("title",),
}
CODE_LENGTH = {"division": 16, "district": 32, "police_station": 64, "statute": 16}


def _clean(kind: str, changes: dict[str, Any]) -> dict[str, Any]:
    allowed = EDITABLE[kind]
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in allowed:
            raise ValidationError(f"'{key}' cannot be edited on a {kind.replace('_', ' ')}", field=key)
        if key in ("valid_from", "valid_to"):
            if isinstance(value, str):
                try:
                    value = date.fromisoformat(value) if value.strip() else None
                except ValueError:
                    raise ValidationError(f"{key}: '{value}' is not a date (YYYY-MM-DD)", field=key) from None
            elif value is not None and not isinstance(value, date):
                raise ValidationError(f"{key} must be a date", field=key)
        elif key == "year":
            if value is not None and (not isinstance(value, int) or not 1800 <= value <= today().year):
                raise ValidationError("year must be a year between 1800 and this year", field=key)
        else:
            if value is not None and not isinstance(value, str):
                raise ValidationError(f"{key} must be text", field=key)
            if isinstance(value, str):
                value = value.strip()
                if key in ("division_code", "district_code", "successor_code", "merged_into_code"):
                    value = value.upper()
                value = value or None
            limit = allowed[key]
            if value is not None and limit is not None and len(value) > limit:
                raise ValidationError(f"{key} is longer than {limit} characters", field=key)
            if (
                key in ("name_en", "name_ur", "title", "division_code", "district_code", "kind")
                and value is None
            ):
                raise ValidationError(f"{key} must not be empty", field=key)
        out[key] = value
    return out


def update_reference(
    session: Session,
    principal: Principal,
    kind: str,
    code: str,
    changes: dict[str, Any],
    *,
    section: str | None = None,
) -> Any:
    """Create or edit one reference row. ``kind`` is division | district | police_station | statute |
    section (then ``code`` is the statute code and ``section`` the section number). Returns the row."""
    authorize(principal, Permission.REFERENCE_EDIT)
    if kind not in KIND_MODELS:
        raise ValidationError(f"unknown reference kind '{kind}'", field="kind")
    code = (code or "").strip().upper()
    if not _CODE.match(code) or len(code) > CODE_LENGTH.get(kind, 16):
        raise ValidationError(f"'{code}' is not a valid code (A-Z, 0-9, '-')", field="code")
    values = _clean(kind, changes)
    if not values:
        raise ValidationError("no changes given", field="body")

    if kind == "section":
        if session.get(Statute, code) is None:
            raise NotFound(f"unknown statute '{code}'", field="statute")
        section = (section or "").strip().upper()
        if not _SECTION.match(section):
            raise ValidationError(f"'{section}' is not a section number like 302 or 489-F", field="section")
        row = session.scalar(
            select(StatuteSection).where(
                StatuteSection.statute_code == code, StatuteSection.section == section
            )
        )
        key_values: dict[str, Any] = {"statute_code": code, "section": section}
        target_id = f"{code}:{section}"
    else:
        row = session.get(KIND_MODELS[kind], code)
        key_values = {"code": code}
        target_id = code
    creating = row is None
    if creating:
        missing = [f for f in REQUIRED_ON_CREATE[kind] if not values.get(f)]
        if missing:
            raise ValidationError(
                f"a new {kind.replace('_', ' ')} needs {', '.join(missing)}", field=missing[0]
            )

    # The row as it would be after the change, checked as a whole before anything is written.
    def after(name: str):
        return values[name] if name in values else (None if creating else getattr(row, name))

    if kind in ("division", "district", "police_station"):
        vf, vt = after("valid_from"), after("valid_to")
        if vf and vt and vt <= vf:
            raise ValidationError("valid_to must be after valid_from", field="valid_to")
    if kind == "district":
        if session.get(Division, after("division_code")) is None:
            raise ValidationError(f"unknown division '{after('division_code')}'", field="division_code")
        succ = after("successor_code")
        if succ is not None and (succ == code or session.get(District, succ) is None):
            raise ValidationError(
                f"successor district '{succ}' is unknown or the district itself", field="successor_code"
            )
    if kind == "police_station":
        values.setdefault("kind", after("kind") or "police")
        if values["kind"] not in KINDS:
            raise ValidationError(f"kind must be one of {', '.join(KINDS)}", field="kind")
        district = session.get(District, after("district_code"))
        if district is None:
            raise ValidationError(f"unknown district '{after('district_code')}'", field="district_code")
        merged = after("merged_into_code")
        if merged is not None:
            if merged == code or session.get(PoliceStation, merged) is None:
                raise ValidationError(
                    f"police station '{merged}' is unknown or the station itself", field="merged_into_code"
                )
            if after("valid_to") is None:
                raise ValidationError("a station merged into another needs valid_to", field="valid_to")
        values["unit_path"] = unit_path(district, code)

    before = {} if creating else {k: getattr(row, k) for k in values}
    if creating:
        row = KIND_MODELS[kind](**key_values, **values)
        session.add(row)
    else:
        for key, value in values.items():
            setattr(row, key, value)
    row.edited_at = utcnow()
    session.flush()
    if kind == "district" and not creating and "division_code" in values:
        for station in session.scalars(select(PoliceStation).where(PoliceStation.district_code == code)):
            station.unit_path = unit_path(row, station)
        session.flush()
    detail = {
        "changes": {k: [before.get(k), v] for k, v in values.items() if before.get(k) != v or creating},
    }
    audit.record(
        session,
        principal,
        "reference.create" if creating else "reference.update",
        target_type=kind,
        target_id=target_id,
        detail=json.dumps(detail, ensure_ascii=False, default=str)[:4000],
    )
    return row
