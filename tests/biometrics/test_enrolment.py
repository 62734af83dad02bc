"""Fingerprint enrolment on SQLite and PostgreSQL: capture (encrypted image, pending row, recapture retires,
the same image is a no-op, one active print per finger), permissions and jurisdiction, validation, audit,
rollback of the stored file, and the resumable template extraction of pending prints."""

from __future__ import annotations

import json
import uuid
from functools import lru_cache

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from crms.access.audit import bind_data_dir
from crms.access.crypto import EncryptedStore
from crms.access.models import AuditEntry
from crms.biometrics import enrolment
from crms.biometrics.models import Fingerprint
from crms.errors import Conflict, PermissionDenied, ValidationError


@lru_cache(maxsize=8)
def finger(index: int, position: int = 1) -> bytes:
    from crms.demo.builder import finger_png

    return finger_png(77, index, position)


def engine_or_skip() -> None:
    from crms.fingerprint import extract

    try:
        extract._pyfing()
    except ImportError as exc:
        pytest.skip(f"pyfing is not installed (the 'fingerprint' extra): {exc}")


@pytest.fixture
def env(db, tmp_path):
    data = tmp_path / "data"
    bind_data_dir(db, data)
    return db, EncryptedStore(data, key=b"k" * 32)


def make_principal(db, role: str = "cro_operator", unit: str = "BA"):
    from crms.access.users import create_user, principal_for

    with db.transaction() as s:
        user = create_user(s, f"{role[:10]}_{uuid.uuid4().hex[:6]}", role, unit=unit)
    return principal_for(user, channel="api")


def make_person(db) -> int:
    from crms.records.services import register_person

    op = make_principal(db, "cro_operator", "BA")
    data = {
        "given_name_en": "Abdul Rauf",
        "parentage_relation": "s/o",
        "parentage_name_en": "Gul Muhammad",
        "gender": "M",
        "birth_year": 1988,
        "unit": "BA/QTA/QUETTA",
    }
    with db.transaction() as s:
        return register_person(s, op, data).person.id


def capture(db, store, who, pid, position, image, **kw) -> Fingerprint:
    with db.transaction() as s:
        return enrolment.capture(s, who, store, pid, position, image, **kw)


def failed_recapture(db, pid: int, position: int, error: str, kind: dict | None = None) -> int:
    """A capture of an enrolled (or pending) finger that failed enrolment and was set aside, as the enrolment
    run leaves one (tests of what the adapters show, without running the extractor); its id."""
    from crms.timeutil import utcnow

    now = utcnow()
    with db.transaction() as s:
        current = enrolment.active_print(s, pid, position)
        row = Fingerprint(
            person_id=pid, position=position, source="livescan", image_ref=current.image_ref,
            image_format="png", image_ppi=500, image_width=300, image_height=400, image_sha256="1" * 64,
            status="failed", error=error, error_kind=json.dumps(kind) if kind else None, active=False,
            captured_at=now, created_at=now, updated_at=now, retired_at=now,
        )  # fmt: skip
        s.add(row)
        s.flush()
        return row.id


def actions(db) -> list[str]:
    from crms.access.models import AuditEntry

    with db.transaction() as s:
        return list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


def test_capture_stores_encrypted_image_and_pending_row(env):
    db, store = env
    pid = make_person(db)
    op = make_principal(db)
    row = capture(db, store, op, pid, 2, finger(0, 2))
    assert row.status == "pending" and row.template is None and row.active
    assert row.finger == "right_index" and row.source == "livescan"
    assert (row.image_format, row.image_ppi, row.image_width, row.image_height) == ("png", 500, 288, 384)
    assert row.captured_by == op.user_id and row.created_by == op.user_id
    assert store.get(row.image_ref) == finger(0, 2)
    raw = (store.root / row.image_ref.split("/")[0]).rglob("*")
    assert all(b"\x89PNG" not in p.read_bytes() for p in raw if p.is_file())  # encrypted at rest
    assert actions(db)[-1] == "biometric.capture"


def test_recapture_retires_the_old_print_and_same_image_is_a_no_op(env):
    db, store = env
    pid = make_person(db)
    op = make_principal(db)
    first = capture(db, store, op, pid, 1, finger(0))
    n_audit = len(actions(db))
    again = capture(db, store, op, pid, 1, finger(0))
    assert again.id == first.id and len(actions(db)) == n_audit
    second = capture(db, store, op, pid, 1, finger(1))
    with db.transaction() as s:
        rows = s.scalars(
            select(Fingerprint).where(Fingerprint.person_id == pid).order_by(Fingerprint.id)
        ).all()
        assert [(r.id, r.active) for r in rows] == [(first.id, False), (second.id, True)]
        assert rows[0].retired_by == op.user_id and rows[0].retired_at is not None
        assert enrolment.active_print(s, pid, 1).id == second.id


def test_one_active_print_per_person_and_finger_is_enforced_by_the_database(env):
    db, store = env
    pid = make_person(db)
    row = capture(db, store, make_principal(db), pid, 3, finger(0, 3))
    cols = {c: getattr(row, c) for c in ("image_ref", "image_format", "image_ppi", "image_width",
                                         "image_height", "image_sha256")}  # fmt: skip
    with pytest.raises(IntegrityError):
        with db.transaction() as s:
            s.add(Fingerprint(person_id=pid, position=3, **cols))
    with db.transaction() as s:  # a retired duplicate is fine
        s.add(Fingerprint(person_id=pid, position=3, active=False, **cols))
    with pytest.raises(IntegrityError):
        with db.transaction() as s:
            s.add(Fingerprint(person_id=pid, position=11, **cols))


@pytest.mark.parametrize(
    ("role", "unit", "allowed"),
    [
        ("fingerprint_examiner", "BA", True),
        ("cro_operator", "BA/QTA", True),
        ("cro_operator", "BA/MKN", False),  # outside the person's unit
        ("investigating_officer", "BA", False),
        ("auditor", "BA", False),
    ],
)
def test_capture_needs_the_enrol_permission_within_the_unit(env, role, unit, allowed):
    db, store = env
    pid = make_person(db)  # unit BA/QTA/QUETTA
    who = make_principal(db, role, unit)
    if allowed:
        assert capture(db, store, who, pid, 1, finger(0)).status == "pending"
        return
    with pytest.raises(PermissionDenied):
        capture(db, store, who, pid, 1, finger(0))
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Fingerprint)) == 0
    assert not any(p.is_file() for p in store.root.rglob("*")) if store.root.exists() else True


def _png(image: bytes, *, scale: float = 1.0, dpi: int | None = None) -> bytes:
    """``image`` as a PNG, scaled by ``scale``, with a resolution tag of ``dpi`` (none when None)."""
    import io

    from PIL import Image

    im = Image.open(io.BytesIO(image))
    if scale != 1.0:
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="PNG", **({"dpi": (dpi, dpi)} if dpi else {}))
    return buf.getvalue()


def test_capture_validates_position_image_and_resolution(env):
    db, store = env
    pid = make_person(db)
    op = make_principal(db)
    with pytest.raises(ValidationError, match="position"):
        capture(db, store, op, pid, 0, finger(0))
    with pytest.raises(ValidationError, match="not a supported image"):
        capture(db, store, op, pid, 1, b"hello, not a fingerprint")
    with pytest.raises(ValidationError, match="outside") as refused:
        capture(db, store, op, pid, 1, _png(finger(0)), ppi=100)
    assert refused.value.details[0]["type"] == "ppi_outside"
    row = capture(db, store, op, pid, 1, _png(finger(0)), ppi=500)
    assert (row.image_ppi, row.image_ppi_source, row.image_ppi_reason) == (
        500,
        "caller",
        "given by the caller",
    )


def test_capture_takes_the_files_resolution_where_plausible_and_estimates_it_otherwise(env):
    """The gallery follows the rule a search's probe is read by (crms.fingerprint.choose_dpi): a plausible
    tag is kept; a missing tag, a screen default (72) or a tag the ridges contradict gives the estimate."""
    db, store = env
    pid = make_person(db)
    op = make_principal(db)
    tagged = capture(db, store, op, pid, 1, _png(finger(0), dpi=500))
    assert (tagged.image_ppi, tagged.image_ppi_source) == (500, "file")
    assert "consistent with the ridges" in tagged.image_ppi_reason
    untagged = capture(db, store, op, pid, 2, _png(finger(1, 2)))
    screen = capture(db, store, op, pid, 3, _png(finger(2, 3), dpi=72))
    for row in (untagged, screen):
        assert row.image_ppi_source == "estimated" and 400 <= row.image_ppi <= 620, row.image_ppi
    for row in (untagged, screen):  # a screen default is no resolution at all
        assert row.image_ppi_reason == "no usable resolution in the file: estimated from the ridge period"
    shown = enrolment.fingerprint_dict(screen)["image"]
    assert (shown["ppi"], shown["ppi_source"]) == (screen.image_ppi, "estimated")
    assert shown["ppi_reason"] == screen.image_ppi_reason
    # A print at about 170 ppi, tagged 500 (SOCOFing's kind of file) or not tagged: the ridges say about 170,
    # below what a gallery print may be; refused, naming where the figure came from, and nothing is stored.
    small = finger(3, 4)
    for image, said in (
        (_png(small, scale=0.34, dpi=500), "implausible"),
        (_png(small, scale=0.34), "no usable"),
    ):
        with pytest.raises(ValidationError) as refused:
            capture(db, store, op, pid, 4, image)
        detail = refused.value.details[0]
        assert detail["type"] == "ppi_estimated_outside" and detail["field"] == "ppi", detail
        assert said in detail["message"] and 120 <= int(detail["values"]["ppi"]) < enrolment.MIN_PPI, detail
        assert detail["message"].count(f"{detail['values']['ppi']} ppi") == 1, detail  # the figure said once
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Fingerprint).where(Fingerprint.position == 4)) == 0
    assert capture(db, store, op, pid, 4, _png(small, scale=0.34), ppi=500).image_ppi_source == "caller"
    with db.transaction() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "biometric.capture")).all()
    queries = [json.loads(e.query) for e in entry]
    assert [(q["ppi"], q["ppi_source"]) for q in queries][:3] == [
        (500, "file"),
        (untagged.image_ppi, "estimated"),
        (screen.image_ppi, "estimated"),
    ]


def test_the_resolution_chosen_before_the_transaction_is_not_estimated_again_inside_it(env, monkeypatch):
    """check_capture chooses the resolution (an estimate: milliseconds) before the transaction opens; the
    capture inside it takes that answer for the same ppi instead of holding the write lock for another."""
    import crms.fingerprint as fp
    from crms.biometrics.capture_check import check_capture

    db, store = env
    pid, op = make_person(db), make_principal(db)
    real, calls = fp.choose_dpi, []
    monkeypatch.setattr(fp, "choose_dpi", lambda *a: calls.append(a[2]) or real(*a))
    checked, quality = check_capture(_png(finger(4, 5)), 5)
    row = capture(db, store, op, pid, 5, checked)
    assert calls == [None] and row.image_ppi_source == quality["ppi_source"] == "estimated"
    assert row.image_ppi == quality["ppi"]
    capture(db, store, op, pid, 6, checked, ppi=500)  # another ppi is another answer
    assert calls == [None, 500]


def test_a_rolled_back_capture_leaves_no_file(env):
    db, store = env
    pid = make_person(db)
    op = make_principal(db)
    with pytest.raises(RuntimeError):
        with db.transaction() as s:
            row = enrolment.capture(s, op, store, pid, 1, finger(0))
            ref = row.image_ref
            assert store.exists(ref)
            raise RuntimeError("the officer's action failed later")
    assert not store.exists(ref)


def test_enrol_pending_extracts_templates_resumably(env):
    engine_or_skip()
    from crms.fingerprint.serialise import loads

    db, store = env
    pid = make_person(db)
    op = make_principal(db)
    for pos in (1, 2, 3):
        capture(db, store, op, pid, pos, finger(pos, pos))
    with db.transaction() as s:
        assert enrolment.enrolment_counts(s)["pending"] == 3
    seen = []
    first = enrolment.enrol_pending(
        db, store, principal=op, jobs=1, limit=2, progress=lambda *a: seen.append(a)
    )
    assert (first.enrolled, first.failed, first.remaining) == (2, 0, 1)  # interrupted after two
    assert seen[-1] == ("templates", 2, 2)
    rest = enrolment.enrol_pending(db, store, principal=make_principal(db), jobs=1)
    assert (rest.enrolled, rest.remaining) == (1, 0) and rest.cpu_seconds > 0
    again = enrolment.enrol_pending(db, store, principal=make_principal(db), jobs=1)
    assert again.enrolled == 0 and again.remaining == 0
    with db.transaction() as s:
        rows = s.scalars(select(Fingerprint).order_by(Fingerprint.position)).all()
        for r in rows:
            t = loads(r.template)
            assert r.status == "enrolled" and r.extractor == enrolment.extractor_version()
            assert t.count == r.minutiae >= 10 and 0 <= r.quality <= 100 and r.enrolled_at is not None
        counts = enrolment.enrolment_counts(s)
    assert counts == {"pending": 0, "enrolled": 3, "failed": 0, "prints": 3, "persons": 1,
                      "persons_ten_prints": 0}  # fmt: skip
    assert actions(db).count("biometric.enrol") == 3


def test_enrol_pending_marks_unreadable_prints_failed_and_can_retry(env):
    """A stored image the extractor cannot read (damaged after capture, still decrypting) fails its row,
    with the reason; retry_failed queues it again."""
    engine_or_skip()
    db, store = env
    pid = make_person(db)
    op = make_principal(db)
    row = capture(db, store, op, pid, 1, finger(0))
    kind = row.image_ref.split("/")[0]
    with db.transaction() as s:
        s.get(Fingerprint, row.id).image_ref = store.put(kind, b"this is not an image")
    report = enrolment.enrol_pending(db, store, principal=op, jobs=1)
    assert (report.enrolled, report.failed, report.remaining) == (0, 1, 0)
    with db.transaction() as s:
        failed = s.get(Fingerprint, row.id)
        assert failed.status == "failed" and failed.template is None
        assert "not a supported image" in failed.error
        said = enrolment.fingerprint_dict(failed)["error_kind"]
        assert said == {"type": "image_format_unknown", "values": {}}
    assert enrolment.retry_failed(db, op) == 1
    with db.transaction() as s:
        assert s.scalar(select(Fingerprint.status)) == "pending"
        s.get(Fingerprint, row.id).image_ref = store.put(kind, finger(0)[:3000])  # a PNG cut off
    enrolment.enrol_pending(db, store, principal=op, jobs=1)
    with db.transaction() as s:
        failed = s.get(Fingerprint, row.id)
        said = enrolment.fingerprint_dict(failed)["error_kind"]
        assert said == {"type": "image_undecodable", "values": {"format": "PNG"}}
    assert enrolment.retry_failed(db, op) == 1
    with db.transaction() as s:
        assert s.get(Fingerprint, row.id).error_kind is None


def blank_png(mode: str = "L", colour=255, size=(388, 374)) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, size, colour).save(buf, format="PNG", dpi=(500, 500))
    return buf.getvalue()


@pytest.mark.parametrize(
    "image",
    [blank_png(), blank_png(colour=0), blank_png("RGBA", (0, 0, 0, 0)), blank_png(colour=200, size=(99, 99))],
    ids=["white", "black", "transparent", "gray"],
)
def test_a_blank_image_is_refused_at_capture(env, image):
    """An image with no fingerprint in it (one uniform shade) is refused naming the image: nothing stored,
    no row, so the finger stays "not captured" instead of turning into an empty enrolment."""
    db, store = env
    pid = make_person(db)
    with pytest.raises(ValidationError, match="no fingerprint") as caught:
        capture(db, store, make_principal(db), pid, 3, image)
    assert caught.value.field == "image" and "finger 3" in caught.value.message
    with pytest.raises(ValidationError, match="white.png: .*no fingerprint"):
        enrolment.check_image(image, 3, "white.png")
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Fingerprint)) == 0
    assert not store.root.exists() or not any(p.is_file() for p in store.root.rglob("*"))


def test_a_print_with_too_few_minutiae_fails_enrolment(env):
    """A stored image that yields fewer minutiae than a search needs (blank after capture, or a print with
    no usable ridges) is recorded as failed with a reason an operator can read, not as enrolled."""
    engine_or_skip()
    db, store = env
    pid = make_person(db)
    row = capture(db, store, make_principal(db), pid, 1, finger(0))
    with db.transaction() as s:
        s.get(Fingerprint, row.id).image_ref = store.put("fingerprint", blank_png(size=(300, 300)))
    op = make_principal(db)
    report = enrolment.enrol_pending(db, store, principal=op, jobs=1)
    assert (report.enrolled, report.failed, report.remaining) == (0, 1, 0)
    with db.transaction() as s:
        failed = s.get(Fingerprint, row.id)
        assert failed.status == "failed" and failed.template is None and failed.active
        assert failed.minutiae == 0 and "minutiae" in failed.error and "capture" in failed.error
        listed = enrolment.fingerprints_of(s, op, pid)
    from crms.fingerprint import MIN_MINUTIAE

    kind = listed["fingerprints"][0]["error_kind"]  # for saying it in the reader's language
    assert kind == {"type": "minutiae_too_few", "values": {"count": 0, "needed": MIN_MINUTIAE}}
    assert listed["failed"] == 1 and listed["enrolled"] == 0
    assert actions(db)[-2:] == ["biometric.enrol_failed", "biometric.read"]


def test_a_recapture_keeps_the_enrolled_print_active_until_the_new_one_enrols(env):
    """Recapturing an enrolled finger does not take the good print out of the gallery: the new capture
    waits beside it (pending, not active) and replaces it only once its own template is extracted; a
    recapture that fails leaves the enrolled print in place."""
    engine_or_skip()
    db, store = env
    pid = make_person(db)
    op = make_principal(db)
    good = capture(db, store, op, pid, 1, finger(0)).id
    enrolment.enrol_pending(db, store, principal=op, jobs=1)
    new = capture(db, store, op, pid, 1, finger(1))
    assert new.status == "pending" and not new.active and new.retired_at is None
    assert capture(db, store, op, pid, 1, finger(1)).id == new.id  # the same image again: no change
    with db.transaction() as s:
        assert enrolment.active_print(s, pid, 1).id == good
        assert enrolment.enrolment_counts(s)["enrolled"] == 1
        listed = enrolment.fingerprints_of(s, op, pid)
        assert listed["fingers"][0]["print"]["id"] == good
        assert listed["fingers"][0]["recapture"]["id"] == new.id
    report = enrolment.enrol_pending(db, store, principal=op, jobs=1)
    assert (report.enrolled, report.failed, report.remaining) == (1, 0, 0)
    with db.transaction() as s:
        assert enrolment.active_print(s, pid, 1).id == new.id
        old = s.get(Fingerprint, good)
        assert not old.active and old.retired_at is not None and old.status == "enrolled"
    bad = capture(db, store, op, pid, 1, finger(2)).id
    with db.transaction() as s:
        s.get(Fingerprint, bad).image_ref = store.put("fingerprint", blank_png(size=(300, 300)))
    report = enrolment.enrol_pending(db, store, principal=op, jobs=1)
    assert (report.enrolled, report.failed) == (0, 1)
    with db.transaction() as s:
        assert enrolment.active_print(s, pid, 1).id == new.id  # the good print stays
        failed = s.get(Fingerprint, bad)
        assert failed.status == "failed" and not failed.active and failed.retired_at is not None
        finger_1 = enrolment.fingerprints_of(s, op, pid)["fingers"][0]
    assert finger_1["recapture"] is None and finger_1["print"]["id"] == new.id
    # the officer is told: a later capture of the finger failed, and why
    assert finger_1["recapture_failed"]["id"] == bad and "minutiae" in finger_1["recapture_failed"]["error"]
    capture(db, store, op, pid, 1, finger(3))
    assert enrolment.enrol_pending(db, store, principal=op, jobs=1).enrolled == 1
    with db.transaction() as s:  # captured again and enrolled: nothing failed after the print in use
        assert enrolment.fingerprints_of(s, op, pid, history=True)["fingers"][0]["recapture_failed"] is None


def test_a_pending_print_recaptured_before_it_enrols_is_superseded(env):
    """A print still waiting for its template when the finger is captured again is superseded: out of the
    queue, kept for history, never enrolled."""
    engine_or_skip()
    db, store = env
    pid = make_person(db)
    op = make_principal(db)
    first = capture(db, store, op, pid, 2, finger(0, 2)).id
    second = capture(db, store, op, pid, 2, finger(1, 2)).id
    with db.transaction() as s:
        old = s.get(Fingerprint, first)
        assert (old.status, old.active) == ("superseded", False) and old.retired_at is not None
        assert enrolment.enrolment_counts(s)["pending"] == 1
    report = enrolment.enrol_pending(db, store, principal=op, jobs=1)
    assert (report.enrolled, report.remaining) == (1, 0)
    with db.transaction() as s:
        assert s.get(Fingerprint, first).status == "superseded"
        assert enrolment.active_print(s, pid, 2).id == second


def test_a_print_missing_from_the_store_fails_without_stopping_the_run(env):
    engine_or_skip()
    db, store = env
    pid = make_person(db)
    row = capture(db, store, make_principal(db), pid, 1, finger(0))
    store.delete(row.image_ref)
    report = enrolment.enrol_pending(db, store, principal=make_principal(db), jobs=1)
    assert (report.failed, report.remaining) == (1, 0)
    with db.transaction() as s:
        failed = s.get(Fingerprint, row.id)
        assert failed.error == f"no stored file {row.image_ref}"  # said once, not after the ref again
        assert json.loads(failed.error_kind) == {"type": "stored_file_missing", "values": {}}
    assert actions(db)[-1] == "biometric.enrol_failed"


def test_one_enrolment_run_at_a_time(env):
    db, store = env
    with enrolment.exclusive(store.data_dir, "fp-enrol"):
        with pytest.raises(Conflict, match="another process"):
            enrolment.enrol_pending(db, store, principal=make_principal(db), jobs=1)


def test_enrol_pending_needs_the_enrol_permission(env):
    db, store = env
    with pytest.raises(PermissionDenied):
        enrolment.enrol_pending(db, store, principal=make_principal(db, "investigating_officer"), jobs=1)


def test_migration_0004_matches_the_model_and_downgrades(tmp_path):
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect

    from crms.db import Base, Database, alembic_config, import_all_models

    import_all_models()
    db = Database(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    db.upgrade()
    with db.engine.connect() as conn:
        assert "fingerprints" in inspect(conn).get_table_names()
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if "fingerprints" in repr(d)] == []
    command.downgrade(alembic_config(db.url), "0003")
    with db.engine.connect() as conn:
        assert "fingerprints" not in inspect(conn).get_table_names()
    db.dispose()


def test_merge_moves_fingerprints_and_retires_the_merged_duplicate_finger(env):
    """Merging two person records moves every fingerprint row of the merged one to the survivor; where both
    hold an active print of the same finger, the survivor's stays active and the other is retired (kept)."""
    from crms.records.models import PersonMerge
    from crms.records.participants import register_merge_participant
    from crms.records.services import merge_persons

    register_merge_participant(enrolment.follow_merge)  # as the composition roots (API, CLI) do
    db, store = env
    op = make_principal(db, "cro_operator", "BA")
    survivor, merged = make_person(db), make_person(db)
    kept = capture(db, store, op, survivor, 1, finger(1, 1)).id
    dup = capture(db, store, op, merged, 1, finger(2, 1)).id
    old = capture(db, store, op, merged, 2, finger(3, 2)).id
    new = capture(db, store, op, merged, 2, finger(4, 2)).id  # retires `old` (recapture)
    supervisor = make_principal(db, "supervisor", "BA")
    with db.transaction() as s:
        merge_persons(s, supervisor, {"survivor_id": survivor, "merged_id": merged, "reason": "same man"})
    with db.transaction() as s:
        rows = {
            r.id: r for r in s.scalars(select(Fingerprint).where(Fingerprint.id.in_([kept, dup, old, new])))
        }
        assert {r.person_id for r in rows.values()} == {survivor}
        assert rows[kept].active and not rows[dup].active and rows[dup].retired_at is not None
        assert rows[new].active and not rows[old].active
        assert enrolment.active_print(s, survivor, 1).id == kept
        assert enrolment.active_print(s, survivor, 2).id == new
        assert s.scalar(select(func.count()).where(Fingerprint.person_id == merged)) == 0
        record = s.scalars(select(PersonMerge).where(PersonMerge.merged_id == merged)).one()
        assert sorted(record.moved["fingerprints"]) == sorted([dup, old, new])
        assert record.moved["fingerprints_retired"] == [dup]


def test_one_request_gives_each_finger_once():
    """Capturing or searching one finger twice in one request is refused at the second, naming the first (a
    search would count it twice against the same print); unknown positions (0) may repeat."""
    from crms.biometrics.capture_check import refuse_finger_twice
    from crms.errors import ValidationError

    refuse_finger_twice([(1, "a.png"), (2, "b.png"), (0, "c.png"), (0, "d.png")], "searched")
    with pytest.raises(ValidationError) as err:
        refuse_finger_twice([(1, "a.png"), (2, "b.png"), (1, "c.png")], "captured")
    said = "c.png: finger position 1 is given twice (a.png and c.png): each finger is captured once"
    assert err.value.message == said
    assert err.value.details == [{"field": "finger_1", "message": said, "type": "position_twice",
                                  "values": {"position": 1, "first": "a.png"}}]  # fmt: skip
    with pytest.raises(ValidationError) as err:
        refuse_finger_twice([(3, "probe 1"), (3, "probe 2")], "searched", field="position")
    assert err.value.field == "position" and "each finger is searched once" in err.value.message
