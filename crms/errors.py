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
