"""Units: the jurisdiction paths that users and records belong to (``BA``, ``BA/QTA``, ``BA/QTA/QUETTA``,
``BA/QTA/QUETTA/QUETTA-CANTT``; :func:`crms.access.policy.unit_contains` orders them).

A path must be well formed (:func:`normalise_unit`) and, where a registry of units is known, name a unit that
exists: a typo such as ``BA/QTA/QUETA`` would otherwise put a record or an account where no officer's
jurisdiction reaches it. The registry is the reference data of divisions, districts and police stations,
which belongs to the records area; access imports no other area, so the composition roots register it
(:func:`register_unit_registry`, as the records merge's participants are), and a service that knows its own
registry passes it as ``known``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from crms.access.policy import unit_contains
from crms.errors import ValidationError, rule_error

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

UNIT_RE = re.compile(r"^[A-Z]{2}(/[A-Z0-9][A-Z0-9_.-]{0,47}){0,5}$")

# session -> {path: English name} of the units that exist now.
UnitRegistry = Callable[["Session"], Mapping[str, str]]
_REGISTRIES: list[UnitRegistry] = []
NO_SUCH_PATH = "no division, district or police station has this path"


def normalise_unit(unit: str) -> str:
    """``unit`` upper-cased without surrounding slashes, or ValidationError (field ``unit``) if malformed."""
    value = (unit or "").strip().strip("/").upper()
    if not UNIT_RE.match(value):
        raise ValidationError(
            "unit must be a path like BA or BA/QTA/QUETTA/QUETTA-CANTT (province first)", field="unit"
        )
    return value


def register_unit_registry(fn: UnitRegistry) -> None:
    """Have :func:`check_unit` refuse paths that ``fn`` does not list (once per function)."""
    if fn not in _REGISTRIES:
        _REGISTRIES.append(fn)


def unregister_unit_registry(fn: UnitRegistry) -> None:
    if fn in _REGISTRIES:
        _REGISTRIES.remove(fn)


def known_units(session: Session, known: UnitRegistry | None = None) -> dict[str, str] | None:
    """The units that exist now, ``{path: name}``, from ``known`` or the registered registries; None when
    no registry is known (then any well-formed path is accepted)."""
    sources = [known] if known is not None else list(_REGISTRIES)
    if not sources:
        return None
    units: dict[str, str] = {}
    for fn in sources:
        units.update(fn(session))
    return units


def check_unit(session: Session, unit: str, known: UnitRegistry | None = None, field: str = "unit") -> str:
    """The normalised path of ``unit``, or ValidationError naming ``field`` when it is malformed or names no
    unit of the registry (of the kind ``unit_unknown_near`` with the nearest paths, ``unit_unknown_inside``
    with the parent's units, or ``unit_unknown``)."""
    try:
        value = normalise_unit(unit)
    except ValidationError as exc:
        raise ValidationError(exc.message, field=field) from None
    units = known_units(session, known)
    if units is None or value in units:
        return value
    if not units:
        raise ValidationError(
            f"unknown unit {value}: no units are on record (load the reference data: crms reference load)",
            field=field,
        )
    parent, near, inside = _nearest(value, units)
    if near:
        paths = " or ".join(near)
        message = f"unknown unit {value}: {NO_SUCH_PATH}; did you mean {paths}?"
        raise rule_error(field, "unit_unknown_near", message, unit=value, paths=paths)
    if inside:
        paths = ", ".join(inside[:6]) + (", …" if len(inside) > 6 else "")
        message = f"unknown unit {value}: no such unit in {parent}; its units are {paths}"
        raise rule_error(field, "unit_unknown_inside", message, unit=value, parent=parent, paths=paths)
    message = f"unknown unit {value}: {NO_SUCH_PATH}"
    raise rule_error(field, "unit_unknown", message, unit=value)


def _nearest(value: str, units: Mapping[str, str]) -> tuple[str, list[str], list[str]]:
    """For a path that names no unit: its parent, the units nearest in spelling at the same level (within
    the parent where that is a unit, else anywhere) and the parent's units."""
    from rapidfuzz import fuzz, process

    parent, _, last = value.rpartition("/")
    depth = value.count("/")
    level = [p for p in units if p.count("/") == depth]
    inside = sorted(p for p in level if p.rpartition("/")[0] == parent)
    if parent in units:
        names = {p.rpartition("/")[2]: p for p in inside}
        near = [
            names[n]
            for n, _, _ in process.extract(last, list(names), scorer=fuzz.ratio, limit=3, score_cutoff=70)
        ]
    else:
        near = [p for p, _, _ in process.extract(value, level, scorer=fuzz.ratio, limit=3, score_cutoff=75)]
    return parent, near, inside


def units_within(session: Session, outer: str, known: UnitRegistry | None = None) -> list[tuple[str, str]]:
    """``(path, name)`` of the registry's units inside ``outer`` (itself included), in path order; empty when
    no registry is known."""
    units = known_units(session, known) or {}
    return sorted((p, n) for p, n in units.items() if unit_contains(outer, p))
