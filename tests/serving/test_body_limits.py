"""Request bodies are limited per route before they are read, and an authenticated route's credentials are
checked before its body is read: an anonymous caller cannot make the server hold a large body."""

from __future__ import annotations

import asyncio
import json

import pytest

from crms.api.serving import ANONYMOUS_BODY_LIMIT, DEFAULT_BODY_LIMIT


def asgi(
    app, method: str, path: str, headers: dict[str, str], chunks: list[bytes], length: int | None = None
):
    """Call the application as a server would; returns (status, response body, receive() calls, bytes
    handed to the application)."""
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if length is not None:
        raw.append((b"content-length", str(length).encode()))
    else:
        raw.append((b"transfer-encoding", b"chunked"))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "https", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"testserver"), *raw], "client": ("127.0.0.1", 5000),
        "server": ("testserver", 443), "state": {},
    }  # fmt: skip
    pending = list(chunks)
    stats = {"calls": 0, "bytes": 0}
    sent: list[dict] = []

    async def receive() -> dict:
        stats["calls"] += 1
        if pending:
            body = pending.pop(0)
            stats["bytes"] += len(body)
            return {"type": "http.request", "body": body, "more_body": bool(pending)}
        await asyncio.sleep(3600)  # a client that sends nothing more
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(asyncio.wait_for(app(scope, receive, send), 30))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    try:
        answer = json.loads(body or b"null")
    except ValueError:  # a page
        answer = body.decode(errors="replace")
    return sent[0]["status"], answer, stats["calls"], stats["bytes"]


def _auth(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "content-type": "application/json"}


def test_declared_oversized_json_body_refused_without_reading_it(app, make_user):
    _, op = make_user("cro_operator")
    status, body, calls, _ = asgi(
        app, "POST", "/api/v1/persons", _auth(op), [b"{}"], length=200 * 1024 * 1024
    )
    assert (status, calls) == (413, 0)
    assert body["detail"] == f"request body larger than {DEFAULT_BODY_LIMIT} bytes"


def test_streamed_body_refused_once_it_passes_the_limit(app, make_user):
    _, op = make_user("cro_operator")
    chunks = [b" " * (256 * 1024)] * 40  # 10 MiB offered, no Content-Length
    status, _, calls, read = asgi(app, "POST", "/api/v1/persons", _auth(op), chunks)
    assert status == 413
    assert read <= DEFAULT_BODY_LIMIT + 256 * 1024 and calls < 40


def test_anonymous_body_refused_before_it_is_read(app, db):
    from crms.access.models import AuditEntry

    headers = {"content-type": "application/json"}
    status, body, calls, _ = asgi(app, "POST", "/api/v1/persons", headers, [b"{}"], length=500_000)
    assert (status, calls) == (401, 0)
    status, _, calls, _ = asgi(app, "POST", "/api/v1/persons", headers, [b"{" * 1000] * 1000)
    assert (status, calls) == (401, 0)
    bad = {**headers, "authorization": "Bearer crms_not-a-token"}
    status, _, calls, _ = asgi(app, "PATCH", "/api/v1/persons/1", bad, [b"{}"], length=2)
    assert (status, calls) == (401, 0)
    with db.transaction() as s:
        refused = s.query(AuditEntry).filter_by(action="auth.refused").count()
    assert refused == 3


def test_real_oversized_bodies_over_http(client, make_user):
    _, op = make_user("cro_operator")
    big = json.dumps({"given_name_en": "x" * (2 * 1024 * 1024)})
    r = client.post("/api/v1/persons", content=big, headers=_auth(op))
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
    r = client.post("/api/v1/persons", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413  # the declared size is checked first: it needs no database
    r = client.post("/api/v1/persons", content=big[:500_000], headers={"content-type": "application/json"})
    assert r.status_code == 401
    r = client.post(
        "/api/v1/auth/login", json={"username": "u", "password": "p" * (ANONYMOUS_BODY_LIMIT + 1)}
    )
    assert r.status_code == 413  # login needs no credentials: a small limit


def test_small_bodies_and_login_still_work(client, make_user, db):
    from crms.access.users import create_user

    with db.transaction() as s:
        create_user(s, "clerk1", "cro_operator", unit="BA", password="correct horse battery")
    r = client.post("/api/v1/auth/login", json={"username": "clerk1", "password": "correct horse battery"})
    assert r.status_code == 200, r.text
    _, op = make_user("cro_operator")
    r = client.post("/api/v1/persons", json={"given_name_en": "Juma"}, headers=op)
    assert r.status_code == 201, r.text  # read and handled: only size and credentials are checked first


def test_upload_route_declares_a_bigger_limit(app, make_user):
    from crms.fingerprint.images import MAX_BYTES

    _, op = make_user("cro_operator")
    path = "/api/v1/persons/1/fingerprints/1"
    status, _, calls, _ = asgi(app, "POST", path, op, [b"x"], length=MAX_BYTES + 1024 * 1024)
    assert (status, calls) == (413, 0)
    two_mib = [b"\0" * (1024 * 1024)] * 2  # over the JSON default, within the upload limit
    status, body, _, read = asgi(app, "POST", path, op, two_mib, length=2 * 1024 * 1024)
    assert status != 413 and read == 2 * 1024 * 1024, body
    status, _, calls, _ = asgi(app, "POST", path, {}, [b"x"], length=MAX_BYTES)
    assert (status, calls) == (401, 0)


@pytest.mark.parametrize("length", ["-1", "12abc"])
def test_malformed_content_length_refused(app, make_user, length):
    _, op = make_user("cro_operator")
    status, _, calls, _ = asgi(
        app, "POST", "/api/v1/persons", {**_auth(op), "content-length": length}, [b"{}"]
    )
    assert (status, calls) == (413, 0)


def test_every_route_with_a_body_checks_credentials_before_reading_it(app):
    """Walk every route that takes a body: without credentials, none is read (401 for the API, a redirect to
    the login page for a page), except the routes whose credential is the body itself."""
    from crms.api.serving import ANONYMOUS_BODY_ROUTES, ROUTE_BODY_LIMITS, _http_routes

    routes = {(m, p) for p, methods, _ in _http_routes(app) for m in methods if m in ("POST", "PUT", "PATCH")}
    assert ANONYMOUS_BODY_ROUTES <= routes and set(ROUTE_BODY_LIMITS) <= routes
    checked = 0
    for method, path in sorted(routes - ANONYMOUS_BODY_ROUTES):
        url = path.replace("{", "").replace("}", "").replace("_id", "1").replace("position", "1")
        status, _, calls, _ = asgi(app, method, url, {"content-type": "application/json"}, [b"{}"], length=2)
        expected = 401 if path.startswith("/api/") else 303
        assert (status, calls) == (expected, 0), (method, path, status, calls)
        checked += 1
    assert checked >= 20


def test_web_upload_routes_take_their_bigger_bodies(app, make_user, db):
    """The web pages' uploads (a spreadsheet to import) may be bigger than the JSON default; a page's form is
    read once the browser session checks out."""
    from crms.access.principal import Principal
    from crms.access.sessions import COOKIE, create_session

    user, _ = make_user("cro_operator")
    with db.transaction() as s:
        cookie = create_session(s, Principal(user_id=user.id, username=user.username, role=user.role))
    web = {"cookie": f"{COOKIE}={cookie}", "content-type": "multipart/form-data; boundary=x"}
    status, _, calls, _ = asgi(app, "POST", "/import", web, [b"x"], length=25 * 1024 * 1024)
    assert (status, calls) == (413, 0)
    body = (
        b'--x\r\nContent-Disposition: form-data; name="file"; filename="register.xlsx"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + b"\0" * (2 * 1024 * 1024) + b"\r\n--x--\r\n"
    )
    chunks = [body[i : i + 256 * 1024] for i in range(0, len(body), 256 * 1024)]
    status, _, _, read = asgi(app, "POST", "/import", web, chunks, length=len(body))
    assert status != 413 and read == len(body), status
