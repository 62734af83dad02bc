"""``crms demo`` on SQLite: persons with cases, statuses and flags built through the real services, one user
per role, encrypted mugshots and fingerprints, deterministic from the seed and idempotent (a second run adds
nothing)."""

from __future__ import annotations

import io
import json
import re

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from crms.access.audit import bind_data_dir
from crms.config import Settings
from crms.demo.builder import FINGERS, ROLES, _finger_png, build_demo

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


def test_mugshots_and_fingerprints_are_stored_encrypted(demo_env):
    from PIL import Image

    from crms.access.crypto import EncryptedStore

    db, settings = demo_env
    report = build_demo(db, settings, people=2, seed=5, fingerprint_people=1, workers=1)
    assert report.mugshots == 2 and report.fingerprints == 10
    manifest = json.loads((settings.data_dir / "demo" / "biometrics.json").read_text())
    store = EncryptedStore.from_settings(settings)
    entries = list(manifest["persons"].values())
    assert len(entries) == 2
    with_fingers = [e for e in entries if e.get("fingers")]
    assert len(with_fingers) == 1 and sorted(with_fingers[0]["fingers"]) == sorted(FINGERS)
    raw = (settings.data_dir / "biometrics").rglob("*")
    stored = [p for p in raw if p.is_file()]
    assert len(stored) == 12 and all(
        b"\x89PNG" not in p.read_bytes()[:64] for p in stored
    )  # encrypted at rest
    png = store.get(with_fingers[0]["fingers"]["right_thumb"])
    img = Image.open(io.BytesIO(png))
    assert img.mode == "L" and round(img.info["dpi"][0]) == 500
    # deterministic: the stored finger is exactly finger 0 of person 0 of seed 5
    assert png == _finger_png((5, 0, 0))[2]
    mug = Image.open(io.BytesIO(store.get(entries[0]["mugshot"])))
    assert mug.size == (300, 400)
    # a second run reuses the stored images
    again = build_demo(db, settings, people=2, seed=5, fingerprint_people=1, workers=1)
    assert again.fingerprints == 0 and again.mugshots == 0


def test_cli_demo_prints_passwords_once(sqlite_db, tmp_path, monkeypatch):
    from crms.cli.main import app

    monkeypatch.setenv("CRMS_DATABASE_URL", sqlite_db.url)
    monkeypatch.setenv("CRMS_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    r = runner.invoke(app, ["demo", "--people", "3", "--no-fingerprints", "--no-mugshots"])
    assert r.exit_code == 0, r.output
    assert "3 persons created" in r.output and r.output.count("password Demo-") == 7
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
