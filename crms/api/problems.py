"""Errors as RFC 9457 problem details (application/problem+json), naming the failing field."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from crms.errors import CrmsError

PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, *, instance: str | None = None, **extra) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(CrmsError)
    async def _crms_error(request: Request, exc: CrmsError):
        errors = exc.details or ([{"field": exc.field, "message": exc.message}] if exc.field else None)
        return problem(
            exc.status, exc.title, exc.message, instance=request.url.path, field=exc.field, errors=errors
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
            errors.append({"field": ".".join(loc) or None, "message": err.get("msg", "invalid")})
        first = errors[0] if errors else {"field": None, "message": "invalid request"}
        detail = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
        return problem(
            422, "Invalid input", detail, instance=request.url.path, field=first["field"], errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return problem(exc.status_code, str(exc.detail), str(exc.detail), instance=request.url.path)
