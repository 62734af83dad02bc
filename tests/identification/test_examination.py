"""The examiner's review of an identification search (crms.biometrics.examination) on SQLite and
PostgreSQL: real synthetic images enrolled through the services, a search with another impression, the
side-by-side picture with the paired minutiae, and the decision recorded once, in the audit trail."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select

from crms.access.models import AuditEntry
from crms.biometrics import examination
from crms.biometrics.identification import ProbeInput, forget_stores
from crms.errors import Conflict, PermissionDenied, ValidationError


def _principal(db, role: str):
    from crms.access.users import create_user, principal_for

    with db.transaction() as s:
        user = create_user(s, f"{role[:10]}_{uuid.uuid4().hex[:6]}", role, unit="BA")
    return principal_for(user, channel="web")


def _print(seed: int, finger: int, impression: int) -> bytes:
    from crms.fingerprint.synthesis import generate_master, png_bytes, render_impression

    return png_bytes(render_impression(generate_master(seed=seed, finger_index=finger), impression))


def enrol_two(db, store) -> tuple[int, int]:
    """Two persons, right thumb and right index each, enrolled from images through the services."""
    from crms.biometrics import enrolment
    from crms.records.services import register_person

    pytest.importorskip("onnxruntime", reason="the 'fingerprint' extra is not installed")
    op, examiner = _principal(db, "cro_operator"), _principal(db, "fingerprint_examiner")
    ids = []
    for seed, name in ((501, "Abdul Qadir"), (502, "Naseem Baloch")):
        data = {"given_name_en": name, "parentage_relation": "s/o", "parentage_name_en": "Gul Khan",
                "gender": "M", "birth_year": 1985, "unit": "BA/QTA/QUETTA"}  # fmt: skip
        with db.transaction() as s:
            pid = register_person(s, op, data).person.id
            for finger in (0, 1):
                enrolment.capture(s, examiner, store, pid, finger + 1, _print(seed, finger, 0))
        ids.append(pid)
    enrolment.enrol_pending(db, store, principal=examiner, jobs=1)
    return ids[0], ids[1]


@pytest.fixture
def world(db, tmp_path):
    from crms.access.crypto import EncryptedStore

    forget_stores()
    store = EncryptedStore(tmp_path / "store")
    a, b = enrol_two(db, store)
    yield db, store, a, b
    forget_stores()


def test_search_side_by_side_and_decision(world):
    db, store, a, b = world
    examiner, investigator = _principal(db, "fingerprint_examiner"), _principal(db, "investigating_officer")
    probe = ProbeInput("probe 1", _print(501, 0, 3), 1)
    with db.transaction() as s:
        with pytest.raises(ValidationError) as exc:
            examination.search(s, examiner, db, store, [probe], reason=" ")
        assert exc.value.field == "reason"
    with db.transaction() as s:
        out = examination.search(s, examiner, db, store, [probe], reason="FIR 12/2026 arrest")
    sid = out["search_id"]
    top = out["candidates"][0]
    assert top["person_id"] == a and top["hit"] and top["score"] >= out["threshold"]
    with db.transaction() as s:
        with pytest.raises(PermissionDenied):  # not the searcher and no biometric:confirm
            examination.get_search(s, investigator, sid)
        with pytest.raises(PermissionDenied):
            examination.pairing(s, investigator, store, sid, a)
    with db.transaction() as s:
        view = examination.pairing(s, examiner, store, sid, a)
    assert view["png"][:8] == b"\x89PNG\r\n\x1a\n" and view["pairs"] >= 6 and view["position"] == 1
    with db.transaction() as s:
        with pytest.raises(ValidationError) as exc:
            examination.decide(s, examiner, sid, a, "maybe", "looks alike")
        assert exc.value.field == "decision"
        with pytest.raises(PermissionDenied):
            examination.decide(s, investigator, sid, a, "confirmed", "looks alike")
    with db.transaction() as s:
        examination.decide(s, examiner, sid, a, "confirmed", "12 points in agreement")
    with db.transaction() as s:
        with pytest.raises(Conflict) as exc:
            examination.decide(s, examiner, sid, a, "rejected", "second thoughts")
        assert [(d["type"], d["values"]) for d in exc.value.details] == [("candidate_decided", {"person": a})]
        with pytest.raises(Conflict) as exc:  # the page says it in the examiner's language
            examination.decide(s, examiner, sid, a, "rejected", "second thoughts", revise=True)
        assert [(d["type"], d["values"]) for d in exc.value.details] == [("decision_own", {"person": a})]
    with db.transaction() as s:
        got = examination.get_search(s, examiner, sid)
        assert got["candidates"][0]["decision"]["decision"] == "confirmed"
        assert examination.decisions_for_person(s, examiner, a)[0]["reason"] == "12 points in agreement"
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == "biometric.identify_decision")).all()
        assert [(json.loads(r.query)["person"], r.target_id) for r in rows] == [(a, str(sid))]
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "biometric.image")).first() is not None
