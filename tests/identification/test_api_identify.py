"""``POST /api/v1/identify`` and ``/api/v1/duplicates`` through the real application, on both databases."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from sqlalchemy import select

from crms.biometrics.identification import forget_stores
from crms.fingerprint import synthetic_templates as S
from crms.fingerprint.serialise import dumps
from tests.identification.test_identification_db import enrol, person, principal


@pytest.fixture(autouse=True)
def _fresh_stores():
    forget_stores()
    yield
    forget_stores()


@pytest.fixture
def enrolled(db):
    rng = np.random.default_rng(21)
    op = principal(db, "cro_operator")
    fingers = {}
    for _ in range(4):
        pid = person(db, op)
        fingers[pid] = [S.master(rng) for _ in range(10)]
        for f, t in enumerate(fingers[pid]):
            enrol(db, pid, f + 1, t)
    return fingers


def parts(templates, positions):
    rng = np.random.default_rng(2)
    files = [
        ("print", (f"f{p}.tpl", io.BytesIO(dumps(S.impression(t, rng))), "application/octet-stream"))
        for t, p in zip(templates, positions, strict=True)
    ]
    return files


def test_identify_through_the_api(client, make_user, enrolled, db):
    from crms.access.models import AuditEntry

    _, headers = make_user("investigating_officer")
    pid = list(enrolled)[2]
    r = client.post(
        "/api/v1/identify",
        headers=headers,
        files=parts([enrolled[pid][0], enrolled[pid][5]], [1, 6]),
        data={"position": ["1", "6"], "reason": "FIR 88/2026 robbery suspect", "top": "3"},
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["candidates"][0]["person_id"] == pid and out["candidates"][0]["hit"]
    assert [f["position"] for f in out["candidates"][0]["fingers"]] == [1, 6]
    assert len(out["candidates"]) == 3 and out["gallery"]["persons"] == 4
    with db.transaction() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "search.biometric")).one()
        assert json.loads(entry.query)["candidates"][0][0] == pid


def test_identify_refusals_and_bad_input(client, make_user, enrolled):
    pid = list(enrolled)[0]
    _, auditor = make_user("auditor")
    r = client.post(
        "/api/v1/identify", headers=auditor, files=parts([enrolled[pid][0]], [1]), data={"reason": "x"}
    )
    assert r.status_code == 403
    _, headers = make_user("cro_operator")
    r = client.post("/api/v1/identify", headers=headers, files=parts([enrolled[pid][0]], [1]), data={})
    assert r.status_code == 422 and r.json()["field"] == "reason"
    r = client.post(
        "/api/v1/identify",
        headers=headers,
        files=parts([enrolled[pid][0]], [1]),
        data={"reason": "check", "position": "12"},
    )
    assert r.status_code == 422 and r.json()["field"] == "position" and "f1.tpl" in r.json()["detail"]
    r = client.post(
        "/api/v1/identify",
        headers=headers,
        files=[("print", ("thumb.png", io.BytesIO(b"\x89PNG broken"), "image/png"))],
        data={"reason": "check", "position": "1"},
    )
    assert r.status_code == 422 and r.json()["field"] == "thumb.png.image"
    r = client.post("/api/v1/identify", headers=headers, data={"reason": "check"})
    assert r.status_code == 422 and r.json()["field"] == "print"


def test_duplicate_queue_through_the_api(client, make_user, enrolled, db):
    from crms.biometrics import dedup

    a = list(enrolled)[1]
    op = principal(db, "cro_operator")
    twin = person(db, op, "Imran")
    rng = np.random.default_rng(9)
    for f in range(4):
        enrol(db, twin, f + 1, S.impression(enrolled[a][f], rng))
    with db.transaction() as s:
        (case,) = dedup.check_person(s, op, db, twin)
        cid = case.id
    _, examiner = make_user("fingerprint_examiner")
    r = client.get("/api/v1/duplicates", headers=examiner)
    assert r.status_code == 200 and [c["id"] for c in r.json()] == [cid]
    _, operator = make_user("cro_operator")
    assert client.get("/api/v1/duplicates", headers=operator).status_code == 403
    r = client.post(
        f"/api/v1/duplicates/{cid}/decision", headers=examiner, json={"decision": "reject", "reason": ""}
    )
    assert r.status_code == 422
    r = client.post(
        f"/api/v1/duplicates/{cid}/decision",
        headers=examiner,
        json={"decision": "confirm", "reason": "ten fingers agree"},
    )
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    _, supervisor = make_user("supervisor")
    r = client.post(f"/api/v1/duplicates/{cid}/merge", headers=supervisor, json={"reason": "as confirmed"})
    assert r.status_code == 200 and r.json()["status"] == "merged"
    r = client.get("/api/v1/duplicates?status=all", headers=examiner)
    assert [c["status"] for c in r.json()] == ["merged"]


def test_identify_checks_each_ppi_with_the_engines_range(client, make_user):
    from crms.fingerprint import MAX_DPI, MIN_DPI

    _, headers = make_user("investigating_officer")
    t = S.master(np.random.default_rng(4))
    for bad in (str(MIN_DPI - 1), str(MAX_DPI + 1), "abc", "nan"):
        r = client.post(
            "/api/v1/identify", headers=headers, files=parts([t], [1]), data={"reason": "check", "ppi": bad}
        )
        assert r.status_code == 422 and r.json()["field"] == "ppi" and "f1.tpl" in r.json()["detail"], bad
