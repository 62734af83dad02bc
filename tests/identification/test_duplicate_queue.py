"""The examiners' work lists and the duplicate cases' way to a merge, on SQLite and PostgreSQL.

* Showing the names of the persons of the duplicate queue or of an identification's candidates is audited as
  ONE ``person.list`` entry per view, naming the ids shown, with a reason that says which list; it is not a
  read of each person (before: a ``person.read`` per name, so an examiner working the queue hit the read
  limit, 429, and raised the bulk-read alert). Opening a person's full record still counts as a read.
* A case whose record was merged away follows it to the survivor: confirmed, it merges the survivor; where
  both sides are already one record it is closed as ``resolved`` (audited) instead of staying stuck.
* ``crms fp duplicate-merge``: a supervisor merges a confirmed case from the CLI.
"""

from __future__ import annotations

import html
import io
import json
import re
import uuid
from contextlib import contextmanager

import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from crms.access.audit import bind_data_dir
from crms.access.models import AuditEntry, RateBucket
from crms.biometrics import dedup
from crms.biometrics.models import DuplicateCase
from crms.errors import Conflict
from crms.fingerprint import synthetic_templates as S
from crms.fingerprint.serialise import dumps
from crms.timeutil import utcnow
from tests.identification.test_identification_db import (  # noqa: F401 (_fresh_stores: autouse, here too)
    _fresh_stores,
    enrol,
    principal,
)

NAMES = ["Aslam", "Bashir", "Dawood", "Faisal", "Ghulam", "Habib", "Imran", "Jamal", "Karim", "Latif"]


def _persons(db, n: int) -> list[int]:
    from crms.records.services import register_person

    op = principal(db, "cro_operator")
    out = []
    with db.transaction() as s:
        for i in range(n):
            data = {"given_name_en": f"{NAMES[i % 10]} {chr(65 + i // 10)}{i}", "family_name_en": "Kakar",
                    "given_name_ur": "اسلم", "parentage_relation": "s/o", "parentage_name_en": f"Gul {i}",
                    "gender": "M", "birth_year": 1960 + i, "unit": "BA/QTA/QUETTA"}  # fmt: skip
            out.append(register_person(s, op, data).person.id)
    return out


def _case(db, person_id: int, candidate_id: int, status: str = "open") -> int:
    """A probable-duplicate case as the enrolment search opens it (dedup._open_cases)."""
    now = utcnow()
    with db.transaction() as s:
        c = DuplicateCase(
            person_id=person_id, candidate_id=candidate_id, score=90.0, threshold=40.0,
            fingers=json.dumps([{"position": 1, "score": 90.0, "finger_id": 1, "probe": "fingerprint 2"}]),
            status=status, created_at=now, updated_at=now,
        )  # fmt: skip
        s.add(c)
        s.flush()
        return c.id


@contextmanager
def signed_in(app, db, role: str):
    """(TestClient with a browser session of a fresh user of ROLE, that user's API headers, the user id)."""
    from fastapi.testclient import TestClient

    from crms.access.models import User
    from crms.access.sessions import COOKIE, create_session
    from crms.access.tokens import issue_token
    from crms.access.users import create_user, principal_for

    with db.transaction() as s:
        user = create_user(s, f"{role[:10]}_{uuid.uuid4().hex[:6]}", role, unit="BA")
        api = {"Authorization": f"Bearer {issue_token(s, user)}"}
        cookie = create_session(s, principal_for(s.get(User, user.id), channel="web"))
        uid = user.id
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        c.cookies.set(COOKIE, cookie)
        yield c, api, uid


def _entries(db, **where) -> list[AuditEntry]:
    with db.transaction() as s:
        q = select(AuditEntry).order_by(AuditEntry.seq)
        for key, value in where.items():
            q = q.where(getattr(AuditEntry, key) == value)
        return list(s.scalars(q))


def _bucket(db, key: str) -> float | None:
    with db.transaction() as s:
        return s.scalar(select(RateBucket.tokens).where(RateBucket.key == key))


# ------------------------------------------------------------------------------- names in the work lists


def test_working_the_duplicate_queue_is_one_listing_entry_a_view_not_a_read_per_name(app, db):
    """The probe: 30 persons in the queue, the 11th view of /duplicates answered 429 and an alert.read_rate
    named the examiner. Now eleven views (and the API's) write one person.list entry each, naming the 30
    ids, with the reason "duplicate queue"; nothing is counted as a record read and no alert is raised."""
    ids = _persons(db, 30)
    for i in range(0, 30, 2):
        _case(db, ids[i + 1], ids[i])
    with signed_in(app, db, "fingerprint_examiner") as (c, api, uid):
        for view in range(11):
            r = c.get("/duplicates")
            assert r.status_code == 200, (view, r.text[:300])
        assert "Aslam A0" in r.text and "Bashir A1" in r.text
        r = c.get("/api/v1/duplicates", headers=api)
        assert r.status_code == 200, r.text
        first = r.json()[0]
        assert first["person"]["given_name_en"] == "Bashir A1" and first["candidate"]["id"] == ids[0]
        assert _bucket(db, f"readwin:{uid}") is None  # no name was counted as a read
        assert c.get(f"/persons/{ids[0]}").status_code == 200  # a full record still is
        assert _bucket(db, f"readwin:{uid}") == 1
    listed = _entries(db, action="person.list", user_id=uid)
    assert len(listed) == 12
    assert {e.reason for e in listed} == {"duplicate queue"}
    assert all(sorted(json.loads(e.query)["ids"]) == sorted(ids) for e in listed)
    assert [e.target_id for e in _entries(db, action="person.read", user_id=uid)] == [str(ids[0])]
    assert _entries(db, action="alert.read_rate") == []


def test_a_duplicate_case_page_lists_its_two_persons_only(app, db):
    a, b, c_ = _persons(db, 3)
    case = _case(db, b, a)
    _case(db, c_, b)
    with signed_in(app, db, "fingerprint_examiner") as (c, _api, uid):
        r = c.get(f"/duplicates/{case}")
        assert r.status_code == 200, r.text[:300]
    (entry,) = _entries(db, action="person.list", user_id=uid)
    assert entry.reason == "duplicate case" and sorted(json.loads(entry.query)["ids"]) == [a, b]
    assert json.loads(entry.query)["cases"] == [case]
    assert _entries(db, action="person.read", user_id=uid) == []


def test_viewing_identification_candidates_is_one_listing_entry_a_view(app, make_user, db, monkeypatch):
    """Before: each view of /identify/{id} read each of its candidates (a person.read each), so a few views
    of a 20-candidate search reached the read limit."""
    ids = _persons(db, 24)
    rng = np.random.default_rng(7)
    masters = {}
    for pid in ids:
        masters[pid] = S.master(rng)
        enrol(db, pid, 1, masters[pid])
    _, investigator = make_user("investigating_officer")
    impression = io.BytesIO(dumps(S.impression(masters[ids[5]], rng)))
    with signed_in(app, db, "fingerprint_examiner") as (c, api, uid):
        r = c.post(
            "/api/v1/identify", headers=investigator, files=[("print", ("p.tpl", impression, "text/plain"))],
            data={"position": "1", "reason": "FIR 12/2026 Quetta Cantt", "top": "20"},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        sid = r.json()["search_id"]
        shown = [x["person_id"] for x in r.json()["candidates"]]
        assert len(shown) >= 10 and shown[0] == ids[5]
        monkeypatch.setenv("CRMS_RATE_READ", f"{3 * len(shown)}/600")  # three views' worth, were names reads
        for view in range(5):
            r = c.get(f"/identify/{sid}")
            assert r.status_code == 200, (view, r.text[:300])
        assert "Habib A5" in r.text
        r = c.get(f"/api/v1/identify/{sid}", headers=api)
        assert r.status_code == 200, r.text
        assert r.json()["candidates"][0]["person"]["given_name_en"] == "Habib A5"
        assert _bucket(db, f"readwin:{uid}") is None
    listed = _entries(db, action="person.list", user_id=uid)
    assert len(listed) == 6 and {e.reason for e in listed} == {"identification candidates"}
    assert all(json.loads(e.query)["ids"] == sorted(shown) for e in listed)
    assert all(json.loads(e.query)["search"] == sid for e in listed)
    assert _entries(db, action="person.read", user_id=uid) == []


# ------------------------------------------------------------------------------- merged records followed


def test_a_confirmed_case_follows_a_record_merged_by_an_earlier_case(db, tmp_path):
    """The probe: case 1 (2 and 1) merged 2 into 1; case 3 (3 and 2), confirmed afterwards, could not be
    merged ("person 2 was merged into person 1; change that record") and stayed confirmed for ever."""
    bind_data_dir(db, tmp_path / "data")
    from crms.records.models import Person

    a, b, c = _persons(db, 3)
    first, second = _case(db, b, a), _case(db, c, b)
    examiner, supervisor = principal(db, "fingerprint_examiner"), principal(db, "supervisor")
    with db.transaction() as s:
        dedup.decide(s, examiner, first, "confirm", "ten fingers agree")
    with db.transaction() as s:
        dedup.merge_confirmed(s, supervisor, first, "as the examiner found")
    with db.transaction() as s:
        (case,) = dedup.queue(s, examiner)
    assert (case["id"], case["candidate_id"], case["current_candidate_id"]) == (second, b, a)
    assert case["candidate"]["merged_into_id"] == a  # the page says so before the examiner decides
    with db.transaction() as s:
        out = dedup.decide(s, examiner, second, "confirm", "same ridges again")
    assert out["status"] == "confirmed" and out["current_candidate_id"] == a
    with db.transaction() as s:
        out = dedup.merge_confirmed(s, supervisor, second, "as the examiner found")
    assert out["status"] == "merged"
    with db.transaction() as s:
        assert s.get(Person, c).merged_into_id == a and s.get(Person, b).merged_into_id == a
    (entry,) = [
        e for e in _entries(db, action="biometric.duplicate_merge") if json.loads(e.query)["case"] == second
    ]
    assert json.loads(entry.query) == {
        "case": second,
        "survivor": a,
        "merged": c,
        "person": c,
        "candidate": b,
    }


def test_a_merge_that_makes_a_case_one_record_closes_it_as_resolved(db, tmp_path):
    """A supervisor merges the two records on the merge page while their case is open: the case is closed
    as resolved (audited), not left in the examiners' queue."""
    bind_data_dir(db, tmp_path / "data")
    from crms.records.services import merge_persons

    a, b, c = _persons(db, 3)
    case, other = _case(db, b, a), _case(db, c, b)
    supervisor, examiner = principal(db, "supervisor"), principal(db, "fingerprint_examiner")
    with db.transaction() as s:
        merge_persons(s, supervisor, {"survivor_id": a, "merged_id": b, "reason": "same CNIC on both"})
    with db.transaction() as s:
        assert [x["id"] for x in dedup.queue(s, examiner)] == [other]  # (c, b) is now (c, a): still open
        (closed,) = dedup.queue(s, examiner, "resolved")
    assert closed["id"] == case and closed["current_person_id"] == closed["current_candidate_id"] == a
    (entry,) = _entries(db, action="biometric.duplicate_resolved")
    assert entry.target_id == str(a) and json.loads(entry.query)["case"] == case


def test_a_case_whose_records_are_already_one_is_resolved_not_stuck(db, tmp_path):
    """Cases from before merges closed them (or merged outside the queue): confirming closes the case as
    resolved; a reject cannot part one record and says so; a supervisor's merge of a confirmed one closes
    it as resolved."""
    bind_data_dir(db, tmp_path / "data")
    from crms.records.participants import (
        merge_participants,
        register_merge_participant,
        unregister_merge_participant,
    )
    from crms.records.services import merge_persons

    a, b, c, d = _persons(db, 4)
    open_case, confirmed = _case(db, b, a), _case(db, d, c, status="confirmed")
    supervisor, examiner = principal(db, "supervisor"), principal(db, "fingerprint_examiner")
    registered = merge_participants()
    for fn in registered:  # a database whose merges did not close cases (fingerprints' wrappers included)
        unregister_merge_participant(fn)
    try:
        with db.transaction() as s:
            merge_persons(s, supervisor, {"survivor_id": a, "merged_id": b, "reason": "same CNIC"})
            merge_persons(s, supervisor, {"survivor_id": c, "merged_id": d, "reason": "same CNIC"})
    finally:
        for fn in registered:
            register_merge_participant(fn)
    with pytest.raises(Conflict) as exc, db.transaction() as s:
        dedup.decide(s, examiner, open_case, "reject", "different persons")
    assert exc.value.field == "decision" and f"merged into person {a}" in exc.value.message
    with db.transaction() as s:
        out = dedup.decide(s, examiner, open_case, "confirm", "the same man")
    assert out["status"] == "resolved" and out["decided_by"] == examiner.user_id
    with db.transaction() as s:
        out = dedup.merge_confirmed(s, supervisor, confirmed, "as confirmed")
    assert out["status"] == "resolved" and out["merged_at"] is None
    resolved = [json.loads(e.query)["case"] for e in _entries(db, action="biometric.duplicate_resolved")]
    assert resolved == [open_case, confirmed]


# ------------------------------------------------------------------------------- the CLI


def test_cli_duplicate_merge_merges_a_confirmed_case(db, tmp_path, monkeypatch):
    from crms.access.models import User
    from crms.access.tokens import issue_token
    from crms.cli.main import app
    from crms.records.models import Person

    runner = CliRunner()
    monkeypatch.setenv("CRMS_DATABASE_URL", db.url)
    monkeypatch.setenv("CRMS_DATA_DIR", str(tmp_path / "data"))
    a, b, c = _persons(db, 3)
    confirmed, still_open = _case(db, b, a, status="confirmed"), _case(db, c, a)
    examiner, supervisor = principal(db, "fingerprint_examiner"), principal(db, "supervisor")
    with db.transaction() as s:
        as_examiner = {"CRMS_TOKEN": issue_token(s, s.get(User, examiner.user_id))}
        as_supervisor = {"CRMS_TOKEN": issue_token(s, s.get(User, supervisor.user_id))}
    merge = ["fp", "duplicate-merge"]
    r = runner.invoke(app, [*merge, str(confirmed), "--reason", "as confirmed"], env=as_examiner)
    assert r.exit_code == 3, r.output  # not allowed to merge records
    r = runner.invoke(app, [*merge, "999999", "--reason", "as confirmed"], env=as_supervisor)
    assert r.exit_code == 1 and "no duplicate case 999999" in r.stderr
    r = runner.invoke(app, [*merge, str(still_open), "--reason", "as confirmed"], env=as_supervisor)
    assert r.exit_code == 2 and "not confirmed" in r.stderr
    r = runner.invoke(app, [*merge, str(confirmed), "--reason", " "], env=as_supervisor)
    assert r.exit_code == 2 and "reason" in r.stderr
    r = runner.invoke(app, [*merge, str(confirmed), "--reason", "as confirmed"], env=as_supervisor)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["status"] == "merged" and out["merged_by"] == supervisor.user_id
    with db.transaction() as s:
        assert s.get(Person, b).merged_into_id == a


def test_a_case_page_says_where_a_merged_record_went(app, db, tmp_path):
    """The probe: the examiner confirmed case 3 (persons 3 and 2) with no word that 2 was merged already."""
    from crms.records.services import merge_persons

    a, b, c_ = _persons(db, 3)
    case = _case(db, c_, b)
    with db.transaction() as s:
        merge_persons(
            s, principal(db, "supervisor"), {"survivor_id": a, "merged_id": b, "reason": "same CNIC"}
        )
    with signed_in(app, db, "fingerprint_examiner") as (c, _api, _uid):
        page = c.get(f"/duplicates/{case}").text
        assert f'data-merged-into="{a}"' in page and f"merged into record {a}" in page
        c.cookies.set("crms_lang", "ur")
        assert f"ریکارڈ {a} میں ضم شدہ" in c.get("/duplicates").text


def test_a_case_decided_meanwhile_is_said_in_urdu_by_its_status(app, db):
    """Two examiners on one case: the second one's decision, sent from a page opened before the first
    one's, is refused saying what the case now is, in the page's language; the API names the kind."""
    a, b = _persons(db, 2)
    case = _case(db, b, a)
    with signed_in(app, db, "fingerprint_examiner") as (c, api, _uid):
        c.cookies.set("crms_lang", "ur")
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get(f"/duplicates/{case}").text).group(1)
        with db.transaction() as s:
            dedup.decide(s, principal(db, "fingerprint_examiner"), case, "reject", "different persons")
        form = {"csrf_token": token, "decision": "confirm", "reason": "the same man"}
        r = c.post(f"/duplicates/{case}/decide", data=form)
        assert r.status_code == 422, r.text[:300]
        page = html.unescape(r.text)
        assert "یہ کیس پہلے ہی “مسترد” ہے" in page and "is already rejected" not in page
        r = c.post(f"/api/v1/duplicates/{case}/decision", headers=api,
                   json={"decision": "confirm", "reason": "the same man"})  # fmt: skip
        assert r.status_code == 409, r.text
        assert r.json()["errors"][0]["type"] == "duplicate_decided"
        assert r.json()["errors"][0]["values"] == {"case": case, "word": "rejected"}
    with pytest.raises(Conflict) as exc, db.transaction() as s:
        dedup.merge_confirmed(s, principal(db, "supervisor"), case, "as confirmed")
    assert exc.value.details[0]["type"] == "duplicate_unconfirmed"
