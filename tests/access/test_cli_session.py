"""The CLI's login and session: a CLI command runs under the logged-in user (fingerprint enrolment is audited
as enrolled by that user, not by "system"), a password login opens a short-lived session kept in a 0600 file
under the data directory so that later commands do not check the password again, ``crms logout`` revokes
it, and ordinary use never trips the login rate limit. Both backends."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from crms.cli.main import app as cli_app

from .conftest import PASSWORD, entries

runner = CliRunner()


@pytest.fixture
def cli(db, tmp_path, monkeypatch):
    monkeypatch.setenv("CRMS_DATABASE_URL", db.url)
    monkeypatch.setenv("CRMS_DATA_DIR", str(tmp_path / "data"))
    for var in ("CRMS_USER", "CRMS_PASSWORD", "CRMS_TOTP", "CRMS_TOKEN", "CRMS_CLI_SESSION_HOURS"):
        monkeypatch.delenv(var, raising=False)

    def run(*args, env=None):
        return runner.invoke(cli_app, list(args), env=env or {})

    return run


def _person_with_a_print(db, data_dir) -> int:
    from crms.access.audit import bind_data_dir
    from crms.access.crypto import EncryptedStore
    from crms.access.users import create_user, principal_for
    from crms.biometrics import enrolment
    from crms.demo.builder import finger_png
    from crms.records.services import register_person

    bind_data_dir(db, data_dir)
    with db.transaction() as s:
        clerk = principal_for(create_user(s, "clerk", "cro_operator", password=PASSWORD), channel="api")
    person = {"given_name_en": "Abdul Rauf", "parentage_relation": "s/o", "parentage_name_en": "Gul Muhammad",
              "gender": "M", "birth_year": 1988, "unit": "BA/QTA/QUETTA"}  # fmt: skip
    with db.transaction() as s:
        pid = register_person(s, clerk, person).person.id
    with db.transaction() as s:
        enrolment.capture(s, clerk, EncryptedStore(data_dir), pid, 1, finger_png(77, 1, 1))
    return pid


def test_cli_enrolment_is_audited_under_the_logged_in_user(db, cli, tmp_path, make_account):
    from crms.fingerprint import extract

    try:
        extract._pyfing()
    except ImportError as exc:
        pytest.skip(f"the fingerprint engine is not installed: {exc}")
    pid = _person_with_a_print(db, tmp_path / "data")
    op = make_account("cro_operator", username="enroller")
    r = cli(
        "fp",
        "enrol-pending",
        "--jobs",
        "1",
        "--json",
        env={"CRMS_USER": op.username, "CRMS_PASSWORD": PASSWORD},
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.output.strip().splitlines()[-1])["enrolled"] == 1
    done = entries(db, action="biometric.enrol")
    assert [(e.username, e.user_id, e.channel, e.target_id) for e in done] == [
        ("enroller", op.id, "cli", str(pid))
    ]
    from crms.biometrics.models import Fingerprint

    with db.transaction() as s:
        assert s.scalar(select(Fingerprint.updated_by)) == op.id


def test_enrol_pending_requires_a_principal(db, tmp_path):
    from crms.access.crypto import EncryptedStore
    from crms.biometrics import enrolment

    with pytest.raises(TypeError):
        enrolment.enrol_pending(db, EncryptedStore(tmp_path / "data"), jobs=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        enrolment.retry_failed(db)  # type: ignore[call-arg]
