"""The CLI's login and session: a CLI command runs under the logged-in user (fingerprint enrolment is audited
as enrolled by that user, not by "system"), a password login opens a short-lived session kept in a 0600 file
under the data directory so that later commands do not check the password again, ``crms logout`` revokes
it, and ordinary use never trips the login rate limit. Both backends."""

from __future__ import annotations

import json
import stat

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


def test_thirty_commands_in_a_row_never_trip_the_login_limit(db, cli, tmp_path, make_account, monkeypatch):
    """Finding 20.3: with CRMS_USER/CRMS_PASSWORD set, ordinary use (30 commands) is one password check and
    one session, never "too many login attempts" (even with a tight limit)."""
    monkeypatch.setenv("CRMS_RATE_LOGIN", "3/600")
    monkeypatch.setenv("CRMS_RATE_LOGIN_ADDRESS", "3/600")
    op = make_account("cro_operator", username="busy_clerk")
    env = {"CRMS_USER": op.username, "CRMS_PASSWORD": PASSWORD}
    for i in range(30):
        r = cli("fp", "enrolment", "--json", env=env)
        assert r.exit_code == 0, (i, r.output)
        assert "too many" not in r.output
    assert len(entries(db, action="auth.login", outcome="ok")) == 1
    assert len(entries(db, action="auth.token.issue")) == 1
    path = tmp_path / "data" / "cli-sessions"
    files = list(path.iterdir())
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600 and stat.S_IMODE(path.stat().st_mode) == 0o700
    assert PASSWORD not in files[0].read_text()


def test_a_session_is_not_reused_for_another_user(db, cli, make_account):
    a = make_account("cro_operator", username="first_clerk")
    b = make_account("cro_operator", username="second_clerk")
    assert cli("fp", "enrolment", env={"CRMS_USER": a.username, "CRMS_PASSWORD": PASSWORD}).exit_code == 0
    r = cli("fp", "enrolment", env={"CRMS_USER": b.username, "CRMS_PASSWORD": "not the password"})
    assert r.exit_code == 3 and "invalid username or password" in r.output
    assert cli("fp", "enrolment", env={"CRMS_USER": b.username, "CRMS_PASSWORD": PASSWORD}).exit_code == 0
    assert [e.username for e in entries(db, action="auth.login", outcome="ok")] == [a.username, b.username]


def test_logout_revokes_the_cli_session(db, cli, tmp_path, make_account):
    from crms.access.models import ApiToken

    op = make_account("cro_operator", username="leaving_clerk")
    env = {"CRMS_USER": op.username, "CRMS_PASSWORD": PASSWORD}
    assert cli("fp", "enrolment", env=env).exit_code == 0
    session_file = next((tmp_path / "data" / "cli-sessions").iterdir())
    token = json.loads(session_file.read_text())["token"]
    r = cli("logout")
    assert r.exit_code == 0 and "logged out" in r.output
    assert not session_file.exists()
    with db.transaction() as s:
        revoked = s.scalars(select(ApiToken.revoked_at).where(ApiToken.user_id == op.id)).all()
    assert revoked and all(revoked)
    assert entries(db, action="auth.logout")[-1].username == op.username
    # Without the password the next command is refused; the old token is dead.
    r = cli("fp", "enrolment", env={"CRMS_USER": op.username})
    assert r.exit_code == 3 and "log in first" in r.output
    r = cli("fp", "enrolment", env={"CRMS_TOKEN": token})
    assert r.exit_code == 3 and "revoked" in r.output


def test_cli_activate_refused_at_the_administrators_console_and_passwd(db, cli, make_account):
    """``crms user add`` by an administrator prints an enrolment code; ``crms activate`` from the same
    console (the administrator's address) is refused; the user, elsewhere, sets the password; ``crms passwd``
    changes it."""
    from crms.access import users

    from .conftest import totp_now

    admin = make_account("administrator", username="console_admin")
    admin_env = {"CRMS_USER": admin.username, "CRMS_PASSWORD": PASSWORD, "CRMS_TOTP": totp_now(admin)}
    r = cli("user", "add", "new_clerk", "--role", "cro_operator", env=admin_env)
    assert r.exit_code == 0, r.output
    code = r.output.split("): ")[1].split()[0]
    new = "my own quiet passphrase 5"
    r = cli("activate", "new_clerk", env={"CRMS_ENROLMENT_CODE": code, "CRMS_NEW_PASSWORD": new})
    assert r.exit_code == 3 and "administrator who set it up" in r.output
    users.activate(db, "new_clerk", code, new, address="cli:clerk@desk-7")
    newer = "another quiet passphrase 6"
    r = cli("passwd", env={"CRMS_USER": "new_clerk", "CRMS_PASSWORD": new, "CRMS_NEW_PASSWORD": newer})
    assert r.exit_code == 0, r.output
    assert users.login(db, "new_clerk", newer).username == "new_clerk"
