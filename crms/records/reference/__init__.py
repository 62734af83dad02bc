"""Reference data: divisions, districts, police stations, statutes and sections (issue 2).

Versioned data files in ``data/`` are loaded into tables by :func:`load_reference_data`; lookups raise
ValidationError naming the field; :func:`parse_offences` reads FIR offence text."""

from crms.records.reference.loader import (
    ReferenceDataError,
    load_reference_data,
    read_reference_data,
    unit_path,
)
from crms.records.reference.lookups import ReferenceIndex, get_district, get_police_station
from crms.records.reference.models import District, Division, PoliceStation, Statute, StatuteSection
from crms.records.reference.offences import Offence, OffenceParser, format_offences, parse_offences

__all__ = [
    "District",
    "Division",
    "Offence",
    "OffenceParser",
    "PoliceStation",
    "ReferenceDataError",
    "ReferenceIndex",
    "Statute",
    "StatuteSection",
    "format_offences",
    "get_district",
    "get_police_station",
    "load_reference_data",
    "parse_offences",
    "read_reference_data",
    "unit_path",
]
