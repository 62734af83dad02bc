"""1:N identification on SQLite and PostgreSQL: the database-backed gallery (incremental sync, restart,
snapshot, merge, retire, delete), the audited search, and duplicate enrolment cases for examiners."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
from sqlalchemy import delete, select

from crms.biometrics import dedup, identification
from crms.biometrics.identification import GalleryStore, ProbeInput, forget_stores
from crms.biometrics.models import DuplicateCase, Fingerprint
from crms.errors import Conflict, PermissionDenied, ValidationError
from crms.fingerprint import synthetic_templates as S
from crms.fingerprint.serialise import dumps
from crms.timeutil import utcnow


@pytest.fixture(autouse=True)
def _fresh_stores():
    from crms.biometrics.enrolment import follow_merge
    from crms.records.participants import register_merge_participant

    register_merge_participant(follow_merge)  # as the composition roots (API, CLI) do
    forget_stores()
    yield
    forget_stores()


def principal(db, role: str, unit: str = "BA"):
    from crms.access.users import create_user, principal_for

    with db.transaction() as s:
        user = create_user(s, f"{role[:10]}_{uuid.uuid4().hex[:6]}", role, unit=unit)
    return principal_for(user, channel="api")


def person(db, op, name: str = "Muhammad Imran") -> int:
    from crms.records.services import register_person

    data = {"given_name_en": name, "parentage_relation": "s/o", "parentage_name_en": "Gul Khan",
            "gender": "M", "birth_year": 1985, "unit": "BA/QTA/QUETTA"}  # fmt: skip
    with db.transaction() as s:
        return register_person(s, op, data).person.id


def enrol(db, pid: int, position: int, template, blob: bytes | None = None) -> int:
    now = utcnow()
    with db.transaction() as s:
        row = Fingerprint(
            person_id=pid, position=position, source="synthetic", image_ref=f"fingerprint/{uuid.uuid4().hex}",
            image_format="png", image_ppi=500, image_width=300, image_height=400, image_sha256="0" * 64,
            status="enrolled", template=blob if blob is not None else dumps(template), quality=60,
            minutiae=template.count, extractor="test", enrolled_at=now, captured_at=now, created_at=now,
            updated_at=now, active=True,
        )  # fmt: skip
        s.add(row)
        s.flush()
        return row.id


@pytest.fixture
def world(db):
    """Six persons with ten synthetic fingers each."""
    rng = np.random.default_rng(11)
    op = principal(db, "cro_operator")
    fingers = {}
    for _ in range(6):
        pid = person(db, op)
        fingers[pid] = [S.master(rng) for _ in range(10)]
        for f, t in enumerate(fingers[pid]):
            enrol(db, pid, f + 1, t)
    return db, op, fingers


def probe(t, position: int, seed: int = 1, name: str = "probe") -> ProbeInput:
    return ProbeInput(name, dumps(S.impression(t, np.random.default_rng(seed))), position)


def search(db, who, probes, reason="arrest 12/2026 Quetta Cantt", **kw) -> dict:
    with db.transaction() as s:
        return identification.identify(s, who, db, probes, reason=reason, **kw)


def test_identify_finds_the_person_and_audits_the_candidate_list(world):
    from crms.access.models import AuditEntry

    db, op, fingers = world
    pid = list(fingers)[3]
    out = search(db, op, [probe(fingers[pid][4], 5)], top=3)
    assert out["candidates"][0]["person_id"] == pid and out["candidates"][0]["hit"]
    assert out["candidates"][0]["fingers"][0]["position"] == 5
    assert len(out["candidates"]) == 3 and not out["candidates"][1]["hit"]
    assert out["gallery"] == {"fingers": 60, "persons": 6}
    with db.transaction() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "search.biometric")).one()
        assert entry.reason == "arrest 12/2026 Quetta Cantt"
        assert json.loads(entry.query)["candidates"][0] == [pid, out["candidates"][0]["score"]]


def test_identify_needs_permission_reason_and_good_probes(world):
    db, op, fingers = world
    pid = list(fingers)[0]
    with pytest.raises(PermissionDenied):
        search(db, principal(db, "auditor"), [probe(fingers[pid][0], 1)])
    with pytest.raises(ValidationError) as e:
        search(db, op, [probe(fingers[pid][0], 1)], reason=" ")
    assert e.value.field == "reason"
    with pytest.raises(ValidationError) as e:
        search(db, op, [probe(fingers[pid][0], 11, name="right_thumb.tpl")])
    assert e.value.field == "position" and "right_thumb.tpl" in e.value.message
    with pytest.raises(ValidationError) as e:
        search(db, op, [ProbeInput("left.png", b"not an image at all", 6)])
    assert e.value.field == "left.png.image" and "left.png" in e.value.message
    old = bytearray(dumps(fingers[pid][0]))
    old[4] = 0  # template format version 0
    with pytest.raises(ValidationError) as e:
        search(db, op, [ProbeInput("old.tpl", bytes(old), 1)])
    assert e.value.field == "old.tpl.template" and "version" in e.value.message


def test_empty_gallery_is_a_clear_error(db):
    op = principal(db, "cro_operator")
    with pytest.raises(ValidationError) as e:
        search(db, op, [ProbeInput("x", dumps(S.master(np.random.default_rng(1))), 1)])
    assert e.value.field == "gallery"


def test_gallery_follows_enrol_retire_merge_delete_incrementally(world, monkeypatch):
    from datetime import timedelta

    from crms.records.services import merge_persons

    monkeypatch.setattr(identification, "CENSUS_EVERY", timedelta(0))  # rows deleted outright: seen at once

    db, op, fingers = world
    a, b = list(fingers)[:2]
    store = identification.store_for(db)
    with db.transaction() as s:
        assert store.sync(s)["inserted"] == 60
    with db.transaction() as s:
        assert store.sync(s) == {"inserted": 0, "removed": 0, "fingers": 60} or store.sync(s)["fingers"] == 60
    newcomer = person(db, op, "Asif")
    t = S.master(np.random.default_rng(99))
    fid = enrol(db, newcomer, 2, t)
    assert search(db, op, [probe(t, 2)])["candidates"][0]["person_id"] == newcomer
    assert len(store.gallery) == 61
    with db.transaction() as s:  # retired (recaptured elsewhere)
        row = s.get(Fingerprint, fid)
        row.active, row.updated_at = False, utcnow()
    assert search(db, op, [probe(t, 2)])["candidates"][0]["person_id"] != newcomer
    assert len(store.gallery) == 60
    x, y = person(db, op, "X"), person(db, op, "Y")
    tx, ty = S.master(np.random.default_rng(41)), S.master(np.random.default_rng(42))
    enrol(db, x, 1, tx)
    enrol(db, y, 2, ty)
    assert search(db, op, [probe(ty, 2)])["candidates"][0]["person_id"] == y
    supervisor = principal(db, "supervisor")
    with db.transaction() as s:
        merge_persons(s, supervisor, {"survivor_id": x, "merged_id": y, "reason": "same man"})
    out = search(db, op, [probe(ty, 2)])
    assert out["candidates"][0]["person_id"] == x  # y's print now belongs to x
    assert y not in [c["person_id"] for c in out["candidates"]]
    with db.transaction() as s:  # both with all ten fingers: the merged person's duplicates are retired
        merge_persons(s, supervisor, {"survivor_id": a, "merged_id": b, "reason": "same man"})
    out = search(db, op, [probe(fingers[b][6], 7)])
    assert b not in [c["person_id"] for c in out["candidates"]]
    with db.transaction() as s:  # deleted outright: no updated_at to see, the count check catches it
        s.execute(delete(Fingerprint).where(Fingerprint.person_id == list(fingers)[5]))
    out = search(db, op, [probe(fingers[list(fingers)[5]][0], 1)])
    assert out["candidates"][0]["person_id"] != list(fingers)[5]
    assert store.gallery.persons == 5  # a (with b), c, d, e... minus the deleted one, plus x


KEY = bytes(range(32))


def _fresh(db) -> list[tuple[int, int, int]]:
    """The live fingers of a gallery built from the table alone (no snapshot), as (id, person, position)."""
    st = GalleryStore()
    with db.read_transaction() as s:
        st.sync(s)
    return _census(st)


def _census(st) -> list[tuple[int, int, int]]:
    keys, persons, positions = st.gallery.census()
    return sorted(zip(keys.tolist(), persons.tolist(), positions.tolist(), strict=True))


def _restart(db, snap, key=KEY, database="db-1") -> tuple[GalleryStore, dict]:
    st = GalleryStore(snap, key, database)  # a new process: nothing survives but the table and the file
    with db.transaction() as s:
        out = st.sync(s)
    return st, out


def test_restart_and_snapshot_reach_the_database_state(world, tmp_path):
    db, op, fingers = world
    pid = list(fingers)[2]
    first = search(db, op, [probe(fingers[pid][1], 2)])
    snap = tmp_path / "gallery" / "snapshot"
    st, out = _restart(db, snap)
    assert out.get("rebuilt") == 1 and st.last_load["snapshot"] == "missing" and snap.exists()
    assert b"stamp" not in snap.read_bytes() and b"CRMSGAL1" == snap.read_bytes()[:8]  # sealed
    assert [p.name for p in snap.parent.iterdir()] == ["snapshot"]  # no temporary file left behind
    t = S.master(np.random.default_rng(5))
    newcomer = person(db, op, "Late")
    enrol(db, newcomer, 3, t)
    st2, out = _restart(db, snap)  # stale: one enrolment behind
    assert out.get("from_snapshot") == 1 and out["fingers"] == 61 and out["inserted"] >= 1
    assert _census(st2) == _fresh(db)
    forget_stores()
    assert search(db, op, [probe(fingers[pid][1], 2)])["candidates"][:3] == first["candidates"][:3]


def test_the_measured_impostors_come_back_with_the_snapshot(world, tmp_path, monkeypatch):
    """A restart from the snapshot takes the impostor scores measured before, not measuring them again."""
    from crms.fingerprint import Gallery, impostors

    db, _op, _fingers = world
    monkeypatch.setattr(impostors, "MIN_PAIRS", 100)
    snap = tmp_path / "gallery" / "snapshot"
    st, out = _restart(db, snap)
    assert out.get("rebuilt") == 1 and st.gallery.impostors.pairs == 300
    kept = st.gallery.impostors.scores
    monkeypatch.setattr(Gallery, "impostor_scores", lambda *a, **k: pytest.fail("measured again"))
    st2, out = _restart(db, snap)
    assert out.get("from_snapshot") == 1 and st2.gallery.impostors_at == 60
    assert np.allclose(st2.gallery.impostors.scores, kept, atol=0.006)


def _flip(b: bytes) -> bytes:
    i = len(b) // 2
    return b[:i] + bytes([b[i] ^ 1]) + b[i + 1 :]


@pytest.mark.parametrize(
    "spoil, why",
    [
        (lambda p: p.write_bytes(b"garbage"), "damaged (does not open with the data key)"),
        (lambda p: p.write_bytes(p.read_bytes()[:-100]), "damaged (does not open with the data key)"),
        (lambda p: p.write_bytes(_flip(p.read_bytes())), "damaged (does not open with the data key)"),
        (lambda p: p.unlink(), "missing"),
    ],
)
def test_a_damaged_snapshot_is_rebuilt_from_the_table(world, tmp_path, spoil, why):
    db, op, fingers = world
    snap = tmp_path / "snapshot"
    _restart(db, snap)
    spoil(snap)
    st, out = _restart(db, snap)
    assert out.get("rebuilt") == 1 and st.last_load["snapshot"] == why
    assert _census(st) == _fresh(db) and len(st.gallery) == 60


def test_a_snapshot_of_another_database_or_key_is_not_used(world, tmp_path):
    db, op, fingers = world
    snap = tmp_path / "snapshot"
    _restart(db, snap)
    st, out = _restart(db, snap, database="db-2")
    assert out.get("rebuilt") == 1 and st.last_load["snapshot"] == "of another database"
    st, out = _restart(db, snap, key=bytes(32))
    assert out.get("rebuilt") == 1 and st.last_load["snapshot"].startswith("damaged")


def test_changes_the_watermark_cannot_see_are_caught_by_the_census(world, tmp_path):
    """A merge or enrolment committed with an ``updated_at`` older than the snapshot's watermark (a clock set
    back, a long transaction), and a row deleted outright: the census check finds and repairs them."""
    db, op, fingers = world
    b, c = list(fingers)[1:3]
    snap = tmp_path / "snapshot"
    _restart(db, snap)
    long_ago = utcnow().replace(year=2000)
    t = S.master(np.random.default_rng(77))
    newcomer, z, w = person(db, op, "Backdated"), person(db, op, "Z"), person(db, op, "W")
    fid = enrol(db, newcomer, 4, t)
    with db.transaction() as s:
        s.get(Fingerprint, fid).updated_at = long_ago
        for row in s.scalars(select(Fingerprint).where(Fingerprint.person_id == b)):
            row.person_id, row.updated_at = z, long_ago  # moved to z behind the watermark
        s.execute(delete(Fingerprint).where(Fingerprint.person_id == c))
    st, out = _restart(db, snap)
    assert out.get("from_snapshot") == 1 and out["repaired"] >= 1 + 10 + 10
    assert _census(st) == _fresh(db)
    with db.transaction() as s:  # while running, too: a row moved behind the watermark
        s.get(Fingerprint, fid).person_id = w
        s.get(Fingerprint, fid).updated_at = long_ago
    with db.transaction() as s:
        assert "repaired" not in st.sync(s)  # the census waits CENSUS_EVERY since the last one
        st._census_at -= identification.CENSUS_EVERY
        assert st.sync(s)["repaired"] == 1
    assert _census(st) == _fresh(db)
    st._census_at -= identification.CENSUS_EVERY
    with db.transaction() as s:
        assert "repaired" not in st.sync(s)  # in step: one aggregate query, nothing read again


def test_the_snapshot_is_written_again_after_many_changes(world, tmp_path, monkeypatch):
    db, op, fingers = world
    snap = tmp_path / "snapshot"
    st, _ = _restart(db, snap)
    before = snap.read_bytes()
    monkeypatch.setattr(identification, "SNAPSHOT_EVERY", 3)
    newcomer = person(db, op, "Three")
    for f in (1, 2):
        enrol(db, newcomer, f, S.master(np.random.default_rng(300 + f)))
    with db.transaction() as s:
        st.sync(s)
    assert snap.read_bytes() == before and st.changes == 2
    enrol(db, newcomer, 3, S.master(np.random.default_rng(303)))
    with db.transaction() as s:
        st.sync(s)
    assert snap.read_bytes() != before and st.changes == 0
    st2, out = _restart(db, snap)
    assert out.get("from_snapshot") == 1 and _census(st2) == _fresh(db) and len(st2.gallery) == 63


def test_searches_go_on_while_a_snapshot_is_written(world, tmp_path, monkeypatch):
    import threading

    db, op, fingers = world
    snap = tmp_path / "snapshot"
    st, _ = _restart(db, snap)
    sealing, release = threading.Event(), threading.Event()
    seal = identification._seal

    def slow_seal(data, key):
        sealing.set()
        assert release.wait(30)
        return seal(data, key)

    monkeypatch.setattr(identification, "_seal", slow_seal)
    monkeypatch.setattr(identification, "SNAPSHOT_EVERY", 1)
    enrol(db, person(db, op, "Writer"), 1, S.master(np.random.default_rng(71)))

    def sync_and_save():
        with db.read_transaction() as s:
            st.sync(s)

    writer = threading.Thread(target=sync_and_save)
    writer.start()
    assert sealing.wait(30)
    with db.read_transaction() as s:  # the gallery's lock is free while the file is sealed and written
        assert st.sync(s)["fingers"] == 61
    release.set()
    writer.join(30)
    st2, out = _restart(db, snap)
    assert out.get("from_snapshot") == 1 and len(st2.gallery) == 61


def test_settings_bind_the_snapshot_to_the_data_dir(db, tmp_path):
    from crms.api.app import wire_gallery
    from crms.config import Settings

    settings = Settings(data_dir=tmp_path, database_url=db.url, data_key=None, secret_key="x",
                        environment="test")  # fmt: skip
    wire_gallery(db, settings)
    st = identification.store_for(db)
    assert st.snapshot == tmp_path / "gallery" / "snapshot" and st.key is not None and len(st.key) == 32
    assert (tmp_path / "keys" / "data.key").exists()
    forget_stores()
    wire_gallery(db, Settings(**{**settings.__dict__, "gallery_snapshot": False}))
    assert identification.store_for(db).snapshot is None


def test_a_sync_in_step_reads_and_applies_nothing_again(world):
    """Rows changed within the margin before the watermark are read again but not applied again; once the
    watermark is older than ``SETTLED`` only rows changed after it are read."""
    db, op, fingers = world
    st = GalleryStore()
    with db.read_transaction() as s:
        assert st.sync(s)["inserted"] == 60
    with db.read_transaction() as s:
        assert st.sync(s) == {"inserted": 0, "removed": 0, "fingers": 60}
    with db.transaction() as s:  # a bulk load long ago: every row with the same updated_at
        for row in s.scalars(select(Fingerprint)):
            row.updated_at = utcnow().replace(year=2020, microsecond=0)
    st = GalleryStore()
    with db.read_transaction() as s:
        st.sync(s)
    assert st._recent == {}
    statements = []
    from sqlalchemy import event

    event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append((a[2], a[3])))
    with db.read_transaction() as s:
        assert st.sync(s) == {"inserted": 0, "removed": 0, "fingers": 60}
    (catch_up,) = [x for x in statements if "updated_at >" in x[0]]
    assert "updated_at >=" not in catch_up[0]
    if db.engine.dialect.name == "sqlite":  # the rows after the watermark through the index, not a table scan
        raw = db.engine.raw_connection()
        try:
            raw.execute("ANALYZE")
            plan = str(raw.execute("EXPLAIN QUERY PLAN " + catch_up[0], catch_up[1]).fetchall())
        finally:
            raw.close()
        assert "ix_fingerprints_updated_at" in plan, plan
    newcomer = person(db, op, "New")
    enrol(db, newcomer, 1, S.master(np.random.default_rng(61)))
    with db.read_transaction() as s:
        assert st.sync(s)["inserted"] == 1


@pytest.mark.parametrize("isolation", ["as installed", "repeatable read"])
def test_a_sync_from_an_older_transaction_does_not_take_the_gallery_back(world, isolation, monkeypatch):
    """Two searches at once: the first one's transaction read the table before a recapture was committed,
    the second one's after, and the second one took the gallery's lock first. The first one's sync must not
    bring the retired print back nor drop the new one (a SQLite transaction keeps the snapshot of its first
    read; so does a PostgreSQL one where the server's default isolation is REPEATABLE READ)."""
    from datetime import timedelta

    from sqlalchemy import func

    monkeypatch.setattr(identification, "CENSUS_EVERY", timedelta(0))  # the census runs at every sync
    db, op, fingers = world
    if isolation == "repeatable read":
        if db.is_sqlite:
            pytest.skip("a PostgreSQL server's default isolation")
        with db.engine.connect() as conn:
            conn.exec_driver_sql(
                f'ALTER DATABASE "{db.engine.url.database}" SET default_transaction_isolation = '
                "'repeatable read'"
            )
            conn.commit()
        db.engine.dispose()  # the connections opened from now on take the new default
    a = list(fingers)[0]
    store = identification.store_for(db)
    with db.read_transaction() as s:
        store.sync(s)
    with db.read_transaction() as early:
        assert early.scalar(select(func.count()).select_from(Fingerprint)) == 60  # its snapshot begins
        with db.transaction() as s:  # a's finger 3 recaptured: the old print retired, the new one enrolled
            old = s.scalars(
                select(Fingerprint).where(
                    Fingerprint.person_id == a, Fingerprint.position == 3, Fingerprint.active.is_(True)
                )
            ).one()
            old.active, old.retired_at, old.updated_at = False, utcnow(), utcnow()
        new = enrol(db, a, 3, S.master(np.random.default_rng(123)))
        with db.read_transaction() as late:
            store.sync(late)
        store.sync(early)
    assert new in store.gallery.census()[0] and old.id not in store.gallery.census()[0]
    assert _census(store) == _fresh(db)


def test_the_census_repairs_a_row_applied_within_the_margin(world, monkeypatch):
    """A finger the gallery lost after applying it (whatever took it out of step) is read again by the
    census, although the margin's record says that version of the row was applied."""
    from datetime import timedelta

    db, op, fingers = world
    store = identification.store_for(db)
    with db.read_transaction() as s:
        store.sync(s)
    fid = enrol(db, person(db, op, "Lost"), 2, S.master(np.random.default_rng(124)))
    with db.read_transaction() as s:
        assert store.sync(s)["inserted"] == 1 and fid in store._recent
    store.gallery.delete(fid)
    monkeypatch.setattr(identification, "CENSUS_EVERY", timedelta(0))
    with db.read_transaction() as s:
        assert store.sync(s)["repaired"] == 1
    assert _census(store) == _fresh(db)


def test_a_template_of_an_older_version_is_left_out_and_reported(world):
    db, op, fingers = world
    pid = list(fingers)[1]
    t = S.master(np.random.default_rng(8))
    blob = bytearray(dumps(t))
    blob[4] = 0
    newcomer = person(db, op, "Old")
    fid = enrol(db, newcomer, 1, t, blob=bytes(blob))
    store = identification.store_for(db)
    assert search(db, op, [probe(fingers[pid][0], 1)])["candidates"][0]["person_id"] == pid
    assert "version" in store.skipped[fid] and len(store.gallery) == 60


def test_duplicate_enrolment_goes_to_an_examiner(world):
    from crms.records.models import Person

    db, op, fingers = world
    a, c = list(fingers)[0], list(fingers)[4]
    rng = np.random.default_rng(3)
    twin = person(db, op, "Imran Ali")  # the same man under another name: second impressions of a's fingers
    for f in range(10):
        enrol(db, twin, f + 1, S.impression(fingers[a][f], rng))
    honest = person(db, op, "Nobody Else")
    for f in range(10):
        enrol(db, honest, f + 1, S.master(rng))
    with db.transaction() as s:
        opened = dedup.check_person(s, op, db, twin)
        assert [(x.person_id, x.candidate_id) for x in opened] == [(twin, a)]
        assert dedup.check_person(s, op, db, honest) == []
        assert dedup.check_person(s, op, db, twin) == []  # the same pair is not raised twice
    examiner = principal(db, "fingerprint_examiner")
    with db.transaction() as s:
        cases = dedup.queue(s, examiner)
    assert [(x["person_id"], x["candidate_id"], x["status"]) for x in cases] == [(twin, a, "open")]
    case_id = cases[0]["id"]
    with pytest.raises(PermissionDenied), db.transaction() as s:
        dedup.queue(s, op)
    with pytest.raises(ValidationError), db.transaction() as s:
        dedup.decide(s, examiner, case_id, "confirm", "")
    with db.transaction() as s:
        out = dedup.decide(s, examiner, case_id, "confirm", "ridge detail agrees on all ten fingers")
    assert out["status"] == "confirmed" and out["decided_by"] == examiner.user_id  # not merged yet
    with db.transaction() as s:
        assert s.get(Person, twin).merged_into_id is None
    with pytest.raises(Conflict), db.transaction() as s:
        dedup.decide(s, examiner, case_id, "reject", "changed my mind")
    supervisor = principal(db, "supervisor")
    with db.transaction() as s:
        out = dedup.merge_confirmed(s, supervisor, case_id, "examiner confirmed")
    assert out["status"] == "merged" and out["merged_by"] == supervisor.user_id
    with db.transaction() as s:
        assert s.get(Person, twin).merged_into_id == a
    forget_stores()
    found = search(db, op, [probe(fingers[a][0], 1)])["candidates"]
    assert found[0]["person_id"] == a and twin not in [x["person_id"] for x in found[:1]]
    # a rejected pair: recorded with who and why, both stay
    near = person(db, op, "Cousin")
    for f in range(3):
        enrol(db, near, f + 1, S.impression(fingers[c][f], rng))
    with db.transaction() as s:
        (case,) = dedup.check_person(s, op, db, near)
        cid = case.id
    with db.transaction() as s:
        out = dedup.decide(s, examiner, cid, "reject", "different pattern on the left thumb")
    assert out["status"] == "rejected" and out["reason"] == "different pattern on the left thumb"
    with db.transaction() as s:
        assert s.get(Person, near).merged_into_id is None
        assert s.scalar(select(DuplicateCase.status).where(DuplicateCase.id == cid)) == "rejected"


def test_migration_0005_matches_the_model_and_downgrades(tmp_path):
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect

    from crms.db import Base, Database, alembic_config, import_all_models

    import_all_models()
    db = Database(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    db.upgrade()
    with db.engine.connect() as conn:
        assert "duplicate_cases" in inspect(conn).get_table_names()
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if "duplicate_cases" in repr(d) or "updated_at" in repr(d)] == []
    command.downgrade(alembic_config(db.url), "0005_auth")
    with db.engine.connect() as conn:
        assert "duplicate_cases" not in inspect(conn).get_table_names()
        assert "ix_fingerprints_updated_at" not in {
            i["name"] for i in inspect(conn).get_indexes("fingerprints")
        }
    db.dispose()


def test_after_an_enrolment_run_the_new_persons_are_checked(world):
    """What enrol_pending calls when it has stored templates: every person with a print enrolled since the
    run started is searched; only the duplicate opens a case."""
    db, op, fingers = world
    a = list(fingers)[2]
    since = utcnow()
    rng = np.random.default_rng(12)
    twin = person(db, op, "Second Card")
    for f in range(3):
        enrol(db, twin, f + 1, S.impression(fingers[a][f], rng))
    other = person(db, op, "New Man")
    enrol(db, other, 1, S.master(rng))
    assert dedup.check_enrolled_since(db, op, since) == 1
    with db.transaction() as s:
        rows = list(s.execute(select(DuplicateCase.person_id, DuplicateCase.candidate_id)))
    assert [tuple(r) for r in rows] == [(twin, a)]


def test_the_gallery_measures_its_impostors_and_its_searches_take_the_higher_threshold(world, monkeypatch):
    """The gallery measures its own impostors when it syncs, again only once it has changed by a quarter; a
    search and the duplicate check then take the higher of the model's threshold and the measured one, and
    say which (audited with the search)."""
    import math

    from crms.access.models import AuditEntry
    from crms.fingerprint import decision_threshold, impostors

    db, op, fingers = world
    monkeypatch.setattr(impostors, "MIN_PAIRS", 100)  # six persons give 300 pairs of one position
    store = identification.store_for(db)
    with db.read_transaction() as s:
        store.sync(s)
    measured = store.gallery.impostors
    assert measured is not None and measured.pairs == 6 * 10 * 5
    with db.read_transaction() as s:
        store.sync(s)
    assert store.gallery.impostors is measured  # nothing changed: not measured again
    high = impostors.ImpostorProfile(np.random.default_rng(0).exponential(10 / math.log(10), 300) + 5)
    store.gallery.impostors = high
    a = list(fingers)[0]
    out = search(db, op, [probe(fingers[a][0], 1)])
    assert (out["threshold"], out["threshold_basis"]) == decision_threshold(out["fpir"], 6, 1, high)
    assert out["threshold_basis"] == "gallery" and out["candidates"][0]["person_id"] == a
    with db.transaction() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "search.biometric")).all()[-1]
        assert json.loads(entry.query)["threshold_basis"] == "gallery"
    with db.read_transaction() as s:
        hits = dedup._search_person(s, db, a)
    assert (hits.threshold, hits.basis) == decision_threshold(dedup.DEDUP_FPIR, 5, 10, high)
    rng = np.random.default_rng(13)
    for _ in range(2):  # 20 fingers more: a third more, measured again
        pid = person(db, op, "Later Man")
        for f in range(10):
            enrol(db, pid, f + 1, S.master(rng))
    with db.read_transaction() as s:
        store.sync(s)
    assert store.gallery.impostors is not high and store.gallery.impostors.pairs == 8 * 10 * 7


def test_the_dedup_search_after_a_run_holds_no_write_lock(world, monkeypatch):
    """The gallery's catch-up and the search run in a read transaction: while they run, another connection
    writes with a short busy timeout (on SQLite it would wait for the write lock, and fail, if the search held
    it). Only the case found is written afterwards."""
    import sqlalchemy as sa

    db, op, fingers = world
    a = list(fingers)[0]
    since = utcnow()
    twin = person(db, op, "Second Card")
    rng = np.random.default_rng(13)
    for f in range(3):
        enrol(db, twin, f + 1, S.impression(fingers[a][f], rng))
    real_search = dedup._search_person
    wrote: list[int] = []

    def search_then_write(session, database, person_id):
        hits = real_search(session, database, person_id)
        other = sa.create_engine(
            database.url, connect_args={"timeout": 0.2} if database.is_sqlite else {"connect_timeout": 3}
        )
        try:
            with other.begin() as conn:
                conn.execute(sa.text("UPDATE persons SET notes = notes WHERE id = :p"), {"p": person_id})
            wrote.append(person_id)
        finally:
            other.dispose()
        return hits

    monkeypatch.setattr(dedup, "_search_person", search_then_write)
    assert dedup.check_enrolled_since(db, op, since) == 1
    assert wrote == [twin]


@pytest.mark.parametrize("backend", ["local", "process"])
def test_a_sharded_gallery_restarts_from_its_snapshot(world, tmp_path, monkeypatch, backend):
    """Sharded galleries (worker processes, Ray actors) keep a snapshot too: each shard's part in one sealed
    file, loaded back by a gallery of as many shards and checked like the single gallery's. Before, shards
    were always built again from the table ("not used with shards")."""
    db, op, fingers = world
    pid = list(fingers)[2]
    first = search(db, op, [probe(fingers[pid][1], 2)])  # the single gallery's answer
    monkeypatch.setenv("CRMS_CLUSTER", backend)
    monkeypatch.setenv("CRMS_GALLERY_SHARDS", "2")
    snap = tmp_path / "snapshot"
    st, out = _restart(db, snap)
    assert out.get("rebuilt") == 1 and st.last_load["snapshot"] == "missing" and snap.exists()
    st.gallery.close()
    newcomer = person(db, op, "Late")
    enrol(db, newcomer, 3, S.master(np.random.default_rng(5)))
    st2, out = _restart(db, snap)  # stale: one enrolment behind
    try:
        assert out.get("from_snapshot") == 1 and st2.last_load["source"] == "snapshot"
        assert out["fingers"] == 61 and out["inserted"] >= 1
        assert _census(st2) == _fresh(db)
        assert [len(k) for k in st2.gallery._call("keys", ())] != [61, 0]  # split over both shards
    finally:
        st2.gallery.close()
    monkeypatch.setenv("CRMS_GALLERY_SHARDS", "3")  # split another way: not used, built again
    st3, out = _restart(db, snap)
    try:
        assert out.get("rebuilt") == 1 and st3.last_load["snapshot"] == "of 2 shards, not 3"
        assert _census(st3) == _fresh(db)
    finally:
        st3.gallery.close()
    monkeypatch.delenv("CRMS_CLUSTER")
    monkeypatch.delenv("CRMS_GALLERY_SHARDS")
    st4, out = _restart(db, snap)  # the single gallery does not take the shards' file either
    assert out.get("rebuilt") == 1 and st4.last_load["snapshot"] == "damaged (arrays)"
    forget_stores()
    assert search(db, op, [probe(fingers[pid][1], 2)])["candidates"][:3] == first["candidates"][:3]
