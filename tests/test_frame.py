"""The frame itself: migrations on both backends, problem+json for unauthenticated calls, the CLI."""

from __future__ import annotations

from sqlalchemy import inspect, text


def test_migrations_create_tables(db):
    names = set(inspect(db.engine).get_table_names())
    assert {"users", "api_tokens", "audit_log"} <= names


def test_sqlite_pragmas(sqlite_db):
    with sqlite_db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_openapi_served(client):
    r = client.get("/api/openapi.json")
    assert r.status_code == 200
    assert r.json()["info"]["title"] == "CRMS"


def test_a_method_a_route_does_not_take_is_405_naming_those_it_does(client):
    """RFC 9110 requires a 405 to carry ``Allow``; the problem+json and page error handlers dropped the header
    Starlette had set (found by schemathesis)."""
    r = client.request("TRACE", "/api/v1/auth/me")
    assert r.status_code == 405 and r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["allow"] == "GET"
    r = client.request("TRACE", "/api/v1/persons/1")
    assert r.status_code == 405 and r.headers["allow"] == "GET, PATCH"
    r = client.put("/login")
    assert r.status_code == 405 and r.headers["content-type"].startswith("text/html")
    assert set(r.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}


def test_a_path_that_names_a_route_is_405_for_a_method_it_does_not_take(client, make_user):
    """``PATCH /persons/merge`` reached ``PATCH /persons/{person_id}`` and was answered 422 "person_id: not
    an integer"; the method is what is wrong (the path names ``POST /persons/merge``), on the API and the
    pages. A route with a parameter still answers for its own values."""
    _, op = make_user("cro_operator")
    for method, path, allow in (
        ("PATCH", "/api/v1/persons/merge", "POST"),
        ("GET", "/api/v1/persons/merge", "POST"),
        ("PATCH", "/api/v1/cases/by-fir", "GET"),
        ("DELETE", "/api/v1/cases/by-fir", "GET"),
    ):
        r = client.request(method, path, json={}, headers=op)
        assert r.status_code == 405 and r.headers["allow"] == allow, (method, path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    r = client.post("/persons/new/edit")  # a page: /persons/{person_id}/edit, "new" is no number
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    r = client.request("PATCH", "/persons/new")
    assert (
        r.status_code == 405
        and r.headers["allow"] == "GET, POST"
        and "text/html" in r.headers["content-type"]
    )
    r = client.patch("/api/v1/persons/abc", json={}, headers=op)
    assert r.status_code == 422 and r.json()["field"] == "person_id"
    r = client.request("TRACE", "/api/v1/persons/merge")
    assert r.status_code == 405 and r.headers["allow"] == "POST"


def test_errors_are_sent_as_the_openapi_document_declares_them(client, make_user):
    """Every API error is problem+json; the document declared FastAPI's own validation body for 422 and no
    other error (schemathesis: undocumented status codes and content types)."""
    spec = client.get("/api/openapi.json").json()
    assert "HTTPValidationError" not in str(spec)
    problem = spec["components"]["schemas"]["Problem"]
    _, operator = make_user("cro_operator")
    calls = [
        ("get", "/api/v1/persons/{person_id}", "/api/v1/persons/1", {}),  # 401: no credentials
        ("get", "/api/v1/users", "/api/v1/users", operator),  # 403
        ("get", "/api/v1/persons/{person_id}", "/api/v1/persons/99999", operator),  # 404
        ("get", "/api/v1/persons/{person_id}", "/api/v1/persons/0", operator),  # 422
        ("get", "/api/v1/persons", "/api/v1/persons?name=x", operator),  # 422: unknown parameter
    ]
    for method, template, url, headers in calls:
        r = client.request(method, url, headers=headers)
        responses = spec["paths"][template][method]["responses"]
        declared = responses.get(str(r.status_code)) or responses[f"{str(r.status_code)[0]}XX"]
        media = r.headers["content-type"].split(";")[0]
        assert media in declared["content"], (url, r.status_code, media)
        body = r.json()
        assert set(problem["required"]) <= set(body) <= set(problem["properties"]), body
        assert body["status"] == r.status_code


def test_cli_help():
    from typer.testing import CliRunner

    from crms.cli.main import app

    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "serve" in result.output


def test_sqlite_concurrent_audited_writes_wait_instead_of_failing(sqlite_db, tmp_path):
    """Each action reads (the audit chain head) and then writes; with deferred transactions SQLite refuses
    the upgrade to a writer at once ("database is locked"). BEGIN IMMEDIATE makes them queue instead."""
    import threading

    from crms.access import audit
    from crms.access.principal import system_principal
    from crms.db import Database

    errors: list[str] = []

    def work() -> None:
        db = Database(sqlite_db.url)
        audit.bind_data_dir(db, tmp_path)
        for _ in range(15):
            try:
                with db.transaction() as session:
                    session.execute(
                        text("SELECT count(*) FROM audit_log")
                    ).scalar()  # read first, as a lookup does
                    audit.record(session, system_principal(), "test.write")
            except Exception as exc:  # noqa: BLE001
                errors.append(repr(exc))
        db.dispose()

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    audit.bind_data_dir(sqlite_db, tmp_path)
    with sqlite_db.transaction() as session:
        report = audit.verify(session, data_dir=tmp_path)
    assert report.entries == 90
    assert report.problems == []
