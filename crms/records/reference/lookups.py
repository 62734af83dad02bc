"""Find districts and police stations by code, English name or a known alias (case-insensitive).

``get_district`` / ``get_police_station`` query the session; ``ReferenceIndex`` holds the (small) tables in
memory for bulk work such as imports."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from crms.errors import ValidationError, rule_error
from crms.records.reference.models import District, PoliceStation

_PS_WORDS = re.compile(
    r"^(?:p\.?\s*s\.?|police\s+station|thana|levies\s+thana)\s+|\s+(?:p\.?\s*s\.?|police\s+station)$"
)


def _key(text: str) -> str:
    """'  Satellite-Town ' -> 'satellite town'."""
    return " ".join(re.split(r"[\s\-_]+", text.strip().casefold())).strip()


def _station_key(text: str) -> str:
    return _PS_WORDS.sub("", _key(text)).strip()


def _code(text: str) -> str:
    return "-".join(re.split(r"[\s\-_]+", text.strip().upper())).strip("-")


@dataclass
class ReferenceIndex:
    """In-memory lookup over districts and police stations (build once per bulk job)."""

    districts: dict[str, District] = field(default_factory=dict)
    district_names: dict[str, list[District]] = field(default_factory=lambda: defaultdict(list))
    stations: dict[str, PoliceStation] = field(default_factory=dict)
    station_names: dict[str, list[PoliceStation]] = field(default_factory=lambda: defaultdict(list))
    station_exact: dict[str, list[PoliceStation]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def from_session(cls, session: Session) -> ReferenceIndex:
        index = cls()
        for d in session.scalars(select(District)):
            index.add_district(d)
        for s in session.scalars(select(PoliceStation)):
            index.add_station(s)
        return index

    def add_district(self, d: District) -> None:
        self.districts[d.code] = d
        for name in [d.name_en, d.name_ur, *(d.aliases or "").split("|")]:
            if name and name.strip():
                bucket = self.district_names[_key(name)]
                if d not in bucket:
                    bucket.append(d)

    def add_station(self, s: PoliceStation) -> None:
        self.stations[s.code] = s
        for name in [s.name_en, s.name_ur, *(s.aliases or "").split("|")]:
            if name and name.strip():
                for bucket in (self.station_names[_station_key(name)], self.station_exact[_key(name)]):
                    if s not in bucket:
                        bucket.append(s)

    def district(self, code_or_name: str | District) -> District:
        if isinstance(code_or_name, District):
            return code_or_name
        text = (code_or_name or "").strip()
        if not text:
            raise ValidationError("district is required", field="district")
        found = self.districts.get(_code(text))
        if found is not None:
            return found
        matches = self.district_names.get(_key(text), [])
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            codes = ", ".join(sorted(m.code for m in matches))
            message = f"district '{text}' is ambiguous ({codes}); use the code"
            raise rule_error("district", "district_ambiguous", message, value=text, codes=codes)
        raise rule_error("district", "district_unknown", f"unknown district '{text}'", value=text)

    def police_station(
        self,
        code_or_name: str | PoliceStation,
        district: str | District | None = None,
        *,
        on: date | None = None,
    ) -> PoliceStation:
        """By code, name or alias ("PS"/"Police Station"/"Thana" prefixes ignored unless they decide);
        when several stations share the name, the one existing ``on`` that date (default today) wins."""
        d = self.district(district) if district is not None else None
        if isinstance(code_or_name, PoliceStation):
            station = code_or_name
        else:
            text = (code_or_name or "").strip()
            if not text:
                raise ValidationError("police station is required", field="police_station")
            station = self.stations.get(_code(text))
            if station is None and d is not None:
                station = self.stations.get(f"{d.code}-{_code(text)}")
            if station is None:

                def within(found: list[PoliceStation]) -> list[PoliceStation]:
                    return [m for m in found if d is None or m.district_code == d.code]

                # The name as written ("Levies Thana Kuchlak", "Panjpai") wins when it was designated with
                # PS/Thana words or names a station existing on the date; otherwise the name without those
                # words ("Panjpai" in 2020 = the Levies thana of that name).
                exact = within(self.station_exact.get(_key(text), []))
                loose = within(self.station_names.get(_station_key(text), []))
                designated = _station_key(text) != _key(text)
                if exact and (designated or any(m.is_current(on) for m in exact)):
                    matches = exact
                else:
                    matches = loose or exact
                if len(matches) > 1:
                    current = [m for m in matches if m.is_current(on)]
                    matches = current if len(current) == 1 else matches
                if len(matches) > 1:
                    codes = ", ".join(sorted(m.code for m in matches))
                    hint = "give the district or the code" if d is None else "use the code"
                    message = f"police station '{text}' is ambiguous ({codes}); {hint}"
                    raise rule_error("police_station", "station_ambiguous", message, value=text, codes=codes)
                if not matches:
                    if d is None:
                        message = f"unknown police station '{text}'"
                        raise rule_error("police_station", "station_unknown", message, value=text)
                    message = f"unknown police station '{text}' in district {d.code}"
                    values = {"value": text, "district": d.code}
                    raise rule_error("police_station", "station_unknown_in", message, **values)
                station = matches[0]
        if d is not None and station.district_code != d.code:
            message = f"police station {station.code} is in district {station.district_code}, not {d.code}"
            values = {"station": station.code, "district": station.district_code, "given": d.code}
            raise rule_error("police_station", "station_other_district", message, **values)
        return station


def get_district(session: Session, code_or_name: str) -> District:
    """The district with this code, English/Urdu name or alias; ValidationError(field='district')
    if unknown or ambiguous."""
    text = (code_or_name or "").strip()
    if text:
        found = session.get(District, _code(text))
        if found is not None:
            return found
    index = ReferenceIndex()
    for d in session.scalars(select(District)):
        index.add_district(d)
    return index.district(text)


def get_police_station(
    session: Session, code_or_name: str, district: str | District | None = None, *, on: date | None = None
) -> PoliceStation:
    """The police station with this code, name or alias (within ``district`` when given);
    ValidationError(field='police_station') if unknown, ambiguous or in another district."""
    d = get_district(session, district) if isinstance(district, str) else district
    text = (code_or_name or "").strip()
    station = session.get(PoliceStation, _code(text)) if text else None
    if station is None and text and d is not None:
        station = session.get(PoliceStation, f"{d.code}-{_code(text)}")
    index = ReferenceIndex()
    if d is not None:
        index.add_district(d)
    if station is not None:
        return index.police_station(station, d, on=on)
    query = select(PoliceStation)
    if d is not None:
        query = query.where(PoliceStation.district_code == d.code)
    for s in session.scalars(query):
        index.add_station(s)
    return index.police_station(text, d, on=on)


def current_units(session: Session) -> dict[str, str]:
    """The jurisdiction units that exist now, ``{path: English name}``: the province, its current divisions,
    districts and police stations (a closed district or station names no unit for new records or accounts).
    The registry that :func:`crms.access.units.check_unit` consults (registered by the composition roots)."""
    from crms.records.reference.loader import PROVINCE
    from crms.records.reference.models import Division

    units = {PROVINCE: "Balochistan"}
    divisions = {d.code: d for d in session.scalars(select(Division)) if d.is_current()}
    for d in divisions.values():
        units[f"{PROVINCE}/{d.code}"] = f"{d.name_en} division"
    districts = {}
    for d in session.scalars(select(District)):
        if d.is_current() and d.division_code in divisions:
            districts[d.code] = d
            units[f"{PROVINCE}/{d.division_code}/{d.code}"] = f"{d.name_en} district"
    for s in session.scalars(select(PoliceStation)):
        if s.is_current() and s.district_code in districts:
            units[s.unit_path] = (
                f"{s.name_en} police station" if s.kind == "police" else f"{s.name_en} levies"
            )
    return units
