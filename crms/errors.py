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


# A rule's own kinds of error (beside Pydantic's), each with the values its message names: the pages say them
# in their language, an API client reads ``type`` and ``values`` rather than the English words.
RULE_KINDS = frozenset(
    {
        "date_in_future",
        "year_in_future",
        "name_symbol",
        "after_other_date",
        "unit_unknown",
        "unit_unknown_near",
        "unit_unknown_inside",
        "cnic_characters",
        "cnic_digits",
        "cnic_province",
        "phone_invalid",
        "username_taken",
        "phone_taken",
        "fir_taken",
        "document_taken",
        "document_on_person",
        "before_fir",
        "status_out_of_order",
        "station_not_yet",
        "station_closed",
        "station_merged",
        "already_linked",
        "already_arrested",
        "cnic_not_on_record",
        "address_on_person",
        "phone_on_person",
        "alias_on_person",
        "columns_missing",
        "columns_unknown",
        "column_twice",
        "gender_unknown",
        "relation_unknown",
        "date_unreadable",
        "district_unknown",
        "district_ambiguous",
        "station_unknown",
        "station_unknown_in",
        "station_ambiguous",
        "station_other_district",
        "outside_jurisdiction",
        "row_same_cnic",
        "row_same_person",
        "cnic_other_person",
        "file_type",
        "file_not_utf8",
        "file_too_large",
        "row_too_many_cells",
        "csv_malformed",
        "column_unnamed",
        "sections_unreadable",
        "sections_none",
        "sections_no_statute",
        "sections_unknown",
        "case_status_not_allowed",
        "case_status_final",
        "status_not_allowed",
        "status_final",
        "status_case_state",
        "status_accused_only",
        "status_by_record",
        "arrest_accused_only",
        "conviction_accused_only",
        "photo_too_large",
        "photo_too_many_pixels",
        "photo_too_small",
        "finger_printed",
        "duplicate_decided",
        "duplicate_unconfirmed",
        "candidate_decided",
        "candidate_undecided",
        "decision_own",
        "decision_same",
        "search_confirmed",
        "image_blank",
        "ppi_outside",
        "position_twice",
    }
)


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
