"""Domain errors. Adapters translate them: API -> RFC 9457 problem+json, CLI -> message + exit code."""

from __future__ import annotations

import math


class CrmsError(Exception):
    """Base of every error a service raises on purpose."""

    status = 400
    title = "Bad request"

    def __init__(self, message: str, *, field: str | None = None, details: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details or []

    def at(self, field: str, message: str | None = None) -> CrmsError:
        """This error said at another ``field`` (a form's box, the part of a request at fault), its kind and
        values kept; ``message``: other words for it (its details' too)."""
        words = {} if message is None else {"message": message}
        details = [{**d, "field": field, **words} for d in self.details]
        return type(self)(self.message if message is None else message, field=field, details=details)


# The limits Pydantic's errors carry in their context (``string_too_long``: ``max_length``), one per kind.
LIMIT_KEYS = ("max_length", "min_length", "le", "ge", "lt", "gt")


def validation_detail(err: dict, field: str | None, message: str | None = None) -> dict:
    """One of Pydantic's errors (``ValidationError.errors()``, the services' or FastAPI's) as a detail:
    ``field``, ``message`` (default: Pydantic's words, as the API always sent them), ``type`` (Pydantic's
    kind of error, ``string_too_long``, or a schema's own, ``date_in_future``) and, where the kind has a
    numeric limit, ``limit`` (the 100 of "at most 100 characters")."""
    detail = {"field": field, "message": err.get("msg", "invalid") if message is None else message}
    if err.get("type"):
        detail["type"] = err["type"]
    ctx = err.get("ctx") or {}
    for key in LIMIT_KEYS:
        value = ctx.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            detail["limit"] = value
            break
    if err.get("type") in RULE_KINDS:
        detail["values"] = {
            k: v for k, v in ctx.items() if isinstance(v, str | int) and not isinstance(v, bool)
        }
    return detail


# A rule's own kinds of error (beside Pydantic's), each with the names of the values its message names: the
# pages say them in their language, an API client reads ``type`` and ``values`` rather than the English words
# (the API's problem schema lists them from here).
RULE_VALUES: dict[str, tuple[str, ...]] = {
    # a person's or a case's fields
    "date_in_future": ("what",),
    "year_in_future": ("what",),
    "date_before_1900": ("what",),
    "country_code": ("value",),
    "name_symbol": ("char",),
    "name_script_arabic": ("other",),
    "name_script_latin": ("other",),
    "alias_script_arabic": ("script",),
    "alias_script_latin": ("script",),
    "after_other_date": ("what", "other"),
    "unit_unknown": ("unit",),
    "unit_unknown_near": ("unit", "paths"),
    "unit_unknown_inside": ("unit", "parent", "paths"),
    "cnic_characters": ("char",),
    "cnic_digits": ("found",),
    "cnic_province": ("found",),
    "phone_invalid": ("phone",),
    "not_clearable": (),
    "reason_missing": (),
    # taken already, by this person or another
    "username_taken": ("username",),
    "phone_taken": ("phone",),
    "fir_taken": ("fir", "station", "case"),
    "document_taken": ("document", "number", "person"),
    "document_on_person": ("document", "number", "person"),
    "document_number": ("document", "found"),
    "document_twice": ("document", "number"),
    "address_on_person": ("entry",),
    "phone_on_person": ("entry",),
    "alias_on_person": ("entry",),
    "cnic_not_on_record": ("cnic",),
    "person_merged": ("person", "into"),
    "person_not_found": ("person",),
    "case_not_found": ("case",),
    "link_not_found": ("link",),
    "merge_same_case": ("case", "fir", "role", "link"),
    # days and police stations
    "before_fir": ("registered",),
    "status_out_of_order": ("status", "since"),
    "station_not_yet": ("station", "since"),
    "station_closed": ("station", "on"),
    "station_merged": ("station", "into", "on"),
    # persons in a case: links, statuses, arrests and convictions
    "already_linked": ("role",),
    "already_arrested": ("since",),
    "case_status_not_allowed": ("old", "new", "allowed"),
    "case_status_final": ("old",),
    "status_not_allowed": ("old", "new", "allowed"),
    "status_final": ("old",),
    "status_case_state": ("status", "case_status", "when"),
    "status_accused_only": ("status",),
    "status_by_record": ("status",),
    "arrest_accused_only": ("role",),
    "conviction_accused_only": ("role",),
    "link_arrested": ("person", "fir", "station"),
    "link_convicted": ("person", "fir", "station"),
    # FIR sections
    "sections_unreadable": ("word",),
    "sections_none": ("text",),
    "sections_no_statute": ("sections",),
    "sections_unknown": ("sections",),
    # imports: the file's columns and rows
    "columns_missing": ("columns",),
    "columns_unknown": ("columns",),
    "column_twice": ("column",),
    "column_unnamed": ("column",),
    "gender_unknown": ("value",),
    "relation_unknown": ("value",),
    "date_unreadable": ("value",),
    "date_no_such_day": ("value", "day", "month", "year"),
    "date_short_year": ("value",),
    "district_unknown": ("value",),
    "district_ambiguous": ("value", "codes"),
    "station_unknown": ("value",),
    "station_unknown_in": ("value", "district"),
    "station_ambiguous": ("value", "codes"),
    "station_other_district": ("station", "district", "given"),
    "outside_jurisdiction": ("unit", "yours"),
    "row_same_cnic": ("cnic", "row"),
    "row_same_person": ("row",),
    "cnic_other_person": ("cnic", "person"),
    "file_type": ("suffix",),
    "file_not_utf8": ("line",),
    "file_too_large": ("mb",),
    "row_too_many_cells": ("row", "cells", "columns"),
    "csv_malformed": ("line",),
    # photos
    "photo_too_large": ("mb",),
    "photo_too_many_pixels": ("limit",),
    "photo_too_small": ("side",),
    # fingerprints: files, captures, searches and examiners' decisions
    "image_too_many_bytes": ("size", "limit", "mb"),
    "image_too_many_pixels": ("width", "height", "side", "pixels"),
    "image_too_small": ("width", "height", "side"),
    "image_too_small_at_ppi": ("width", "height", "ppi"),
    "image_empty": (),
    "image_format_unknown": (),
    "image_undecodable": ("format",),
    "image_blank": ("shade",),
    "stored_file_missing": (),
    "stored_file_damaged": (),
    "ppi_outside": ("ppi", "low", "high"),
    "ppi_estimated_outside": ("ppi", "low", "high"),
    "ppi_not_number": ("value",),
    "finger_printed": ("position",),
    "position_twice": ("position", "first"),
    "positions_count": ("positions", "prints"),
    "probes_count": ("count", "most"),
    "minutiae_too_few": ("count", "needed"),
    "search_not_found": ("search",),
    "duplicate_not_found": ("case",),
    "duplicate_decided": ("case", "word"),
    "duplicate_unconfirmed": ("case", "word"),
    "candidate_decided": ("person",),
    "candidate_undecided": ("person",),
    "decision_own": ("person",),
    "decision_same": ("word",),
    "search_confirmed": ("person", "first", "by"),
}
RULE_KINDS = frozenset(RULE_VALUES)


def rule_error(
    field: str,
    kind: str,
    message: str,
    *,
    error: type[CrmsError] | None = None,
    **values: str | int | list[str],
) -> CrmsError:
    """The ``error`` (ValidationError unless said: a Conflict, say) of one ``field`` by a rule of ``kind``
    (one of RULE_KINDS), its values named, with ``message`` in English words as every adapter has always
    shown it."""
    assert kind in RULE_KINDS, kind
    detail = {"field": field, "message": message, "type": kind, "values": values}
    return (error or ValidationError)(message, field=field, details=[detail])


def limit_error(field: str, kind: str, limit: int, message: str) -> ValidationError:
    """ValidationError of one ``field`` by a limit of one of Pydantic's kinds (``string_too_short``: at least
    ``limit`` characters), said by the pages as Pydantic's own errors of that kind are."""
    detail = {"field": field, "message": message, "type": kind, "limit": limit}
    return ValidationError(message, field=field, details=[detail])


class ValidationError(CrmsError):
    status = 422
    title = "Invalid input"


class NotFound(CrmsError):
    status = 404
    title = "Not found"


class Conflict(CrmsError):
    status = 409
    title = "Conflict"


class AuthenticationError(CrmsError):
    status = 401
    title = "Not authenticated"


class PasswordChangeRequired(AuthenticationError):
    """The password was right but works once (a demo or reset password): a new one must be set first."""

    title = "Password change required"


class PermissionDenied(CrmsError):
    """A refusal. ``kind`` says of what, for a page to word it: ``role`` (the role lacks the permission),
    ``jurisdiction`` (the record's unit lies outside the user's) or ``rule`` (a rule of the action, in
    ``message``: a second administrator must approve, say)."""

    status = 403
    title = "Forbidden"

    def __init__(self, message: str, *, field: str | None = None, kind: str = "rule"):
        super().__init__(message, field=field)
        self.kind = kind


class DatabaseNotReady(CrmsError):
    """The database's schema is not the one this version of CRMS needs (none yet, an older or a newer one):
    the message says what to run."""

    status = 503
    title = "Database not ready"


class PayloadTooLarge(CrmsError):
    status = 413
    title = "Content too large"


class RateLimited(CrmsError):
    """Too many requests in a short time; ``retry_after``: whole seconds until one would be allowed, where
    known (the API sends it as ``Retry-After``, the pages say it)."""

    status = 429
    title = "Too many requests"

    def __init__(self, message: str, *, field: str | None = None, retry_after: float | None = None):
        super().__init__(message, field=field)
        self.retry_after = None if retry_after is None else max(1, math.ceil(retry_after))

    @classmethod
    def waiting(cls, what: str, seconds: float) -> RateLimited:
        """Too many of ``what`` (record reads, searches): one more is allowed in ``seconds``."""
        wait = max(1, math.ceil(seconds))
        return cls(f"too many {what}: try again in {wait} s", field="rate", retry_after=wait)
