"""``crms fp search``, ``crms fp identify``, ``crms fp duplicates`` and ``crms bench identify``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from crms.biometrics.identification import forget_stores
from crms.cli.main import app
from crms.fingerprint import synthetic_templates as S
from crms.fingerprint.serialise import save_template
from crms.fingerprint.template import Template
from tests.identification.test_identification_db import enrol, person, principal

runner = CliRunner()


@pytest.fixture(autouse=True)
def _fresh_stores():
    forget_stores()
    yield
    forget_stores()


def folders(tmp_path, n: int = 12):
    rng = np.random.default_rng(4)
    g, p = tmp_path / "gallery", tmp_path / "probes"
    g.mkdir()
    p.mkdir()
    masters = [S.master(rng) for _ in range(n)]
    for i, t in enumerate(masters):
        save_template(t, g / f"cand{i:02d}.tpl")
    for i in (3, 7):
        save_template(S.impression(masters[i], rng), p / f"probe{i:02d}.tpl")
    return g, p


def test_fp_search_prints_ranked_candidates(tmp_path):
    g, p = folders(tmp_path)
    r = runner.invoke(app, ["fp", "search", str(g), str(p), "--top", "3"])
    assert r.exit_code == 0, r.output
    lines = [line.split("\t") for line in r.stdout.strip().splitlines()]
    assert [(x[0], x[1]) for x in lines] == [(f"probe{i:02d}", str(k)) for i in (3, 7) for k in (1, 2, 3)]
    assert lines[0][2] == "cand03" and lines[3][2] == "cand07"
    assert float(lines[0][3]) > float(lines[1][3]) >= float(lines[2][3])
    bf = runner.invoke(app, ["fp", "search", str(g), str(p), "--top", "3", "--brute-force"])
    assert bf.stdout.splitlines()[0] == r.stdout.splitlines()[0]


def test_fp_search_names_a_probe_without_minutiae(tmp_path):
    g, p = folders(tmp_path)
    save_template(Template(300, 300, np.array([[5, 5, 0, 1, 50]], dtype=np.float32)), p / "blank.tpl")
    r = runner.invoke(app, ["fp", "search", str(g), str(p)])
    assert r.exit_code == 0
    assert "blank.tpl" in r.stderr and "minutiae" in r.stderr
    r = runner.invoke(app, ["fp", "search", str(tmp_path / "nope"), str(p)])
    assert r.exit_code == 2 and "nope" in r.stderr


def test_bench_identify_prints_the_json_object():
    r = runner.invoke(app, ["bench", "identify", "--fingers", "300", "--repeats", "1"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["fingers"] == 300 and out["bytes_per_finger"] < 2048
    assert {"search_1_finger_s", "search_10_fingers_s", "penetration", "stages"} <= set(out)
    assert [s["name"] for s in out["stages"]] == ["descriptor scan", "full match (cylinders + MCC matcher)"]
    assert out["rank1_1_finger"] == 1.0 and out["rank1_10_fingers"] == 1.0


def test_fp_identify_and_duplicates_with_a_login(db, tmp_path, monkeypatch):
    from crms.access.models import User
    from crms.access.tokens import issue_token
    from crms.biometrics import dedup

    monkeypatch.setenv("CRMS_DATABASE_URL", db.url)
    monkeypatch.setenv("CRMS_DATA_DIR", str(tmp_path / "data"))
    rng = np.random.default_rng(5)
    op = principal(db, "cro_operator")
    people = {}
    for _ in range(3):
        pid = person(db, op)
        people[pid] = [S.master(rng) for _ in range(2)]
        enrol(db, pid, 1, people[pid][0])
        enrol(db, pid, 2, people[pid][1])
    pid = list(people)[1]
    save_template(S.impression(people[pid][1], rng), tmp_path / "left.tpl")
    with db.transaction() as s:
        token = issue_token(s, s.get(User, op.user_id))
    env = {"CRMS_TOKEN": token}
    r = runner.invoke(
        app, ["fp", "identify", str(tmp_path / "left.tpl"), "--finger", "2", "--reason", "x"], env=env
    )
    assert r.exit_code == 0, r.output
    first = r.stdout.splitlines()[0].split("\t")
    assert first[0] == "1" and first[1] == str(pid) and first[3] == "hit"
    r = runner.invoke(
        app, ["fp", "identify", str(tmp_path / "left.tpl"), "--finger", "12", "--reason", "x"], env=env
    )
    assert r.exit_code != 0 and "left.tpl" in r.stderr
    twin = person(db, op, "Twin")
    enrol(db, twin, 1, S.impression(people[pid][0], rng))
    with db.transaction() as s:
        dedup.check_person(s, op, db, twin)
    examiner = principal(db, "fingerprint_examiner")
    with db.transaction() as s:
        env = {"CRMS_TOKEN": issue_token(s, s.get(User, examiner.user_id))}
    r = runner.invoke(app, ["fp", "duplicates"], env=env)
    assert r.exit_code == 0, r.output
    case, new, old = r.stdout.split("\t")[:3]
    assert (int(new), int(old)) == (twin, pid)
    r = runner.invoke(app, ["fp", "duplicate", case, "reject", "--reason", "not the same"], env=env)
    assert r.exit_code == 0 and json.loads(r.stdout)["status"] == "rejected"


def test_fp_identify_gives_a_search_id_and_an_examiner_decides_with_fp_decide(db, tmp_path, monkeypatch):
    from crms.access.models import AuditEntry, User
    from crms.access.tokens import issue_token

    monkeypatch.setenv("CRMS_DATABASE_URL", db.url)
    monkeypatch.setenv("CRMS_DATA_DIR", str(tmp_path / "data"))
    rng = np.random.default_rng(6)
    op = principal(db, "cro_operator")
    people = {}
    for _ in range(3):
        pid = person(db, op)
        people[pid] = S.master(rng)
        enrol(db, pid, 1, people[pid])
    pid = list(people)[2]
    save_template(S.impression(people[pid], rng), tmp_path / "thumb.tpl")
    with db.transaction() as s:
        env = {"CRMS_TOKEN": issue_token(s, s.get(User, op.user_id))}
    r = runner.invoke(
        app, ["fp", "identify", str(tmp_path / "thumb.tpl"), "--finger", "1", "--reason", "arrest"], env=env
    )
    assert r.exit_code == 0, r.output
    assert "# search " in r.stderr
    sid = int(r.stderr.split("# search ")[1].split(":")[0])
    r = runner.invoke(
        app,
        ["fp", "identify", str(tmp_path / "thumb.tpl"), "--finger", "1", "--reason", "arrest", "--json"],
        env=env,
    )
    sid2 = json.loads(r.stdout)["search_id"]
    assert sid2 > sid
    decide = ["fp", "decide", str(sid), str(pid), "confirmed", "--reason", "12 points agree"]
    r = runner.invoke(app, decide, env=env)
    assert r.exit_code == 3 and "biometric:confirm" in r.stderr  # the operator may search, not decide
    examiner = principal(db, "fingerprint_examiner")
    with db.transaction() as s:
        env = {"CRMS_TOKEN": issue_token(s, s.get(User, examiner.user_id))}
    r = runner.invoke(app, ["fp", "decide", str(sid), str(pid), "probably", "--reason", "x"], env=env)
    assert r.exit_code == 2 and "decision" in r.stderr
    r = runner.invoke(app, ["fp", "awaiting"], env=env)  # both searches wait, newest first
    assert r.exit_code == 0, r.output
    assert [int(line.split("\t")[0]) for line in r.stdout.splitlines()] == [sid2, sid], r.stdout
    assert all(f"\t{pid} (" in line for line in r.stdout.splitlines())
    r = runner.invoke(app, decide, env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) | {"id": 0} == {"id": 0, "search_id": sid, "person_id": pid,
                                                "decision": "confirmed"}  # fmt: skip
    r = runner.invoke(app, decide, env=env)
    assert r.exit_code == 2 and "already decided" in r.stderr
    unknown = ["fp", "decide", str(sid + 100000), str(pid), "rejected", "--reason", "x"]
    r = runner.invoke(app, unknown, env=env)
    assert r.exit_code == 1
    r = runner.invoke(app, ["fp", "decisions", str(sid)], env=env)
    assert r.exit_code == 0, r.output
    lines = [line.split("\t") for line in r.stdout.splitlines()]
    assert lines[0][:4] == ["1", str(pid), lines[0][2], "confirmed"] and lines[0][4].startswith("fingerpr")
    assert all(line[3] == "-" for line in lines[1:])
    with db.transaction() as s:
        kinds = [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert kinds.count("biometric.identify_decision") == 1 and "biometric.identify_search" in kinds


def test_fp_identify_refuses_what_the_api_refuses_and_names_a_file_once(db, tmp_path, monkeypatch):
    """Two images with one --finger: refused as the API refuses it (one position per print); the same finger
    twice: refused; an unreadable image: its name said once."""
    from crms.access.models import User
    from crms.access.tokens import issue_token

    monkeypatch.setenv("CRMS_DATABASE_URL", db.url)
    monkeypatch.setenv("CRMS_DATA_DIR", str(tmp_path / "data"))
    rng = np.random.default_rng(7)
    op = principal(db, "cro_operator")
    pid = person(db, op)
    masters = [S.master(rng) for _ in range(2)]
    for f, t in enumerate(masters):
        enrol(db, pid, f + 1, t)
        save_template(S.impression(t, rng), tmp_path / f"f{f + 1}.tpl")
    with db.transaction() as s:
        env = {"CRMS_TOKEN": issue_token(s, s.get(User, op.user_id))}
    a, b = str(tmp_path / "f1.tpl"), str(tmp_path / "f2.tpl")
    r = runner.invoke(app, ["fp", "identify", a, b, "--finger", "1", "--reason", "x"], env=env)
    assert r.exit_code == 2 and "1 positions for 2 prints" in r.stderr, r.output
    r = runner.invoke(
        app, ["fp", "identify", a, b, "--finger", "1", "--finger", "1", "--reason", "x"], env=env
    )
    assert r.exit_code == 2 and "position 1" in r.stderr and "f2.tpl" in r.stderr, r.output
    r = runner.invoke(
        app, ["fp", "identify", a, b, "--finger", "1", "--finger", "2", "--reason", "x"], env=env
    )
    assert r.exit_code == 0, r.output
    (tmp_path / "text.png").write_text("hello, not a fingerprint")
    r = runner.invoke(app, ["fp", "identify", str(tmp_path / "text.png"), "--reason", "x"], env=env)
    assert r.exit_code == 2 and r.stderr.count("text.png") == 1, r.stderr
    assert "not a supported image" in r.stderr
