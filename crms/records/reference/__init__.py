"""Reference data: divisions, districts, police stations, statutes and sections (issue 2).

Versioned data files in ``data/`` are loaded into tables by :func:`load_reference_data`; lookups raise
ValidationError naming the field; :func:`parse_offences` reads FIR offence text. The public names are
imported on first use: the records models import the reference tables (``.models``) without the loader and
the offence parser."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crms.optional import lazy_exports

if TYPE_CHECKING:
    from crms.records.reference.loader import (
        ReferenceDataError,
        load_reference_data,
        read_reference_data,
        unit_path,
    )
    from crms.records.reference.lookups import ReferenceIndex, current_units, get_district, get_police_station
    from crms.records.reference.models import District, Division, PoliceStation, Statute, StatuteSection
    from crms.records.reference.offences import Offence, OffenceParser, format_offences, parse_offences

# The public name -> the module that defines it (PEP 562: loaded on first use).
_SUBMODULES: dict[str, str] = {
    "ReferenceDataError": "loader",
    "load_reference_data": "loader",
    "read_reference_data": "loader",
    "unit_path": "loader",
    "ReferenceIndex": "lookups",
    "current_units": "lookups",
    "get_district": "lookups",
    "get_police_station": "lookups",
    "District": "models",
    "Division": "models",
    "PoliceStation": "models",
    "Statute": "models",
    "StatuteSection": "models",
    "Offence": "offences",
    "OffenceParser": "offences",
    "format_offences": "offences",
    "parse_offences": "offences",
}

__all__ = [
    "District",
    "Division",
    "Offence",
    "OffenceParser",
    "PoliceStation",
    "ReferenceDataError",
    "ReferenceIndex",
    "current_units",
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


__getattr__, __dir__ = lazy_exports(__name__, _SUBMODULES)
