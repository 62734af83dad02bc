"""Missing / amputated / unable-to-print fingers on SQLite and PostgreSQL: the mark, its validation and
permission, audit, the finger-by-finger view, and a later capture clearing the mark (history kept)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crms.biometrics import enrolment, marks
from crms.biometrics.models import FingerMark
from crms.errors import Conflict, PermissionDenied, ValidationError
from tests.biometrics.test_enrolment import actions, capture, finger, make_person, make_principal


@pytest.fixture
def env(db, tmp_path):
    from crms.access.audit import bind_data_dir
    from crms.access.crypto import EncryptedStore

    bind_data_dir(db, tmp_path / "data")
    return db, EncryptedStore(tmp_path / "data", key=b"k" * 32)


def mark(db, who, pid, position, reason, note=None):
    with db.transaction() as s:
        return marks.record_missing_finger(s, who, pid, position, reason, note)


def test_mark_shows_finger_by_finger_and_capture_clears_it(env):
    db, store = env
    pid = make_person(db)
    op = make_principal(db, "cro_operator", "BA")
    mark(db, op, pid, 3, "amputated", "lost in an accident 2019")
    mark(db, op, pid, 4, "bandaged")
    with db.transaction() as s:
        view = enrolment.fingerprints_of(s, op, pid)
    states = {f["position"]: f["state"] for f in view["fingers"]}
    assert states[3] == "marked" and states[4] == "marked" and states[1] == "not_captured"
    assert {m["position"]: m["reason"] for m in view["marks"]} == {3: "amputated", 4: "bandaged"}
    assert view["fingers"][2]["mark"]["note"] == "lost in an accident 2019"
    assert "biometric.missing" in actions(db)

    row = capture(db, store, op, pid, 4, finger(1, 4), ppi=500)  # the bandage came off
    with db.transaction() as s:
        view = enrolment.fingerprints_of(s, op, pid)
        old = s.scalars(select(FingerMark).where(FingerMark.position == 4)).one()
        assert not old.active and old.cleared_by_print == row.id and old.cleared_at is not None
        history = enrolment.fingerprints_of(s, op, pid, history=True)
    states = {f["position"]: f["state"] for f in view["fingers"]}
    assert states[4] == "captured" and states[3] == "marked"
    assert [m["position"] for m in view["marks"]] == [3]
    assert sorted((m["position"], m["active"]) for m in history["marks"]) == [(3, True), (4, False)]


def test_remark_replaces_and_keeps_history(env):
    db, _ = env
    pid = make_person(db)
    op = make_principal(db)
    first = mark(db, op, pid, 7, "unable")
    again = mark(db, op, pid, 7, "unable")
    assert again.id == first.id  # the same mark again changes nothing
    mark(db, op, pid, 7, "amputated")
    with db.transaction() as s:
        rows = list(s.scalars(select(FingerMark).order_by(FingerMark.id)))
    assert [(r.reason, r.active) for r in rows] == [("unable", False), ("amputated", True)]


def test_mark_refused_for_bad_input_captured_finger_and_role(env):
    db, store = env
    pid = make_person(db)
    op = make_principal(db)
    for position, reason, note, field in [
        (11, "missing", None, "position"),
        (2, "lost", None, "reason"),
        (2, "missing", "x" * 301, "note"),
    ]:
        with pytest.raises(ValidationError) as err:
            mark(db, op, pid, position, reason, note)
        assert err.value.field == field
    capture(db, store, op, pid, 1, finger(2, 1), ppi=500)
    with pytest.raises(Conflict) as err:
        mark(db, op, pid, 1, "amputated")
    assert [(d["type"], d["values"]) for d in err.value.details] == [("finger_printed", {"position": 1})]
    with pytest.raises(PermissionDenied):
        mark(db, make_principal(db, "investigating_officer"), pid, 2, "missing")
    with pytest.raises(PermissionDenied):  # another district
        mark(db, make_principal(db, "cro_operator", "BA/MKN/GWADAR"), pid, 2, "missing")
    with db.transaction() as s:
        assert s.scalar(select(FingerMark.id)) is None


def test_marks_follow_a_merge(env):
    from crms.records.participants import register_merge_participant
    from crms.records.services import merge_persons

    register_merge_participant(enrolment.follow_merge)  # as the composition roots (API, CLI) do
    db, store = env
    op = make_principal(db)
    survivor, merged = make_person(db), make_person(db)
    capture(db, store, op, survivor, 1, finger(1, 1), ppi=500)
    clash = mark(db, op, merged, 1, "bandaged").id  # the survivor has a print of this finger
    moved = mark(db, op, merged, 5, "amputated").id
    with db.transaction() as s:
        merge_persons(s, make_principal(db, "supervisor"), {"survivor_id": survivor, "merged_id": merged,
                                                           "reason": "same man"})  # fmt: skip
    with db.transaction() as s:
        rows = {r.id: r for r in s.scalars(select(FingerMark))}
        assert {r.person_id for r in rows.values()} == {survivor}
        assert rows[moved].active and not rows[clash].active
        view = enrolment.fingerprints_of(s, op, survivor)
    assert [f["state"] for f in view["fingers"]][:5] == ["captured", "not_captured", "not_captured",
                                                         "not_captured", "marked"]  # fmt: skip
