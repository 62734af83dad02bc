"""Walk EVERY route of the application (app.routes, whoever added it) and check that an anonymous caller and
under-privileged callers are refused, so that no route can be forgotten. Runs on both backends.

- Anonymous: every route except the explicit PUBLIC allow-list answers 401 (API) or redirects to /login
  (pages).
- A caller whose token holds no permission at all (scopes=[]): every route except PUBLIC and the
  AUTHENTICATED_ONLY list answers 403 — or 404 for a route addressing a record by id that does not exist (the
  services look the record up to learn its unit before the jurisdiction check; nothing is read or written).
- An auditor (who may only read the audit trail): every record/user route is refused the same way.
Request bodies are built from the OpenAPI schema so that validation passes and the permission check is
reached (a 422 would prove nothing and fails the test).
"""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Route

from .conftest import last_entry

# Reachable without logging in.
PUBLIC = {
    ("GET", "/api/openapi.json"),
    ("GET", "/api/docs"),
    ("GET", "/api/docs/oauth2-redirect"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/login"),
    ("POST", "/login"),  # the login form itself (CSRF-protected)
    ("POST", "/api/v1/auth/login"),  # credential check
    ("POST", "/api/v1/auth/tokens"),  # credential exchange for a token
    ("POST", "/api/v1/auth/password"),  # change your own password (the current one is the credential)
    ("POST", "/api/v1/auth/activate"),  # enrolment code -> password (the code is the credential)
    ("GET", "/api/v1/health"),
    ("GET", "/health"),
    # The web pages' assets and shell (no record data): stylesheet/script, service worker, manifest, the
    # offline page, and the language switch (a cookie).
    ("GET", "/static/{name}"),
    ("GET", "/sw.js"),
    ("GET", "/manifest.webmanifest"),
    ("GET", "/offline"),
    ("GET", "/lang/{code}"),
    # The web forms where the credential is in the form (CSRF-protected): enrolment code -> password, and
    # changing one's own password with the current one.
    ("GET", "/activate"),
    ("POST", "/activate"),
    ("GET", "/password"),
    ("POST", "/password"),
}
# Any logged-in user, whatever the role: their own session/tokens, and non-sensitive reference geography.
AUTHENTICATED_ONLY = {
    ("GET", "/api/v1/auth/me"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/auth/tokens"),
    ("DELETE", "/api/v1/auth/tokens/{token_id}"),
    ("GET", "/"),
    ("POST", "/logout"),
}
AUTHENTICATED_ONLY_PREFIXES = ("GET /api/v1/reference/",)
# Cross-field rules the schema cannot express: fields merged into the generated body.
BODY_PATCHES = {
    ("POST", "/api/v1/persons/merge"): {"survivor_id": 1, "merged_id": 2},
    ("POST", "/api/v1/cases"): {"year": 2020, "registered_on": "2020-01-01"},
    ("POST", "/api/v1/duplicates/{case_id}/decision"): {"decision": "confirm"},
}
# Routes an auditor may use.
AUDITOR_ROUTES_PREFIX = "/api/v1/audit"


def _routes(app):
    """(method, path) of every route, including those of included routers (FastAPI >= 0.16x mounts them
    lazily as _IncludedRouter entries)."""
    out = []

    def visit(routes):
        for r in routes:
            if hasattr(r, "effective_route_contexts"):
                for ctx in r.effective_route_contexts():
                    for m in sorted(
                        (getattr(ctx.original_route, "methods", None) or set()) - {"HEAD", "OPTIONS"}
                    ):
                        out.append((m, ctx.path))
            elif isinstance(r, APIRoute | Route):
                for m in sorted((r.methods or set()) - {"HEAD", "OPTIONS"}):
                    out.append((m, r.path))

    visit(app.routes)
    return out


def _auth_only(method, path):
    return (method, path) in AUTHENTICATED_ONLY or any(
        f"{method} {path}".startswith(p) for p in AUTHENTICATED_ONLY_PREFIXES
    )


def _example(schema, spec, depth=0):
    if depth > 8:
        return None
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _example(spec["components"]["schemas"][name], spec, depth + 1)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return _example(options[0], spec, depth + 1) if options else None
    t = schema.get("type")
    if t == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {k: _example(v, spec, depth + 1) for k, v in props.items() if k in schema.get("required", [])}
    if t == "array":
        return [_example(schema.get("items", {}), spec, depth + 1) for _ in range(schema.get("minItems", 0))]
    if t == "integer":
        return max(1, schema.get("minimum", 1))
    if t == "number":
        return max(1, schema.get("minimum", 1))
    if t == "boolean":
        return False
    if t == "string":
        fmt = schema.get("format")
        if fmt == "date":
            return "2020-01-01"
        if fmt == "date-time":
            return "2020-01-01T00:00:00Z"
        return "x" * max(1, schema.get("minLength", 1))
    return None


def _request_args(app, method, path):
    spec = app.openapi()
    op = spec["paths"].get(path, {}).get(method.lower(), {})
    params, body = {}, None
    url = path
    for p in op.get("parameters", []):
        value = _example(p.get("schema", {}), spec)
        if p["in"] == "path":
            url = url.replace("{" + p["name"] + "}", str(value if value not in (None, "x") else 1))
        elif p["in"] == "query" and p.get("required"):
            params[p["name"]] = value
    url = re.sub(r"\{[^}]+\}", "1", url)
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        body = _example(content["application/json"]["schema"], spec)
    if isinstance(body, dict):
        body.update(BODY_PATCHES.get((method, path), {}))
    return url, params, body


def _call(client, app, method, path, headers=None):
    url, params, body = _request_args(app, method, path)
    return client.request(
        method, url, params=params, json=body, headers=headers or {}, follow_redirects=False
    )


def test_every_route_refuses_anonymous(app, sclient, db):
    routes = _routes(app)
    assert len(routes) >= 10
    failures = []
    for method, path in routes:
        if (method, path) in PUBLIC:
            continue
        r = _call(sclient, app, method, path)
        page = not path.startswith("/api/")
        ok = r.status_code == 401 or (
            page and r.status_code in (303, 302) and "/login" in r.headers["location"]
        )
        if not ok:
            failures.append(f"{method} {path}: {r.status_code} {r.text[:120]}")
        elif not page:
            e = last_entry(db)
            if not (e and e.outcome == "refused" and e.username == "anonymous"):
                failures.append(f"{method} {path}: refused but not audited")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("who", ["no_scopes", "auditor"])
def test_every_route_refuses_under_privileged(app, sclient, db, make_user, who):
    from crms.access.models import User
    from crms.access.tokens import issue_token

    if who == "no_scopes":
        user, _ = make_user("supervisor", username="nobody_scoped")
        with db.transaction() as s:
            token = issue_token(s, s.get(User, user.id), scopes=[])
        headers = {"Authorization": f"Bearer {token}"}
    else:
        user, headers = make_user("auditor", username="the_auditor")
    failures = []
    checked = 0
    for method, path in _routes(app):
        if (method, path) in PUBLIC or _auth_only(method, path):
            continue
        if who == "auditor" and path.startswith(AUDITOR_ROUTES_PREFIX):
            continue
        if not path.startswith("/api/"):
            continue
        checked += 1
        r = _call(sclient, app, method, path, headers)
        allowed = {403, 404} if "{" in path else {403}
        if r.status_code not in allowed:
            failures.append(f"{method} {path}: {r.status_code} {r.text[:160]}")
        elif r.status_code == 403:
            e = last_entry(db)
            if not (e and e.outcome == "refused" and e.user_id == user.id):
                failures.append(f"{method} {path}: refused but not audited")
    assert checked >= 5
    assert not failures, "\n".join(failures)


# Path or query parameters that name a user or something of a user's (a token): each route that takes one is
# walked by a district administrator with a user (and token) of another district.
USER_PARAMS = ("user_id", "token_id")


def _user_routes(app):
    spec = app.openapi()
    out = []
    for method, path in _routes(app):
        op = spec["paths"].get(path, {}).get(method.lower(), {})
        names = {p["name"] for p in op.get("parameters", [])}
        if names & set(USER_PARAMS):
            out.append((method, path, names & set(USER_PARAMS)))
    return out


def test_every_user_route_keeps_a_district_administrator_in_its_unit(app, sclient, db, make_user):
    """Finding 21.7: a district administrator reached the tokens of users outside its unit. Every route that
    addresses a user or a user's token, called by an administrator of BA/QTA/QUETTA for a user of
    BA/MKN/PANJGUR, is refused (403) and the refusal audited; the same calls for a user of its own district
    are not refused."""
    from crms.access.models import ApiToken, User
    from crms.access.tokens import issue_token

    admin, headers = make_user("administrator", unit="BA/QTA/QUETTA", username="quetta_admin")
    outsider, _ = make_user("cro_operator", unit="BA/MKN/PANJGUR", username="panjgur_clerk")
    insider, _ = make_user("cro_operator", unit="BA/QTA/QUETTA", username="quetta_clerk")
    ids = {}
    for who in (outsider, insider):
        with db.transaction() as s:
            issue_token(s, s.get(User, who.id), name="walk")
            ids[who.id] = max(s.query(ApiToken.id).filter(ApiToken.user_id == who.id).all())[0]
    routes = _user_routes(app)
    assert {(m, p) for m, p, _ in routes} >= {
        ("GET", "/api/v1/auth/tokens"),
        ("DELETE", "/api/v1/auth/tokens/{token_id}"),
        ("GET", "/api/v1/users/{user_id}"),
        ("PATCH", "/api/v1/users/{user_id}"),
    }
    failures = []
    for target in (outsider, insider):
        for method, path, names in routes:
            url, params, body = _request_args(app, method, path)
            url = path.replace("{user_id}", str(target.id)).replace("{token_id}", str(ids[target.id]))
            if "user_id" in names and "{user_id}" not in path:
                params["user_id"] = target.id
            r = sclient.request(
                method, url, params=params, json=body, headers=headers, follow_redirects=False
            )
            if target is outsider:
                if r.status_code != 403:
                    failures.append(f"{method} {path} for an outsider: {r.status_code} {r.text[:160]}")
                else:
                    e = last_entry(db)
                    if not (e.outcome == "refused" and e.user_id == admin.id):
                        failures.append(f"{method} {path}: refused but not audited")
            elif r.status_code == 403 and "jurisdiction" in r.text:
                failures.append(f"{method} {path} for an insider: {r.status_code} {r.text[:160]}")
    assert not failures, "\n".join(failures)


@contextmanager
def _walker(app, db, make_user, monkeypatch, role):
    """(a client signed in to the pages as a new user of ROLE, that user's API headers): server errors are
    answered, not raised, and rate limits stay out of the way of a walk."""
    from fastapi.testclient import TestClient

    from crms.access.models import User
    from crms.access.sessions import COOKIE, create_session
    from crms.access.users import principal_for

    monkeypatch.setenv("CRMS_RATE_READ", "100000/60")
    monkeypatch.setenv("CRMS_RATE_SEARCH", "100000/60")
    user, headers = make_user(role)
    with db.transaction() as s:
        cookie = create_session(s, principal_for(s.get(User, user.id), channel="web"))
    with TestClient(
        app, base_url="https://testserver", raise_server_exceptions=False, follow_redirects=False
    ) as c:
        c.cookies.set(COOKIE, cookie)
        yield c, headers


# Ids that name no record: one a column could hold, the last one it can hold, and two past it (2^31 overflows
# PostgreSQL's INTEGER, 2^63 SQLite's). Other path parameters get a value the route accepts.
ABSENT_IDS = ("99999", str(2**31 - 1), str(2**31), str(2**63))
OTHER_PATH_VALUES = {
    "step": "confirm",
    "part": "alias",
    "kind": "phone",
    "position": "1",
    "code": "en",
    "name": "app.css",
}


@pytest.mark.parametrize("role", ["supervisor", "fingerprint_examiner", "administrator"])
def test_no_route_answers_an_absent_or_impossible_id_with_a_server_error(
    app, db, make_user, monkeypatch, role
):
    """Found by fuzzing the pages: ``GET /persons/99999`` answered 500 to every role that may list prints (the
    page read the missing record's prints before saying it was missing). Every route with an id in its path,
    page or API, GET or POST, called with ids that name no record, answers a refusal or "not found" page,
    never a server error, on both backends. A page route answers with a page, never problem+json: a case
    page's form posted for a missing case used to answer JSON, as showing the form again failed too."""
    failures, checked = [], 0
    with _walker(app, db, make_user, monkeypatch, role) as (c, headers):
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/").text).group(1)
        for method, path in _routes(app):
            if "_id}" not in path:
                continue
            for value in ABSENT_IDS:
                url = re.sub(r"\{\w+_id\}", value, path)
                url = re.sub(r"\{(\w+)\}", lambda m: OTHER_PATH_VALUES[m.group(1)], url)
                if path.startswith("/api/"):
                    _, params, body = _request_args(app, method, path)
                    r = c.request(method, url, params=params, json=body, headers=headers)
                else:
                    data = {"csrf_token": csrf} if method == "POST" else None
                    r = c.request(method, url, data=data)
                checked += 1
                if r.status_code >= 500:
                    failures.append(f"{method} {url}: {r.status_code}")
                elif not path.startswith("/api/") and r.status_code != 303:
                    if not r.headers.get("content-type", "").startswith("text/html"):  # a page, never JSON
                        failures.append(f"{method} {url}: {r.status_code} {r.headers.get('content-type')}")
    assert checked >= 100
    assert not failures, "\n".join(failures)


HOSTILE_QUERY_VALUES = ("\x00", "0001-01-01", "9999-12-31", "9" * 40, "-1", "ک" * 300, "%00'--")


def _get_routes_with_query(app):
    """(path, route, query parameter names) of every GET route, page or API, that declares some."""
    out = []

    def visit(routes):
        for r in routes:
            if hasattr(r, "effective_route_contexts"):
                for ctx in r.effective_route_contexts():
                    visit_one(ctx.path, ctx.original_route)
            else:
                visit_one(getattr(r, "path", ""), r)

    def visit_one(path, route):
        dependant = getattr(route, "dependant", None)
        if "GET" in (getattr(route, "methods", None) or set()) and dependant is not None:
            names = [q.alias for q in dependant.query_params]
            if names:
                out.append((path, names))

    visit(app.routes)
    return out


@pytest.mark.parametrize("role", ["supervisor", "auditor"])
def test_no_route_answers_a_hostile_query_value_with_a_server_error(app, db, make_user, monkeypatch, role):
    """Found by sending hostile values to the pages and the API on PostgreSQL: a NUL character in a query
    value (``/api/v1/cases?district=%00``) and a day at the calendar's ends (``/audit?since=0001-01-01``)
    answered 500. Every GET route's every query parameter, given each hostile value, answers a refusal or a
    page, never a server error, on both backends; a page answers with a page."""
    failures, checked = [], 0
    with _walker(app, db, make_user, monkeypatch, role) as (c, headers):
        for path, names in _get_routes_with_query(app):
            url = re.sub(r"\{\w+_id\}", "1", path)
            url = re.sub(r"\{(\w+)\}", lambda m: OTHER_PATH_VALUES[m.group(1)], url)
            required = _request_args(app, "GET", path)[1] if path.startswith("/api/") else {}
            for name in names:
                for value in HOSTILE_QUERY_VALUES:
                    params = {**required, name: value}
                    r = c.get(url, params=params, headers=headers if path.startswith("/api/") else None)
                    checked += 1
                    if r.status_code >= 500:
                        failures.append(f"GET {url} {name}={value[:12]!r}: {r.status_code}")
                    elif not path.startswith("/api/") and r.status_code != 303:
                        if not r.headers.get("content-type", "").startswith("text/html"):
                            failures.append(
                                f"GET {url} {name}={value[:12]!r}: {r.headers.get('content-type')}"
                            )
    assert checked >= 200, checked
    assert not failures, "\n".join(failures)
