"""Reference data (``/api/v1/reference``): divisions, districts, police stations, statutes and sections.
Reading needs a logged-in user; PUT (create or edit) needs the reference:edit permission (administrator)."""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from crms.api.deps import PrincipalDep, SessionDep
from crms.records.reference import parse_offences
from crms.records.reference import service as svc
from crms.records.schemas import Day

router = APIRouter(prefix="/reference", tags=["reference"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DivisionIn(_Body):
    name_en: str | None = Field(None, max_length=100)
    name_ur: str | None = Field(None, max_length=100)
    valid_from: Day | None = None
    valid_to: Day | None = None
    notes: str | None = Field(None, max_length=2000)


class DistrictIn(DivisionIn):
    division_code: str | None = Field(None, max_length=16)
    successor_code: str | None = Field(None, max_length=32)
    aliases: str | None = Field(None, max_length=300, description="other names, separated by '|'")


class PoliceStationIn(_Body):
    name_en: str | None = Field(None, max_length=150)
    name_ur: str | None = Field(None, max_length=150)
    district_code: str | None = Field(None, max_length=32)
    kind: str | None = Field(None, pattern="^(police|levies)$")
    valid_from: Day | None = None
    valid_to: Day | None = None
    merged_into_code: str | None = Field(None, max_length=64)
    aliases: str | None = Field(None, max_length=300)
    notes: str | None = Field(None, max_length=2000)


class StatuteIn(_Body):
    title: str | None = Field(None, max_length=200)
    year: int | None = None
    notes: str | None = Field(None, max_length=2000)


class SectionIn(_Body):
    title: str | None = Field(None, max_length=300)
    notes: str | None = Field(None, max_length=2000)


def _items(rows) -> dict:
    return {"items": [svc.as_dict(r) for r in rows], "total": len(rows)}


@router.get("/divisions")
def divisions(principal: PrincipalDep, session: SessionDep, include_historical: bool = False) -> dict:
    return _items(svc.list_divisions(session, include_historical=include_historical))


@router.get("/districts")
def districts(
    principal: PrincipalDep,
    session: SessionDep,
    division: str | None = Query(None, max_length=16),
    include_historical: bool = False,
) -> dict:
    return _items(svc.list_districts(session, division=division, include_historical=include_historical))


@router.get("/police-stations")
def police_stations(
    principal: PrincipalDep,
    session: SessionDep,
    district: str | None = Query(None, max_length=100),
    kind: str | None = Query(None, max_length=16),
    include_historical: bool = False,
) -> dict:
    rows = svc.list_police_stations(
        session, district=district, kind=kind, include_historical=include_historical
    )
    return _items(rows)


@router.get("/statutes")
def statutes(principal: PrincipalDep, session: SessionDep) -> dict:
    return _items(svc.list_statutes(session))


@router.get("/statutes/{code}/sections")
def sections(code: str, principal: PrincipalDep, session: SessionDep) -> dict:
    return _items(svc.list_sections(session, code))


@router.get("/offences/parse")
def parse(principal: PrincipalDep, session: SessionDep, text: str = Query(..., max_length=500)) -> dict:
    """Parse and validate FIR offence text such as '392/411/34 PPC' or '9(c) CNSA'."""
    offences = parse_offences(text, session)
    return {
        "items": [{"statute": o.statute, "section": o.section, "subclause": o.subclause} for o in offences]
    }


def _put(session, principal, kind: str, code: str, body: _Body, section: str | None = None) -> dict:
    row = svc.update_reference(
        session, principal, kind, code, body.model_dump(exclude_unset=True), section=section
    )
    return svc.as_dict(row)


@router.put("/divisions/{code}")
def put_division(code: str, body: DivisionIn, principal: PrincipalDep, session: SessionDep) -> dict:
    return _put(session, principal, "division", code, body)


@router.put("/districts/{code}")
def put_district(code: str, body: DistrictIn, principal: PrincipalDep, session: SessionDep) -> dict:
    return _put(session, principal, "district", code, body)


@router.put("/police-stations/{code}")
def put_police_station(
    code: str, body: PoliceStationIn, principal: PrincipalDep, session: SessionDep
) -> dict:
    return _put(session, principal, "police_station", code, body)


@router.put("/statutes/{code}")
def put_statute(code: str, body: StatuteIn, principal: PrincipalDep, session: SessionDep) -> dict:
    return _put(session, principal, "statute", code, body)


@router.put("/statutes/{code}/sections/{section}")
def put_section(
    code: str, section: str, body: SectionIn, principal: PrincipalDep, session: SessionDep
) -> dict:
    return _put(session, principal, "section", code, body, section=section)
