"""How the API is served: request-body limits checked before a body is read (and credentials checked before
an authenticated route's body is read), an access log without personal data, and the OpenAPI docs page
served from an installed package (no CDN: police intranets are offline).

Body limits. JSON bodies are parsed by FastAPI before any dependency runs, so authentication in a dependency
comes too late to protect memory. :class:`BodyLimit` (ASGI middleware) therefore, for every request that
carries a body:

1. finds the route; its limit is :data:`DEFAULT_BODY_LIMIT` (1 MiB), :data:`ANONYMOUS_BODY_LIMIT` (64 KiB) for
   a route that needs no credentials (login forms), or what the route declares with :func:`body_limit`
   (uploads; the web pages' uploads are in :data:`ROUTE_BODY_LIMITS`);
2. refuses a declared ``Content-Length`` above the limit with 413 without reading a byte;
3. for every route but those in :data:`ANONYMOUS_BODY_ROUTES` (where the credential is in the body: login,
   token exchange, password change, activation), checks the API token or browser session first and answers
   401 (a page: a redirect to /login), audited as ``auth.refused``, without reading the body;
4. counts the bytes as the application reads them and answers 413 as soon as a body without
   ``Content-Length`` (chunked) goes over the limit: at most the limit is ever held.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crms.api.problems import problem

DEFAULT_BODY_LIMIT = 1024 * 1024
ANONYMOUS_BODY_LIMIT = 64 * 1024
_MiB = 1024 * 1024

# Routes that take a body from a caller without credentials: the credential is in the body (a password, an
# enrolment code). Every other route with a body needs a valid API token or session before it is read; a new
# route of this kind must be added here (tests/serving/test_body_limits.py walks every route).
ANONYMOUS_BODY_ROUTES = frozenset(
    {
        ("POST", "/login"),
        ("POST", "/activate"),
        ("POST", "/password"),
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/auth/tokens"),
        ("POST", "/api/v1/auth/password"),
        ("POST", "/api/v1/auth/activate"),
    }
)
IMPORT_FILE_LIMIT = 20 * _MiB  # a register spreadsheet uploaded on the web's import page
# Bigger bodies of routes that do not declare theirs with @body_limit: uploads of up to ten fingers of at most
# 50 MiB each (identification, the web's enrolment page) and a spreadsheet of at most IMPORT_FILE_LIMIT (the
# web's import page), with room for the multipart framing and fields.
ROUTE_BODY_LIMITS = {
    ("POST", "/api/v1/identify"): 10 * 50 * _MiB + _MiB,
    ("POST", "/persons/{person_id}/fingerprints"): 10 * 50 * _MiB + _MiB,
    ("POST", "/import"): IMPORT_FILE_LIMIT + _MiB,
}
_LIMIT_ATTR = "__crms_body_limit__"
_AUTH_ATTR = "__crms_authenticated__"

F = TypeVar("F", bound=Callable[..., Any])


def body_limit(max_bytes: int, *, authenticated: bool = True) -> Callable[[F], F]:
    """Declare a route's request-body limit (an upload bigger than :data:`DEFAULT_BODY_LIMIT`) and whether
    credentials are checked before its body is read. Put it below the ``@router.post(...)`` line."""

    def mark(endpoint: F) -> F:
        setattr(endpoint, _LIMIT_ATTR, int(max_bytes))
        setattr(endpoint, _AUTH_ATTR, authenticated)
        return endpoint

    return mark


def declared_length(request: Request) -> int | None:
    """The request's ``Content-Length``; None when absent or not plain ASCII digits (``str.isdigit`` also
    takes ``²``, which ``int`` refuses; :class:`BodyLimit` has answered 413 to a malformed one already)."""
    value = request.headers.get("content-length")
    return int(value) if value is not None and value.isascii() and value.isdigit() else None


async def read_body(request: Request, limit: int, *, image_limit: int | None = None) -> bytes:
    """An upload's request body, refused (413, field ``image``) as soon as it passes ``limit`` bytes (never
    read whole first). ``image_limit``: the image's own limit named in the refusal when ``limit`` also
    allows for framing around it (default ``limit``)."""
    from crms.errors import PayloadTooLarge

    shown = limit if image_limit is None else image_limit
    if (declared_length(request) or 0) > limit:
        raise PayloadTooLarge(f"image larger than {shown} bytes", field="image")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"image larger than {shown} bytes", field="image")
        chunks.append(chunk)
    return b"".join(chunks)


MULTIPART_OVERHEAD = 64 * 1024  # a form's boundaries and part headers around an uploaded file


async def upload_body(
    request: Request, limit: int, *, what: str = "image", fields: tuple[str, ...] = ("image",)
) -> tuple[bytes, str | None]:
    """An uploaded file (a fingerprint image, a photo) and its file name: the raw request body (name None),
    or the file in the first of ``fields`` of a multipart/form-data form. Refused naming ``image``: empty,
    over ``limit`` bytes (413, before it is read whole), a form without the file or one that cannot be read.
    """
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartException, MultiPartParser

    from crms.errors import PayloadTooLarge, ValidationError

    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "multipart/form-data":
        body = await read_body(request, limit)
        if not body:
            raise ValidationError(f"send the {what} as the request body", field="image")
        return body, None
    body = await read_body(request, limit + MULTIPART_OVERHEAD, image_limit=limit)

    async def stream():
        yield body
        yield b""

    try:
        form = await MultiPartParser(request.headers, stream(), max_files=1, max_fields=10).parse()
    except MultiPartException as exc:
        raise ValidationError(f"unreadable multipart form: {exc.message}", field="image") from None
    try:
        upload = next((form[f] for f in fields if isinstance(form.get(f), UploadFile)), None)
        if upload is None:
            raise ValidationError(
                f"send the {what} as the file field '{fields[0]}' of the form", field="image"
            )
        data = await upload.read()
        name = upload.filename
    finally:
        await form.close()
    if not data:
        raise ValidationError(f"the uploaded {what} is empty", field="image")
    if len(data) > limit:
        raise PayloadTooLarge(f"{what} larger than {limit} bytes", field="image")
    return data, (name or None)


class _TooLarge(HTTPException):
    """Raised from ``receive`` when a body goes over its limit; an HTTPException so that FastAPI, which turns
    other errors met while reading a body into a 400, passes it on, and the problem handler answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large(limit))


def _http_routes(app: Any) -> list[tuple[str, set[str], Any]]:
    """(full path, methods, original route) of the application's HTTP routes, routers included."""
    try:  # FastAPI >= 0.160 keeps included routers as such; this walks them with their prefixes
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - older FastAPI: routes are already flat
        return [(r.path, set(r.methods), r) for r in app.routes if getattr(r, "methods", None)]
    out = []
    for ctx in iter_route_contexts(app.routes):
        path, methods = ctx.path, ctx.methods
        if path and methods:
            out.append((path, set(methods), ctx.original_route))
    return out


class BodyLimit:
    """ASGI middleware: see the module docstring. ``fastapi_app`` is the application whose routes declare
    the limits and whose database checks the credentials."""

    def __init__(self, app: ASGIApp, *, fastapi_app: Any, default_limit: int = DEFAULT_BODY_LIMIT) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self.default_limit = default_limit
        self._routes: list[tuple[Any, frozenset[str], tuple[int, bool]]] | None = None

    def _table(self) -> list[tuple[Any, frozenset[str], tuple[int, bool]]]:
        """(path regex, methods, policy) of every HTTP route, in the order the router tries them; built on
        the first request with a body (routes do not change once the application serves)."""
        if self._routes is None:
            table = []
            for path, methods, route in _http_routes(self.fastapi_app):
                endpoint = getattr(route, "endpoint", None)
                regex = compile_path(path)[0]
                for method in methods:
                    declared = getattr(endpoint, _LIMIT_ATTR, None) or ROUTE_BODY_LIMITS.get((method, path))
                    authenticated = getattr(endpoint, _AUTH_ATTR, None)
                    if authenticated is None:
                        authenticated = (method, path) not in ANONYMOUS_BODY_ROUTES
                    if declared is None:
                        declared = self.default_limit if authenticated else ANONYMOUS_BODY_LIMIT
                    table.append((regex, frozenset({method}), (int(declared), bool(authenticated))))
            self._routes = table
        return self._routes

    def _route_policy(self, scope: Scope) -> tuple[int, bool]:
        """(limit, authenticated) of the route that will answer ``scope``."""
        method, path = scope.get("method", ""), scope.get("path", "")
        for regex, methods, policy in self._table():
            if method in methods and regex.match(path):
                return policy
        return ANONYMOUS_BODY_LIMIT, False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length: int | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = -1
            elif name == b"transfer-encoding":
                chunked = True
        if length is None and not chunked or length == 0:
            await self.app(scope, receive, send)  # no body
            return
        limit, authenticated = self._route_policy(scope)
        path = scope.get("path", "")
        if length is not None and (length < 0 or length > limit):
            await _respond(scope, send, problem(413, "Payload too large", _too_large(limit), instance=path))
            return
        if authenticated:
            refusal = await run_in_threadpool(_check_credentials, self.fastapi_app, scope)
            if refusal is not None:
                if path.startswith("/api/"):
                    response = problem(401, "Not authenticated", refusal, instance=path)
                else:  # a page's form: back to the login page, as the pages do
                    response = RedirectResponse(sign_in_again(Request(scope)), status_code=303)
                await _respond(scope, send, response)
                return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge(limit)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _TooLarge:  # read outside the application's exception handlers
            if started:
                raise
            await _respond(scope, send, problem(413, "Payload too large", _too_large(limit), instance=path))


def _too_large(limit: int) -> str:
    return f"request body larger than {limit} bytes"


async def _respond(scope: Scope, send: Send, response: Any) -> None:
    async def nothing() -> Message:
        return {"type": "http.disconnect"}

    await response(scope, nothing, send)


def local_path(target: str | None) -> str:
    """``target`` if it is a path of this site ("/cases?year=2024"), else "/": never another site's address
    (``//host``, ``/\\host``, which browsers read as ``//host``, or ``https://host``)."""
    target = target or "/"
    if not target.startswith("/") or target.startswith(("//", "/\\")) or any(c < " " for c in target):
        return "/"
    return target


def return_path(request: Request) -> str:
    """The page to come back to after signing in again: a page's own address (with its query), or for a form
    sent from a page of this site, that page (the form's action may have no page of its own)."""
    if request.method == "GET":
        url = request.url
        return local_path(url.path + (f"?{url.query}" if url.query else ""))
    referer = urlsplit(request.headers.get("referer") or "")
    if referer.netloc != request.url.netloc or not referer.path:
        return "/"
    return local_path(referer.path + (f"?{referer.query}" if referer.query else ""))


def sign_in_again(request: Request, *, expired: bool = True) -> str:
    """The sign-in page's address for a page request whose session has ended (``expired``) or never was:
    it returns to :func:`return_path`, and says that a form sent was not saved."""
    query: dict = {"expired": 1} if expired else {}
    query["next"] = return_path(request)
    if expired and request.method == "POST":
        query["unsent"] = 1
    return "/login?" + urlencode(query)


def _check_credentials(app: Any, scope: Scope) -> str | None:
    """None when the request carries a valid API token or browser session; else why not (and the refusal is
    audited). Reads nothing but headers."""
    from starlette.requests import Request

    from crms.access import audit
    from crms.access.sessions import COOKIE, principal_from_session
    from crms.access.tokens import principal_from_token
    from crms.errors import AuthenticationError

    request = Request(scope)
    db = app.state.db
    address = request.client.host if request.client else None
    try:
        header = request.headers.get("authorization", "")
        if header:
            kind, _, token = header.partition(" ")
            if kind.lower() != "bearer" or not token.strip():
                raise AuthenticationError("use 'Authorization: Bearer <token>'")
            with db.transaction() as session:
                principal_from_token(session, token.strip(), address=address)
            return None
        cookie = request.cookies.get(COOKIE)
        if not cookie:
            raise AuthenticationError(
                "authentication required: send 'Authorization: Bearer <token>' or log in"
            )
        with db.transaction() as session:
            principal_from_session(session, cookie, address=address)
        return None
    except AuthenticationError as exc:
        from crms.access.principal import Principal

        anonymous = Principal(user_id=None, username="anonymous", role="none", channel="api", address=address)
        where = f"{scope.get('method', '')} {scope.get('path', '')}"
        audit.record_refusal(db, anonymous, "auth.refused", exc.message, query=where)
        return exc.message


# ------------------------------------------------------------------------------------------- access log


class NoQueryString(logging.Filter):
    """Drop the query string from uvicorn's access-log lines: searches carry a CNIC or a name and the stated
    reason there (``GET /api/v1/persons?cnic=...&reason=...``), which must not end up in clear text in a log
    file. The audit trail records who searched for what."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with :class:`NoQueryString` on the access log."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["no_query_string"] = {"()": "crms.api.serving.NoQueryString"}
    config["handlers"]["access"]["filters"] = ["no_query_string"]
    return config


# ------------------------------------------------------------------------------------------- docs page


DOCS_URL = "/api/docs"
_ASSETS = "/api/docs/assets"


def install_docs(app: Any, openapi_url: str) -> None:
    """Swagger UI at /api/docs with its JavaScript and CSS served from the installed ``fastapi-offline``
    package (Swagger UI 5): the page works without internet."""
    from importlib.resources import files

    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    static = files("fastapi_offline") / "static"
    app.mount(_ASSETS, StaticFiles(directory=str(static)), name="docs-assets")

    async def docs() -> Any:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - API",
            swagger_js_url=f"{_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{_ASSETS}/favicon.png",
        )

    app.add_api_route(DOCS_URL, docs, include_in_schema=False, methods=["GET"])


# ------------------------------------------------------------------------------------------- cookies

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _host_of(header: bytes) -> str:
    host = header.decode("latin-1").strip().lower()
    if host.startswith("["):  # [::1]:8000
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class LoopbackDemoCookies:
    """Session and CSRF cookies are ``Secure`` (sent back over HTTPS only). A demo on the same machine is
    served over plain HTTP at http://localhost or http://127.0.0.1, where a client that honours ``Secure``
    strictly would never send the session back: for such a request (scheme http, loopback Host header and
    loopback client) the ``Secure`` attribute is dropped from Set-Cookie. Anything served over HTTPS (or
    through a reverse proxy that says so with X-Forwarded-Proto), or to another host name, keeps it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("scheme") != "http" or not _loopback(scope):
            await self.app(scope, receive, send)
            return

        async def send_without_secure(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers") or []
                if any(k.lower() == b"set-cookie" for k, _ in headers):
                    message = {**message, "headers": [_drop_secure(k, v) for k, v in headers]}
            await send(message)

        await self.app(scope, receive, send_without_secure)


def _loopback(scope: Scope) -> bool:
    client = scope.get("client")
    if not client or client[0] not in LOOPBACK_HOSTS:
        return False
    for name, value in scope["headers"]:
        if name == b"host":
            return _host_of(value) in LOOPBACK_HOSTS
    return False


def _drop_secure(name: bytes, value: bytes) -> tuple[bytes, bytes]:
    if name.lower() != b"set-cookie":
        return name, value
    parts = [p for p in value.split(b";") if p.strip().lower() != b"secure"]
    return name, b";".join(parts)
