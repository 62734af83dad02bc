"""One API request, one transaction (an audited read: one that reads, then the audit writer's for its entry):
the API token is checked inside the request's own transaction (one BEGIN and one COMMIT), still read from
the database on every request (a token revoked between two requests is refused on the next one), and nothing
is written for the token itself."""

from __future__ import annotations

from sqlalchemy import event, select

from crms.access.models import ApiToken


def _count(db, name: str) -> list:
    seen: list = []
    event.listen(db.engine, name, lambda *a, **k: seen.append(1))
    return seen


def test_one_begin_and_one_commit_per_request(client, make_user, db):
    _, headers = make_user("cro_operator")
    client.get("/api/v1/auth/me", headers=headers)  # warm: pool connections, statement caches
    begins, commits = _count(db, "begin"), _count(db, "commit")
    r = client.get("/api/v1/persons?cnic=54400-1234567-3&reason=test+lookup", headers=headers)
    assert r.status_code == 404  # an audited search that found nobody
    # an audited read: the token and the read in one transaction that writes nothing, then its audit entry in
    # the audit writer's transaction (shared with the reads that finished meanwhile: crms.access.audit_writer)
    assert (len(begins), len(commits)) == (2, 2)
    r = client.get("/api/v1/auth/me", headers=headers)
    assert r.status_code == 200
    # the token was checked moments ago (the process's cache of verified tokens, crms.access.tokens) and
    # /auth/me reads nothing else: no transaction at all
    assert (len(begins), len(commits)) == (2, 2)
    r = client.post("/api/v1/auth/logout", headers=headers)
    assert r.status_code in (200, 204)  # a write: token check, write and audit entry in one transaction
    assert (len(begins), len(commits)) == (3, 3)


def test_token_row_not_written_by_a_request(client, make_user, db):
    user, headers = make_user("cro_operator")
    with db.transaction() as s:
        before = s.execute(select(ApiToken.__table__).where(ApiToken.user_id == user.id)).one()
    updates: list = []

    def _watch(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("UPDATE API_TOKENS"):
            updates.append(statement)

    event.listen(db.engine, "before_cursor_execute", _watch)
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    with db.transaction() as s:
        after = s.execute(select(ApiToken.__table__).where(ApiToken.user_id == user.id)).one()
    assert updates == [] and before == after


def test_revoked_between_two_requests_is_refused_on_the_next(client, make_user, db, monkeypatch):
    """(Revoked by writing the row directly, as another process would: without the token cache, refused on
    the very next request; with it, within its seconds, tests/access/test_token_cache.py.)"""
    from crms.access.models import AuditEntry
    from crms.timeutil import utcnow

    monkeypatch.setenv("CRMS_TOKEN_CACHE_SECONDS", "0")

    user, headers = make_user("cro_operator")
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    with db.transaction() as s:
        s.execute(ApiToken.__table__.update().where(ApiToken.user_id == user.id).values(revoked_at=utcnow()))
    r = client.get("/api/v1/persons?cnic=54400-1234567-3&reason=test+lookup", headers=headers)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    with db.transaction() as s:  # the refusal is audited; no search was
        last = s.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()
    assert (last.action, last.outcome) == ("auth.refused", "refused")


def test_hot_reads_cross_to_a_worker_thread_once(client, make_user, db, monkeypatch):
    """The CNIC lookup and the full record run authentication, the read, the audit entry and the commit in
    one call to the thread pool (a route on SessionDep takes three: session in, route, session out); on
    SQLite the lookup in none (crms.api.deps.in_transaction)."""
    import threading

    import anyio.to_thread

    _, headers = make_user("cro_operator")
    reg = client.post(
        "/api/v1/persons",
        json={
            "given_name_en": "Hot",
            "family_name_en": "Path",
            "gender": "M",
            "documents": [{"doc_type": "CNIC", "number": "54400-7654321-3"}],
        },
        headers=headers,
    )
    assert reg.status_code == 201, reg.text
    person_id = reg.json()["person"]["id"]
    threads: list[str] = []
    real = anyio.to_thread.run_sync

    async def counting(func, *args, **kwargs):
        def call(*a):
            threads.append(threading.current_thread().name)
            return func(*a)

        return await real(call, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    for url, status, crossings in [  # the read-first CNIC lookup runs on the event loop itself
        ("/api/v1/persons?cnic=54400-7654321-3&reason=test+lookup", 200, 0),
        ("/api/v1/persons?cnic=54400-1234567-3&reason=test+lookup", 404, 0),
        (f"/api/v1/persons/{person_id}?reason=test+record", 200, 1),
    ]:
        threads.clear()
        r = client.get(url, headers=headers)
        assert r.status_code == status, r.text
        assert len(threads) == crossings, (url, threads)
    threads.clear()
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    assert len(threads) > 1  # the counting works: a SessionDep route crosses more than once
