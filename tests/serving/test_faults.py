"""A fault of ours (an exception no service raised on purpose) is answered as problem details with status
500, never a trace or Starlette's plain-text page, and the server keeps answering."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_a_fault_is_answered_as_problem_details(app):
    def broken():
        raise AttributeError("'int' object has no attribute 'get'")

    app.add_api_route("/api/v1/test-fault", broken)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/api/v1/test-fault")
        assert r.status_code == 500 and r.headers["content-type"] == "application/problem+json", r.text
        assert r.json()["detail"] == "the request could not be handled" and "attribute" not in r.text
        assert c.get("/login").status_code == 200
