"""Domain errors. Adapters translate them: API -> RFC 9457 problem+json, CLI -> message + exit code."""

from __future__ import annotations


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
    return detail


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
    status = 403
    title = "Forbidden"


class PayloadTooLarge(CrmsError):
    status = 413
    title = "Content too large"


class RateLimited(CrmsError):
    status = 429
    title = "Too many requests"
