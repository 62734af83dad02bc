"""Errors as RFC 9457 problem details (application/problem+json), naming the failing field."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from crms.errors import RULE_KINDS, RULE_VALUES, CrmsError, validation_detail

PROBLEM = "application/problem+json"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra,
) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {**({"WWW-Authenticate": "Bearer"} if status == 401 else {}), **(headers or {})}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers or None)


def allowed_methods(request: Request) -> str:
    """Every method some route of the application takes at the request's path, for a 405's ``Allow`` (RFC
    9110). Starlette's own names only the first route matching the path, and a path such as ``/login`` has
    one route per method. A path that names routes word for word (``/persons/merge``) is theirs alone."""
    return ", ".join(sorted(named_path_methods(request) or _methods_at(request, named=False)))


def named_path_methods(request: Request) -> set[str]:
    """The methods of the routes whose path names the request's path word for word (``/persons/merge``):
    none where only a route with a parameter (``/persons/{person_id}``) takes it."""
    return _methods_at(request, named=True)


def _methods_at(request: Request, *, named: bool) -> set[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        nested = route.effective_route_contexts() if hasattr(route, "effective_route_contexts") else (route,)
        for r in nested:
            regex, taken = getattr(r, "path_regex", None), getattr(r, "methods", None)
            if regex is None or not taken or (named and r.param_convertors):
                continue
            if regex.match(request.url.path):
                methods |= taken
    return methods


def wrong_method(request: Request, exc: RequestValidationError) -> StarletteHTTPException | None:
    """405 for a method that the routes named by the request's path do not take, where a route with a
    parameter took the path instead: ``PATCH /persons/merge`` reached ``PATCH /persons/{person_id}`` and was
    answered "person_id is not an integer" while the method was what was wrong."""
    named = named_path_methods(request)
    if named and request.method not in named and any(e.get("loc", ("",))[0] == "path" for e in exc.errors()):
        return StarletteHTTPException(405, "Method Not Allowed")
    return None


def error_headers(request: Request, exc: StarletteHTTPException) -> dict[str, str]:
    """The headers an HTTP error keeps in any body: its own, with ``Allow`` naming every route's methods."""
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request) or headers.get("Allow", "")
    return headers


# The problem details as the OpenAPI document declares them, for every operation's errors.
PROBLEM_SCHEMA = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details: every refused or failed API call is answered with one.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "what is wrong, in words"},
        "instance": {"type": "string", "description": "the request's path"},
        "field": {"type": "string", "description": "the failing parameter or field, where one is at fault"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": ["string", "null"]},
                    "message": {"type": "string"},
                    "type": {
                        "type": "string",
                        "description": "the kind of error, where it is known: Pydantic's error type "
                        "(`missing`, `string_too_long`, `int_parsing`, `less_than_equal`, `date_parsing`, "
                        "...) or a rule's own (" + ", ".join(f"`{k}`" for k in sorted(RULE_KINDS)) + ")",
                    },
                    "values": {
                        "type": "object",
                        "description": "for a rule's own kind, the values its message names, by name: "
                        + "; ".join(
                            f"`{kind}`: " + ", ".join(f"`{name}`" for name in names)
                            for kind, names in sorted(RULE_VALUES.items())
                            if names
                        ),
                    },
                    "limit": {
                        "type": "number",
                        "description": "the limit the input broke, where the kind has one: the length for "
                        "`string_too_long`/`string_too_short`/`too_long`, the bound for "
                        "`less_than_equal`/`greater_than_equal`/`less_than`/`greater_than`",
                    },
                },
            },
        },
    },
}
_PROBLEM_CONTENT = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def document_problems(spec: dict) -> dict:
    """Declare the API's errors as they are sent: each operation's 422 (FastAPI declares its own validation
    body, which the handlers above replace) and any other 4xx (``4XX``: refused, not found, conflict, too
    large, rate limited) as ``application/problem+json`` :data:`PROBLEM_SCHEMA`."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = {"description": "Invalid input", "content": _PROBLEM_CONTENT}
            responses.setdefault(
                "4XX", {"description": "Refused or failed (problem details)", "content": _PROBLEM_CONTENT}
            )
    return spec


def install_problem_handlers(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(CrmsError)
    async def _crms_error(request: Request, exc: CrmsError):
        errors = exc.details or ([{"field": exc.field, "message": exc.message}] if exc.field else None)
        wait = getattr(exc, "retry_after", None)
        return problem(
            exc.status, exc.title, exc.message, instance=request.url.path, field=exc.field, errors=errors,
            headers={"Retry-After": str(wait)} if wait else None,
        )  # fmt: skip

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        if (wrong := wrong_method(request, exc)) is not None:
            return await _http(request, wrong)
        errors = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
            message = err.get("msg", "invalid").removeprefix("Value error, ")  # (as the services say it)
            errors.append(validation_detail(err, ".".join(loc) or None, message))
        first = errors[0] if errors else {"field": None, "message": "invalid request"}
        detail = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
        return problem(
            422, "Invalid input", detail, instance=request.url.path, field=first["field"], errors=errors
        )

    @app.exception_handler(Exception)
    async def _fault(request: Request, exc: Exception):
        """A fault of ours: problem details like every other answer, never a trace; the server logs the trace
        (Starlette raises the exception on after answering)."""
        return problem(500, "Internal error", "the request could not be handled", instance=request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        headers = error_headers(request, exc)
        return problem(
            exc.status_code, str(exc.detail), str(exc.detail), instance=request.url.path, headers=headers
        )
