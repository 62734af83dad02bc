"""``crms demo`` on SQLite: persons with cases, statuses and flags built through the real services, one user
per role, encrypted mugshots and fingerprints, deterministic from the seed and idempotent (a second run adds
nothing)."""

from __future__ import annotations

import hashlib
import io
import json
import re

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from crms import fingerprint
from crms.access.audit import bind_data_dir
from crms.config import Settings
from crms.demo.builder import ROLES, build_demo, finger_png

ARABIC = re.compile(r"[\u0600-\u06FF]")


@pytest.fixture
def demo_env(sqlite_db, tmp_path):
    data = tmp_path / "data"
    bind_data_dir(sqlite_db, data)
    settings = Settings(
        data_dir=data, database_url=sqlite_db.url, data_key=None, secret_key="t", environment="test"
    )
    return sqlite_db, settings


def counts(db) -> dict:
    from crms.access.models import User
    from crms.records.models import Case, CaseParty, IdentityDocument, Person, PersonFlag, PhysicalDescription

    with db.transaction() as s:
        return {
            m.__name__: s.scalar(select(func.count()).select_from(m))
            for m in (Person, IdentityDocument, Case, CaseParty, PersonFlag, PhysicalDescription, User)
        }


def test_demo_builds_realistic_records_and_is_idempotent(demo_env):
    from crms.access.models import User
    from crms.records.cnic import parse_cnic
    from crms.records.models import BodyMark, Case, CaseParty, IdentityDocument, Person, PersonFlag

    db, settings = demo_env
    first = build_demo(db, settings, people=25, seed=3, fingerprints=False)
    assert first.created == 25 and first.skipped == 0 and first.cases >= 25
    after_first = counts(db)
    with db.transaction() as s:
        persons = s.scalars(select(Person)).all()
        for p in persons:
            assert p.given_name_en and not ARABIC.search(p.given_name_en)
            assert p.given_name_ur and ARABIC.search(p.given_name_ur)
            assert p.parentage_relation in ("s/o", "d/o", "w/o") and p.caste
            assert p.unit_path.startswith("BA/")
        docs = s.scalars(select(IdentityDocument).where(IdentityDocument.doc_type == "CNIC")).all()
        assert docs and all(parse_cnic(d.number).digits == d.number for d in docs)
        assert sum(d.number[0] == "5" for d in docs) >= 0.8 * len(docs)  # mostly Balochistan
        statuses = set(s.scalars(select(CaseParty.status)))
        assert {"absconder", "convicted"} & statuses and len(statuses) >= 4
        assert len(set(s.scalars(select(Case.status)))) >= 4
        kinds = {(f.kind, f.cleared_at is None) for f in s.scalars(select(PersonFlag))}
        assert ("wanted", True) in kinds and ("absconder", True) in kinds
        assert s.scalar(select(func.count()).select_from(BodyMark)) > 0
        roles = {u.role for u in s.scalars(select(User))}
    assert roles == {r for r, _ in ROLES}
    assert all(u["created"] for u in first.users)
    assert all(u.get("password") or u.get("pin") for u in first.users)

    again = build_demo(db, settings, people=25, seed=3, fingerprints=False)
    assert again.created == 0 and again.skipped == 25 and again.cases == 0 and again.mugshots == 0
    assert not any(u["created"] for u in again.users)
    assert "password" not in json.dumps(again.users)
    assert counts(db) == after_first


def fingerprint_rows(db) -> list:
    from crms.biometrics.models import Fingerprint

    with db.transaction() as s:
        return list(s.scalars(select(Fingerprint).order_by(Fingerprint.person_id, Fingerprint.position)))


def test_ten_fingerprints_per_person_and_mugshots_are_stored_encrypted(demo_env):
    from PIL import Image

    from crms.access.crypto import EncryptedStore
    from crms.biometrics.models import FINGER_POSITIONS

    db, settings = demo_env
    report = build_demo(db, settings, people=2, seed=5, jobs=1, templates=False)
    assert report.mugshots == 2 and report.fingerprints == 20
    assert report.fingerprint_counts["pending"] == 20 and report.fingerprint_counts["persons_ten_prints"] == 2
    rows = fingerprint_rows(db)
    by_person: dict[int, list[int]] = {}
    for r in rows:
        by_person.setdefault(r.person_id, []).append(r.position)
        assert r.status == "pending" and r.source == "synthetic" and r.active and r.captured_by is None
        assert (r.image_format, r.image_ppi, r.image_width, r.image_height) == ("png", 500, 288, 384)
    assert list(by_person.values()) == [list(FINGER_POSITIONS)] * 2
    stored = [p for p in (settings.data_dir / "biometrics").rglob("*") if p.is_file()]
    assert len(stored) == 22 and all(b"\x89PNG" not in p.read_bytes()[:64] for p in stored)  # encrypted
    store = EncryptedStore.from_settings(settings)
    png = store.get(rows[0].image_ref)
    img = Image.open(io.BytesIO(png))
    assert img.mode == "L" and round(img.info["dpi"][0]) == 500
    # deterministic: the stored finger is exactly the right thumb of person 0 of seed 5
    assert png == finger_png(5, 0, 1) and rows[0].image_sha256 == hashlib.sha256(png).hexdigest()
    from crms.faces.models import PersonPhoto

    with db.transaction() as s:
        photos = list(s.scalars(select(PersonPhoto).order_by(PersonPhoto.id)))
    assert [(p.kind, p.active, p.image_format) for p in photos] == [("front", True, "png")] * 2
    assert {p.person_id for p in photos} == set(by_person)
    mug = Image.open(io.BytesIO(store.get(photos[0].image_ref)))
    assert mug.size == (300, 400) and (photos[0].image_width, photos[0].image_height) == (300, 400)
    # a second run adds nothing
    again = build_demo(db, settings, people=2, seed=5, jobs=1, templates=False)
    assert again.fingerprints == 0 and again.mugshots == 0 and again.created == 0
    assert [r.id for r in fingerprint_rows(db)] == [r.id for r in rows]


def test_fingerprint_stage_resumes_after_an_interruption(demo_env):
    db, settings = demo_env
    records = build_demo(db, settings, people=2, seed=6, stage="records")
    assert records.created == 2 and records.fingerprints == 0 and not fingerprint_rows(db)

    def stop_after_three(stage: str, done: int, total: int) -> None:
        if stage == "fingerprints" and done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_demo(db, settings, people=2, seed=6, stage="fingerprints", jobs=1, progress=stop_after_three)
    assert len(fingerprint_rows(db)) == 3
    rest = build_demo(db, settings, people=2, seed=6, stage="fingerprints", jobs=1, templates=False)
    assert rest.fingerprints == 17 and rest.created == 0 and rest.users == []
    rows = fingerprint_rows(db)
    assert len(rows) == 20 and len({(r.person_id, r.position) for r in rows}) == 20
    # the same images as an uninterrupted run would have made
    assert rows[3].image_sha256 == hashlib.sha256(finger_png(6, 0, 4)).hexdigest()


def test_fingerprint_stage_enrols_templates_when_the_engine_is_present(demo_env):
    from crms.fingerprint import extract

    try:
        extract._pyfing()
    except ImportError as exc:
        pytest.skip(f"pyfing is not installed: {exc}")
    db, settings = demo_env
    build_demo(db, settings, people=1, seed=7, stage="records", mugshots=False)
    report = build_demo(db, settings, people=1, seed=7, stage="fingerprints", jobs=1)
    assert report.fingerprints == 10 and report.templates == 10
    assert report.fingerprint_counts["enrolled"] == 10 and report.fingerprint_counts["pending"] == 0
    assert all(r.status == "enrolled" and r.minutiae >= 10 for r in fingerprint_rows(db))


def test_cli_demo_prints_passwords_once(sqlite_db, tmp_path, monkeypatch):
    from crms.cli.main import app

    monkeypatch.setenv("CRMS_DATABASE_URL", sqlite_db.url)
    monkeypatch.setenv("CRMS_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    r = runner.invoke(app, ["demo", "--people", "3", "--no-fingerprints", "--no-mugshots"])
    assert r.exit_code == 0, r.output
    assert "3 persons created" in r.output and r.output.count("password Demo-") == 7
    assert "fingerprints:" not in r.output
    assert "PIN" in r.output and "TOTP secret" in r.output
    r = runner.invoke(app, ["demo", "--people", "3", "--no-fingerprints", "--no-mugshots", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["created"] == 0 and out["skipped"] == 3 and "Demo-" not in r.output


def test_demo_refuses_a_database_with_real_accounts(demo_env):
    """The demo loader needs no login, so it must never mix synthetic offenders into a live register."""
    from crms.access.users import create_user
    from crms.errors import PermissionDenied

    db, settings = demo_env
    with db.transaction() as s:
        create_user(s, "sp_quetta", "supervisor", unit="BA", password="a-real-password-123")
    before = counts(db)
    with pytest.raises(PermissionDenied, match="sp_quetta"):
        build_demo(db, settings, people=2, fingerprints=False, mugshots=False)
    assert counts(db) == before


def test_cli_demo_refusal_exits_nonzero(sqlite_db, tmp_path, monkeypatch):
    from crms.access.users import create_user
    from crms.cli.main import app

    with sqlite_db.transaction() as s:
        create_user(s, "sp_quetta", "supervisor", unit="BA", password="a-real-password-123")
    monkeypatch.setenv("CRMS_DATABASE_URL", sqlite_db.url)
    monkeypatch.setenv("CRMS_DATA_DIR", str(tmp_path / "data"))
    r = CliRunner().invoke(app, ["demo", "--people", "2", "--no-fingerprints", "--no-mugshots"])
    assert r.exit_code != 0
    assert "real user accounts" in r.output


NEW_PASSWORD = "a new and private passphrase 31"


def test_cli_fp_enrolment_and_enrol_pending(sqlite_db, tmp_path, monkeypatch):
    from crms.cli.main import app

    monkeypatch.setenv("CRMS_DATABASE_URL", sqlite_db.url)
    monkeypatch.setenv("CRMS_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    r = runner.invoke(
        app, ["demo", "--people", "1", "--no-mugshots", "--no-templates", "--jobs", "1", "--json"]
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["fingerprints"] == 10 and out["fingerprint_counts"]["pending"] == 10
    r = runner.invoke(app, ["fp", "enrolment"])
    assert r.exit_code != 0 and "log in first" in r.output
    users = {u["username"]: u for u in out["users"]}
    for name in ("demo_investigator", "demo_operator"):  # demo passwords work once: set a new one first
        env = {"CRMS_USER": name, "CRMS_PASSWORD": users[name]["password"], "CRMS_NEW_PASSWORD": NEW_PASSWORD}
        r = runner.invoke(app, ["fp", "enrolment"], env=env)
        assert r.exit_code == 3 and "password change required" in r.output
        assert runner.invoke(app, ["passwd"], env=env).exit_code == 0
        users[name]["password"] = NEW_PASSWORD
    monkeypatch.setenv("CRMS_USER", "demo_investigator")
    monkeypatch.setenv("CRMS_PASSWORD", users["demo_investigator"]["password"])
    for cmd in (["fp", "enrolment"], ["fp", "enrol-pending", "--jobs", "1"]):
        r = runner.invoke(app, cmd)
        assert r.exit_code != 0 and "may not biometric:enrol" in r.output
    monkeypatch.setenv("CRMS_USER", "demo_operator")
    monkeypatch.setenv("CRMS_PASSWORD", users["demo_operator"]["password"])
    r = runner.invoke(app, ["fp", "enrolment", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == {"pending": 10, "enrolled": 0, "failed": 0, "prints": 10, "persons": 1,
                                    "persons_ten_prints": 1}  # fmt: skip
    r = runner.invoke(app, ["fp", "enrolment"])
    assert "10 fingerprints of 1 persons (1 with all ten): 0 enrolled, 10 pending, 0 failed" in r.output
    r = runner.invoke(app, ["fp", "enrol-pending", "--limit", "1", "--jobs", "1", "--json"])
    report = json.loads(r.output)
    if fingerprint.engine_missing() is None:  # the 'fingerprint' extra is installed: one print enrolled
        assert r.exit_code == 0, r.output
        assert (report["enrolled"], report["failed"], report["remaining"]) == (1, 0, 9)
    else:  # without the engine nothing is enrolled, and the command says so with exit status 1
        assert r.exit_code == 1, r.output
        assert (report["enrolled"], report["failed"], report["remaining"]) == (0, 0, 10)


def test_cli_demo_keeps_logins_in_a_private_file_with_otpauth_qr_codes(sqlite_db, tmp_path, monkeypatch):
    import os
    import stat

    from crms.cli.main import app

    data = tmp_path / "data"
    monkeypatch.setenv("CRMS_DATABASE_URL", sqlite_db.url)
    monkeypatch.setenv("CRMS_DATA_DIR", str(data))
    r = CliRunner().invoke(app, ["demo", "--people", "1", "--no-fingerprints", "--no-mugshots"])
    assert r.exit_code == 0, r.output
    path = data / "demo" / "logins.txt"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = path.read_text()
    assert text.count("password Demo-") == 7 and "PIN" in text
    assert "otpauth://totp/" in text and "secret=" in text and "█" in text  # URI and QR code
    assert 'eval "$(crms login)"' in text and 'eval "$(crms login)"' in r.output
    assert "otpauth://totp/" in r.output and "█" in r.output
    assert r.output.strip().splitlines()[-1].endswith(f"{path} (readable by you only)")  # the path comes last
    # A later run creates nobody: the file is kept and its path still printed last.
    r = CliRunner().invoke(app, ["demo", "--people", "1", "--no-fingerprints", "--no-mugshots"])
    assert r.exit_code == 0 and "Demo-" not in r.output and path.read_text() == text
    assert r.output.strip().splitlines()[-1].endswith(f"{path} (readable by you only)")


def _engine_or_skip() -> None:
    from crms.biometrics.enrolment import engine_missing

    missing = engine_missing()
    if missing:
        pytest.skip(missing)


def test_fingerprint_stage_enrols_person_by_person_and_stops_when_asked(demo_env):
    """The first person is fully enrolled before the second person's fingers are even captured."""
    _engine_or_skip()
    from crms.biometrics.models import Fingerprint

    db, settings = demo_env
    build_demo(db, settings, people=2, seed=8, stage="records", mugshots=False)
    seen: dict[str, object] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "persons enrolled" and done == 1:
            with db.transaction() as s:
                seen["rows"] = [(r.person_id, r.status) for r in s.scalars(select(Fingerprint))]

    report = build_demo(db, settings, people=2, seed=8, stage="fingerprints", jobs=1, progress=progress,
                        stop=lambda: "rows" in seen)  # fmt: skip
    rows = seen["rows"]
    assert (
        len(rows) == 10 and {status for _p, status in rows} == {"enrolled"} and len({p for p, _ in rows}) == 1
    )
    assert report.stopped and (report.persons_enrolled, report.persons_total) == (1, 2)
    assert len(fingerprint_rows(db)) == 10  # nothing of the second person yet
    rest = build_demo(db, settings, people=2, seed=8, stage="fingerprints", jobs=1)
    assert not rest.stopped and rest.persons_enrolled == 2 and rest.fingerprint_counts["enrolled"] == 20


def test_background_fingerprint_job_stops_cleanly_on_sigterm(demo_env):
    """The job that scripts/run-demo.sh starts: SIGTERM ends it with 'stopped at N of M', exit 0, no
    traceback and no leaked-semaphore warning; a second run resumes."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    db, settings = demo_env
    build_demo(db, settings, people=3, seed=9, stage="records", mugshots=False)
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, CRMS_DATABASE_URL=db.url, CRMS_DATA_DIR=str(settings.data_dir),
               PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))  # fmt: skip
    cmd = [sys.executable, "-m", "crms.cli.main", "demo", "--stage", "fingerprints", "--people", "3",
           "--seed", "9", "--jobs", "2"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        first = proc.stderr.readline()  # the log's first progress line: work has begun
        assert "fingerprints 1/30" in first, first
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=300)  # what is in flight finishes (slow on a busy machine)
    finally:
        if proc.poll() is None:
            proc.kill()
    log = first + err + out
    assert proc.returncode == 0, log
    assert re.search(r"demo fingerprints: stopped at \d of 3 persons", out), log
    assert "Traceback" not in log and "BrokenPipeError" not in log and "leaked semaphore" not in log
    again = subprocess.run(cmd + ["--no-templates"], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "demo fingerprints: done, 3 persons" in again.stdout, again.stderr


def _group_alive(pgid: int) -> list[int]:
    """Processes (not zombies) still in process group ``pgid``."""
    from pathlib import Path

    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


def _spawned_workers(parent: int) -> list[int]:
    """``parent``'s multiprocessing workers (spawned interpreters), oldest first."""
    from pathlib import Path

    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            cmd = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == parent and b"spawn_main" in cmd:
            found.append((int(fields[19]), int(proc.name)))  # start time, pid
    return [pid for _start, pid in sorted(found)]


def _cpu_ticks(pid: int) -> int:
    from pathlib import Path

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_server_and_fingerprint_job_stop_when_all_get_sigterm_at_once(demo_env, tmp_path):
    """`pkill -f crms` on a running demo: the server, its enrol worker, the background fingerprint job and
    the job's image and extraction workers all get SIGTERM at the same moment, while the job's image
    workers are idle (the next person's images drawn, the job busy enrolling). Every process exits within
    a bound (none waits forever for a lock a killed worker held), and the job says how far it got."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    db, settings = demo_env
    people = 20
    # enough persons that the job is still at work when its image workers first sit idle (a quiet machine
    # drew and enrolled all of 4 before the test saw them idle)
    build_demo(db, settings, people=people, seed=9, stage="records", mugshots=False)
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, CRMS_DATABASE_URL=db.url, CRMS_DATA_DIR=str(settings.data_dir),
               PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))  # fmt: skip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server_log, job_out, job_err = (open(tmp_path / name, "w+") for name in ("server.log", "out", "err"))
    server = subprocess.Popen([sys.executable, "-m", "crms.cli.main", "serve", "--port", str(port)],
                              env=env, stdout=server_log, stderr=subprocess.STDOUT,
                              start_new_session=True)  # fmt: skip
    job = subprocess.Popen([sys.executable, "-m", "crms.cli.main", "demo", "--stage", "fingerprints",
                            "--people", str(people), "--seed", "9", "--jobs", "2"],
                           env=env, stdout=job_out, stderr=job_err, start_new_session=True)  # fmt: skip
    groups = (server.pid, job.pid)
    try:
        deadline = time.monotonic() + 300

        def running() -> None:
            assert job.poll() is None and server.poll() is None, Path(server_log.name).read_text()[-3000:]
            assert time.monotonic() < deadline, "the job made no progress"

        while "fingerprints 1/" not in Path(job_err.name).read_text():  # the first person's images drawn
            running()
            time.sleep(0.2)
        images = _spawned_workers(job.pid)[:2]  # the image workers (the extraction ones start later)
        assert len(images) == 2
        before = [-1, -1]
        idle_by = time.monotonic() + 5  # the job keeps them busy at times: stop it at work, at the latest
        while time.monotonic() < idle_by:  # until both image workers have been idle for a second
            running()
            try:
                now = [_cpu_ticks(p) for p in images]
            except FileNotFoundError:  # a worker the pool replaced: watch the ones it has now
                images = _spawned_workers(job.pid)[:2]
                before = [-1, -1]
                continue
            if now == before:
                break
            before = now
            time.sleep(1.0)
        with socket.create_connection(("127.0.0.1", port), timeout=5):  # the server is up
            pass
        for pgid in groups:  # all at once, as pkill does
            os.killpg(pgid, signal.SIGTERM)
        stopped = time.monotonic()
        while any(_group_alive(g) for g in groups) and time.monotonic() - stopped < 60:
            time.sleep(0.2)
        left = {g: _group_alive(g) for g in groups}
    finally:
        for pgid in groups:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        job.wait(10)
        server.wait(10)
    out = Path(job_out.name).read_text()
    log = Path(job_err.name).read_text() + out
    assert left == {server.pid: [], job.pid: []}, f"still running 60 s after SIGTERM: {left}\n{log[-3000:]}"
    assert re.search(rf"demo fingerprints: stopped at \d+ of {people} persons", out), log[-3000:]
    assert job.returncode == 0, log[-3000:]
    assert "Traceback" not in log, log[-3000:]


def test_planted_duplicates_names_the_recorded_persons_of_each_planted_pair(demo_env):
    from crms.demo.builder import DEMO_DUPLICATE_OF, planted_duplicates
    from crms.records.models import Person

    db, settings = demo_env
    dup, src = min(DEMO_DUPLICATE_OF.items())
    build_demo(db, settings, people=dup, seed=4, fingerprints=False, mugshots=False)
    assert planted_duplicates(db, people=dup + 1, seed=4) == []  # the duplicate is not recorded yet
    build_demo(db, settings, people=dup + 1, seed=4, fingerprints=False, mugshots=False)
    pairs = planted_duplicates(db, people=dup + 1, seed=4)
    assert len(pairs) == 1 and pairs[0][0] != pairs[0][1]
    with db.transaction() as s:
        order = list(s.scalars(select(Person.id).order_by(Person.id)))  # written in plan order
    assert pairs == [(order[dup], order[src])]
    assert planted_duplicates(db, people=dup, seed=4) == []  # people below the duplicate: none planted
