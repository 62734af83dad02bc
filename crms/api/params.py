"""Request parameters checked in one place for every route.

* Ids: every id column is a 32-bit INTEGER on PostgreSQL (and SQLite's integers stop at 2^63), so an id
  outside 1..2^31-1 can name no row. Routes type their ids as :data:`IdPath` / :data:`IdQuery` and such a
  value is answered 422 naming the parameter instead of reaching the database (where it failed with a 500).
  A listing's page offset (:data:`OffsetQuery`) is bounded the same way: past the last id there is no row.
* Unknown query parameters: :func:`reject_unknown_query` (installed on every API router by
  :func:`crms.api.app.create_app`) answers 422 naming each query parameter the route does not declare, so
  a misspelt or unsupported filter (``GET /persons?name=Aslam``) is never silently ignored.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Request

from crms.db import MAX_ID
from crms.errors import ValidationError

IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
NumberQuery = Annotated[int, Query(ge=1, le=MAX_ID)]
OffsetQuery = Annotated[int, Query(ge=0, le=MAX_ID)]

_DECLARED: dict[int, frozenset[str]] = {}


def whole_number(text: str, field: str, digits: int = 12) -> int:
    """A form or query field that must be a whole number, 0 or more, in ASCII or Urdu digits: else a 422
    naming the field (``str.isdigit`` alone takes ``²``, which ``int`` refuses, and ``int`` refuses thousands
    of digits). The field's range is its service's rule."""
    from crms.records.cnic import ascii_digits

    value = ascii_digits(text.strip())
    if not (value.isascii() and value.isdigit() and len(value) <= digits):
        raise ValidationError(f"{field} must be a whole number, 0 or more", field=field)
    return int(value)


def declared_query_params(route) -> frozenset[str]:
    """The query parameter names (aliases) a route declares, its dependencies' included (cached per route)."""
    names = _DECLARED.get(id(route))
    if names is None:
        found: set[str] = set()
        stack = [route.dependant]
        while stack:
            dependant = stack.pop()
            found.update(p.alias for p in dependant.query_params)
            stack.extend(dependant.dependencies)
        names = _DECLARED[id(route)] = frozenset(found)
    return names


async def reject_unknown_query(request: Request) -> None:
    """422 naming the query parameters that the matched route does not declare, or one whose name or value
    holds a NUL character (named here; the storage layer's check could not name a query's parameter)."""
    if not request.query_params:
        return
    route = request.scope.get("route")
    if route is None or not hasattr(route, "dependant"):
        return
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:  # PostgreSQL cannot hold one; no person types one
            raise ValidationError("a query parameter may not contain a NUL character (%00)", field=name[:64])
    unknown = sorted(set(request.query_params.keys()) - declared_query_params(route))
    if unknown:
        allowed = ", ".join(sorted(declared_query_params(route))) or "none"
        raise ValidationError(
            f"unknown query parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
            f"(this route takes: {allowed})",
            field=unknown[0],
            details=[{"field": name, "message": "unknown query parameter"} for name in unknown],
        )
