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
    assert r.json()["detail"].count("thumb.png:") == 1, r.json()["detail"]  # the file named once
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


def test_examiner_decisions_on_an_identification_through_the_api(client, make_user, enrolled, db):
    """``POST /identify`` answers with a ``search_id``; an examiner records confirmed / rejected /
    inconclusive on its candidates (``POST /identify/{id}/decisions``, the service the web page calls),
    once per candidate, with a reason; refusals and decisions are in the audit trail."""
    from crms.access.models import AuditEntry

    pid, other = list(enrolled)[2], list(enrolled)[0]
    _, investigator = make_user("investigating_officer")
    r = client.post(
        "/api/v1/identify",
        headers=investigator,
        files=parts([enrolled[pid][0], enrolled[pid][5]], [1, 6]),
        data={"position": ["1", "6"], "reason": "FIR 88/2026 robbery suspect", "top": "3"},
    )
    assert r.status_code == 200, r.text
    sid = r.json()["search_id"]
    assert r.json()["candidates"][0]["person_id"] == pid and r.json()["probes"][0]["position"] == 1
    url = f"/api/v1/identify/{sid}/decisions"
    body = {"person_id": pid, "decision": "confirmed", "reason": "14 minutiae in agreement"}
    r = client.post(url, headers=investigator, json=body)
    assert r.status_code == 403  # biometric:confirm is the examiner's
    user, examiner = make_user("fingerprint_examiner")
    r = client.post(url, headers=examiner, json={**body, "decision": "maybe"})
    assert r.status_code == 422 and r.json()["field"] == "decision"
    r = client.post(url, headers=examiner, json={**body, "reason": " "})
    assert r.status_code == 422 and r.json()["field"] == "reason"
    r = client.post(url, headers=examiner, json={**body, "person_id": 999999})
    assert r.status_code == 404 and r.json()["field"] == "person_id"
    r = client.post("/api/v1/identify/999999/decisions", headers=examiner, json=body)
    assert r.status_code == 404 and r.json()["field"] == "search_id"
    r = client.post(url, headers=examiner, json=body)
    assert r.status_code == 201, r.text
    assert r.json() | {"id": 0} == {"id": 0, "search_id": sid, "person_id": pid, "decision": "confirmed"}
    assert client.post(url, headers=examiner, json=body).status_code == 409  # decided once
    second = [c["person_id"] for c in client.get(f"/api/v1/identify/{sid}", headers=examiner).json()
              ["candidates"]][1]  # fmt: skip
    r = client.post(url, headers=examiner, json={"person_id": second, "decision": "inconclusive",
                                                 "reason": "smudged delta"})  # fmt: skip
    assert r.status_code == 201
    got = client.get(f"/api/v1/identify/{sid}", headers=investigator)  # the searcher sees the outcome
    assert got.status_code == 200
    decided = {c["person_id"]: c["decision"] for c in got.json()["candidates"]}
    assert decided[pid]["decision"] == "confirmed" and decided[pid]["by"] == user.username
    assert decided[second]["decision"] == "inconclusive"
    assert {k: v for k, v in decided.items() if v}.keys() == {pid, second}
    _, stranger = make_user("investigating_officer")
    assert client.get(f"/api/v1/identify/{sid}", headers=stranger).status_code == 403
    r = client.get(f"/api/v1/identify/{sid}/decisions", headers=examiner)
    listed = [(d["person_id"], d["decision"]) for d in r.json()]
    assert listed == [(pid, "confirmed"), (second, "inconclusive")]
    with db.transaction() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == "biometric.identify_decision")).all()
        assert [(json.loads(e.query)["person"], e.target_id, e.reason) for e in rows] == [
            (pid, str(sid), "14 minutiae in agreement"), (second, str(sid), "smudged delta")]  # fmt: skip
        refused = s.scalars(select(AuditEntry).where(AuditEntry.outcome != "ok")).all()
        assert any(e.username.startswith("investigating") for e in refused)
    assert other not in decided or decided.get(other) is None


def test_two_prints_of_the_same_file_name_are_two_probes(client, make_user, enrolled):
    pid = list(enrolled)[1]
    _, headers = make_user("cro_operator")
    files = [
        (n, ("image.tpl", body, t))
        for n, (_f, body, t) in parts([enrolled[pid][0], enrolled[pid][1]], [1, 2])
    ]
    r = client.post("/api/v1/identify", headers=headers, files=files,
                    data={"position": ["1", "2"], "reason": "phone capture"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert [p["name"] for p in r.json()["probes"]] == ["image.tpl", "image.tpl (print 2)"]
    assert r.json()["candidates"][0]["person_id"] == pid


def test_identify_checks_each_ppi_with_the_engines_range(client, make_user):
    from crms.fingerprint import MAX_DPI, MIN_DPI

    _, headers = make_user("investigating_officer")
    t = S.master(np.random.default_rng(4))
    for bad in (str(MIN_DPI - 1), str(MAX_DPI + 1), "abc", "nan"):
        r = client.post(
            "/api/v1/identify", headers=headers, files=parts([t], [1]), data={"reason": "check", "ppi": bad}
        )
        assert r.status_code == 422 and r.json()["field"] == "ppi" and "f1.tpl" in r.json()["detail"], bad
        if bad == str(MAX_DPI + 1):  # out of range: its kind and values kept
            (item,) = r.json()["errors"]
            assert item["type"] == "ppi_outside" and item["field"] == "ppi", item
            assert item["values"] == {"ppi": bad, "low": MIN_DPI, "high": MAX_DPI}, item


@pytest.mark.parametrize(
    ("field", "value"),
    [("top", "²"), ("top", "5" * 5000), ("top", "-3"), ("top", "1e2"), ("top", "0"), ("top", "101"),
     ("position", "²"), ("position", "5" * 5000), ("position", "1_0"), ("ppi", "²"), ("ppi", "5" * 5000)],
)  # fmt: skip
def test_identify_refuses_numbers_it_cannot_read_with_a_422_naming_the_field(client, make_user, field, value):
    """Superscript digits (``str.isdigit`` says yes, ``int`` says no), a number of thousands of digits (over
    Python's limit for int()), signs, exponents and out-of-range values: a 422 naming the field, never a
    500."""
    _, headers = make_user("investigating_officer")
    t = S.master(np.random.default_rng(4))
    r = client.post("/api/v1/identify", headers=headers, files=parts([t], [1]),
                    data={"reason": "check", field: value})  # fmt: skip
    assert r.status_code == 422, r.text[:300]
    assert r.json()["field"] == field and len(r.json()["detail"]) < 300, r.text[:300]


def test_one_finger_twice_in_a_search_is_refused(client, make_user, enrolled):
    """Two probes given the same finger position would count one finger twice against the same gallery
    print: refused (the service's rule, so the CLI and the web refuse it too). Unknown (0) may repeat."""
    pid = list(enrolled)[1]
    _, headers = make_user("investigating_officer")
    files = parts([enrolled[pid][1], enrolled[pid][1]], [2, 2])
    r = client.post("/api/v1/identify", headers=headers, files=files,
                    data={"position": ["2", "2"], "reason": "check"})  # fmt: skip
    assert r.status_code == 422 and r.json()["field"] == "position", r.text
    assert "position 2" in r.json()["detail"] and "f2.tpl" in r.json()["detail"]
    r = client.post("/api/v1/identify", headers=headers, files=files,
                    data={"position": ["0", "0"], "reason": "check"})  # fmt: skip
    assert r.status_code == 200, r.text
    r = client.post("/api/v1/identify", headers=headers, files=files, data={"position": "2", "reason": "x"})
    assert r.status_code == 422 and r.json()["detail"] == "1 positions for 2 prints (give one per print)"


def test_a_search_confirms_at_most_one_person(client, make_user, enrolled):
    """Once an examiner confirmed one candidate, confirming another person for the same search is refused
    (409 naming the confirmed person); rejecting or marking the others inconclusive is still possible."""
    pid = list(enrolled)[2]
    _, investigator = make_user("investigating_officer")
    r = client.post("/api/v1/identify", headers=investigator,
                    files=parts([enrolled[pid][0], enrolled[pid][5]], [1, 6]),
                    data={"position": ["1", "6"], "reason": "FIR 12/2026", "top": "3"})  # fmt: skip
    assert r.status_code == 200, r.text
    sid = r.json()["search_id"]
    others = [c["person_id"] for c in r.json()["candidates"] if c["person_id"] != pid]
    _, examiner = make_user("fingerprint_examiner")
    url = f"/api/v1/identify/{sid}/decisions"
    r = client.post(
        url, headers=examiner, json={"person_id": pid, "decision": "confirmed", "reason": "12 pts"}
    )
    assert r.status_code == 201, r.text
    r = client.post(url, headers=examiner, json={"person_id": others[0], "decision": "confirmed",
                                                 "reason": "also"})  # fmt: skip
    assert r.status_code == 409 and r.json()["field"] == "person_id", r.text
    assert f"person {pid} is already confirmed" in r.json()["detail"]
    (item,) = r.json()["errors"]
    assert item["type"] == "search_confirmed" and item["values"]["first"] == pid
    assert item["values"]["person"] == others[0]
    r = client.post(url, headers=examiner, json={"person_id": others[0], "decision": "rejected",
                                                 "reason": "different pattern"})  # fmt: skip
    assert r.status_code == 201, r.text


def test_the_openapi_document_declares_the_identify_form(client):
    """Integrators generate clients from the document: the multipart form, its parts and their limits."""
    op = client.get("/api/openapi.json").json()["paths"]["/api/v1/identify"]["post"]
    form = op["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["print", "reason"]
    assert (
        form["properties"]["print"]["maxItems"] == 10
        and form["properties"]["print"]["items"]["format"] == "binary"
    )
    assert set(form["properties"]) == {"print", "position", "ppi", "reason", "top"}


@pytest.mark.parametrize(("typed", "value"), [("7", 7), (" 12 ", 12), ("۱۲", 12), ("0", 0)])
def test_a_whole_number_field_reads_ascii_and_urdu_digits(typed, value):
    from crms.api.params import whole_number

    assert whole_number(typed, "top") == value


@pytest.mark.parametrize("typed", ["²", "-3", "1e2", "", "5" * 13, "1 000"])
def test_a_whole_number_field_refuses_anything_else_naming_the_field(typed):
    from crms.api.params import whole_number
    from crms.errors import ValidationError

    with pytest.raises(ValidationError, match="offset must be a whole number, 0 or more") as e:
        whole_number(typed, "offset")
    assert e.value.field == "offset"


def test_searches_with_an_undecided_hit_wait_for_an_examiner_until_one_is_decided(
    client, make_user, enrolled
):
    """An officer's search with a candidate above the threshold reaches the examiners' work list (API, page,
    CLI: one service), and leaves it when the hit is confirmed; a search without a hit never waits."""
    from sqlalchemy import select

    from crms.access.models import AuditEntry

    _, officer = make_user("investigating_officer")
    _, examiner = make_user("fingerprint_examiner")
    pid = list(enrolled)[1]
    hit = client.post("/api/v1/identify", headers=officer, files=parts([enrolled[pid][2]], [3]),
                      data={"position": "3", "reason": "FIR 90/2026 check post"})  # fmt: skip
    stranger = S.master(np.random.default_rng(99))
    miss = client.post("/api/v1/identify", headers=officer, files=parts([stranger], [4]),
                       data={"position": "4", "reason": "FIR 91/2026"})  # fmt: skip
    assert hit.status_code == miss.status_code == 200, hit.text
    assert not any(c["hit"] for c in miss.json()["candidates"])
    assert client.get("/api/v1/identify", headers=officer).status_code == 403  # examiners' work
    r = client.get("/api/v1/identify", headers=examiner)
    assert r.status_code == 200, r.text
    (waiting,) = r.json()
    assert waiting["search_id"] == hit.json()["search_id"] and waiting["reason"] == "FIR 90/2026 check post"
    assert [w["person_id"] for w in waiting["waiting"]] == [pid] and waiting["decided"] == 0
    decision = {"person_id": pid, "decision": "confirmed", "reason": "14 minutiae in agreement"}
    search = hit.json()["search_id"]
    assert (
        client.post(f"/api/v1/identify/{search}/decisions", headers=examiner, json=decision).status_code
        == 201
    )
    assert client.get("/api/v1/identify", headers=examiner).json() == []
    assert client.get("/api/v1/identify?limit=0", headers=examiner).status_code == 422
    with client.app.state.db.transaction() as s:
        views = s.scalars(select(AuditEntry).where(AuditEntry.action == "biometric.identify_queue")).all()
        assert [json.loads(v.query)["shown"] for v in views] == [[search], []]


def test_a_second_examiner_revises_a_wrong_decision_and_the_trail_keeps_both(client, make_user, enrolled, db):
    """Examiner A confirms the wrong candidate; A may not revise it (a second examiner does), B rejects it
    with a reason, and the right person can then be confirmed. Revising an undecided candidate, or to the
    same decision, is refused; every decision stays in the audit trail."""
    from sqlalchemy import select

    from crms.access.models import AuditEntry

    _, a = make_user("fingerprint_examiner")
    _, b = make_user("fingerprint_examiner")
    pid = list(enrolled)[0]
    r = client.post("/api/v1/identify", headers=a, files=parts([enrolled[pid][0]], [1]),
                    data={"position": "1", "reason": "FIR 92/2026"})  # fmt: skip
    search = r.json()["search_id"]
    wrong = next(c["person_id"] for c in r.json()["candidates"] if c["person_id"] != pid)
    url = f"/api/v1/identify/{search}/decisions"

    def decide(who, person, decision, revise=False):
        body = {
            "person_id": person,
            "decision": decision,
            "reason": "ridge detail compared",
            "revise": revise,
        }
        return client.post(url, headers=who, json=body)

    assert decide(a, wrong, "confirmed").status_code == 201
    assert decide(a, pid, "confirmed").status_code == 409  # one person per search
    assert decide(b, pid, "confirmed", revise=True).status_code == 409  # nothing to revise yet
    r = decide(a, wrong, "rejected", revise=True)
    assert r.status_code == 409 and "second examiner" in r.json()["detail"]
    assert decide(b, wrong, "confirmed", revise=True).status_code == 422  # already so
    r = decide(b, wrong, "rejected", revise=True)
    assert r.status_code == 201, r.text
    first = r.json()["revises"]
    assert decide(b, pid, "confirmed").status_code == 201
    latest = {d["person_id"]: d for d in client.get(url, headers=a).json()}
    assert latest[wrong]["decision"] == "rejected" and latest[wrong]["revises"] == first
    assert latest[pid]["decision"] == "confirmed"
    # the person's record: the search that identified them; the wrong person's confirmation revised away
    r = client.get(f"/api/v1/persons/{pid}/identifications", headers=a)
    assert [(d["search_id"], d["by"]) for d in r.json()] == [(search, latest[pid]["by"])], r.text
    assert client.get(f"/api/v1/persons/{wrong}/identifications", headers=a).json() == []
    assert client.get("/api/v1/persons/999999/identifications", headers=a).status_code == 404
    with db.transaction() as s:
        trail = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "biometric.identify_decision")
            .order_by(AuditEntry.id)
        ).all()
        assert [(json.loads(e.query)["person"], json.loads(e.query)["decision"]) for e in trail] == [
            (wrong, "confirmed"),
            (wrong, "rejected"),
            (pid, "confirmed"),
        ]


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_the_candidate_page_offers_a_revision_to_a_second_examiner_only(app, client, make_user, db, tmp_path):
    """On the side-by-side page an examiner other than the one who decided may revise the decision; the
    page says the decision revises an earlier one; the one whose decision it now is may not revise it."""
    import re

    pytest.importorskip("onnxruntime", reason="the 'fingerprint' extra is not installed")
    from crms.access.crypto import EncryptedStore
    from crms.biometrics import enrolment
    from tests.records._support import signed_in
    from tests.web.test_identify_pages import _png

    store = EncryptedStore(tmp_path / "data")
    op = principal(db, "cro_operator")
    pid = person(db, op)
    examiner = principal(db, "fingerprint_examiner")
    with db.transaction() as s:
        enrolment.capture(s, examiner, store, pid, 2, _png(tmp_path, 801, 0).read_bytes())
    enrolment.enrol_pending(db, store, principal=examiner, jobs=1)
    _, a = make_user("fingerprint_examiner")
    probe = [("print", ("probe.png", _png(tmp_path, 801, 1).read_bytes(), "image/png"))]
    r = client.post(
        "/api/v1/identify", headers=a, files=probe, data={"position": "2", "reason": "FIR 93/2026"}
    )
    assert r.status_code == 200 and r.json()["candidates"][0]["person_id"] == pid, r.text
    search = r.json()["search_id"]
    body = {"person_id": pid, "decision": "inconclusive", "reason": "smudged"}
    assert client.post(f"/api/v1/identify/{search}/decisions", headers=a, json=body).status_code == 201
    page_url = f"/identify/{search}/candidates/{pid}"
    with signed_in(app, db, "fingerprint_examiner") as (c, _):
        page = c.get(page_url).text
        assert "Revise this decision" in page and 'value="inconclusive"' not in page  # another decision
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        form = {"csrf_token": token, "revise": "1", "decision": "confirmed", "reason": "clear on a rescan"}
        r = c.post(page_url, data=form)
        assert r.status_code == 303, r.text[:300]
        page = c.get(page_url).text
        assert 'data-decision="confirmed"' in page and "revising an earlier decision" in page
        assert "Revise this decision" not in page  # the decision is this examiner's now
        r = c.post(page_url, data={**form, "decision": "rejected"})
        assert r.status_code == 409 and "second examiner" in r.text
        listed = c.get(f"/persons/{pid}").text.split('id="identifications"')[1].split("</ul>")[0]
        assert f'href="/identify/{search}"' in listed and "clear on a rescan" in listed
