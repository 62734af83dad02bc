"""``crms user ...``, ``crms audit ...`` and ``crms login`` against a real database (both backends):
bootstrap of the first administrator, login from the environment, refusals audited, tamper detection."""

from __future__ import annotations

import json

import pyotp
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from crms.cli.main import app as cli_app

from .conftest import PASSWORD, entries, last_entry

runner = CliRunner()


@pytest.fixture
def cli(db, tmp_path, monkeypatch):
    monkeypatch.setenv("CRMS_DATABASE_URL", db.url)
    monkeypatch.setenv("CRMS_DATA_DIR", str(tmp_path / "data"))
    for var in ("CRMS_USER", "CRMS_PASSWORD", "CRMS_TOTP", "CRMS_TOKEN"):
        monkeypatch.delenv(var, raising=False)

    def run(*args, env=None):
        return runner.invoke(cli_app, list(args), env=env or {})

    return run


def _token_env(db, user):
    from crms.access.models import User
    from crms.access.tokens import issue_token

    with db.transaction() as s:
        return {"CRMS_TOKEN": issue_token(s, s.get(User, user.id))}


def test_bootstrap_first_admin_then_login_required(db, cli):
    r = cli("user", "add", "root", "--role", "sho", "--password", PASSWORD)
    assert r.exit_code == 3 and "first user must be an administrator" in r.output
    r = cli("user", "add", "root", "--role", "administrator", "--password", PASSWORD)
    assert r.exit_code == 0, r.output
    secret = r.output.split("TOTP secret (shown once): ")[1].split()[0]
    assert entries(db, action="user.bootstrap")[0].channel == "cli"
    # Now that a user exists, adding another needs a login.
    r = cli("user", "add", "op1", "--role", "cro_operator")
    assert r.exit_code == 3 and "log in first" in r.output
    env = {"CRMS_USER": "root", "CRMS_PASSWORD": PASSWORD}
    r = cli("user", "add", "op1", "--role", "cro_operator", env=env)
    assert r.exit_code == 3 and "TOTP" in r.output  # mandatory for administrators
    env["CRMS_TOTP"] = pyotp.TOTP(secret).now()
    r = cli("login", env=env)
    assert r.exit_code == 0, r.output
    token_env = {"CRMS_TOKEN": r.output.strip().split("=", 1)[1]}
    r = cli(
        "user",
        "add",
        "op1",
        "--role",
        "cro_operator",
        "--unit",
        "BA/QTA",
        env=token_env,
    )
    assert r.exit_code == 0, r.output
    assert "enrolment code (shown once" in r.output and "crms activate op1" in r.output
    r = cli("user", "list", "--json", env=token_env)
    assert {u["username"] for u in json.loads(r.output)} == {"root", "op1"}


def test_operator_refused_admin_commands_and_audited(db, cli, make_account):
    op = make_account("cro_operator")
    env = {"CRMS_USER": op.username, "CRMS_PASSWORD": PASSWORD}
    for args in (
        ("user", "list"),
        ("user", "disable", op.username),
        ("user", "role", op.username, "administrator"),
        ("user", "reset-mfa", op.username),
        ("audit", "show"),
    ):
        r = cli(*args, env=env)
        assert r.exit_code == 3, (args, r.output)
        e = last_entry(db)
        assert (e.action, e.outcome, e.username, e.channel) == (
            "access.refused",
            "refused",
            op.username,
            "cli",
        )
    with db.transaction() as s:
        from crms.access.models import User

        assert s.get(User, op.id).role == "cro_operator"


def test_wrong_password_and_bad_token_refused(db, cli, make_account):
    op = make_account("cro_operator")
    r = cli("audit", "show", env={"CRMS_USER": op.username, "CRMS_PASSWORD": "nope nope nope"})
    assert r.exit_code == 3 and "invalid username or password" in r.output
    r = cli("audit", "show", env={"CRMS_TOKEN": "crms_forged"})
    assert r.exit_code == 3
    assert last_entry(db).action == "auth.refused"


def test_admin_commands(db, cli, make_account):
    admin = make_account("administrator")
    op = make_account("cro_operator")
    env = _token_env(db, admin)
    assert cli("user", "role", op.username, "sho", "--unit", "BA/QTA", env=env).exit_code == 0
    r = cli("user", "reset-mfa", op.username, env=env)
    assert r.exit_code == 0 and "enrolment code (shown once" in r.output and "otpauth://" not in r.output
    assert cli("user", "disable", op.username, env=env).exit_code == 0
    r = cli("user", "list", "--json", env=env)
    row = next(u for u in json.loads(r.output) if u["username"] == op.username)
    assert (row["role"], row["unit"], row["is_active"], row["mfa"]) == ("sho", "BA/QTA", False, False)
    assert row["enrolment_pending"]
    r = cli("user", "disable", "ghost", env=env)
    assert r.exit_code == 1 and "no user" in r.output


def test_audit_verify_and_show(db, cli, make_account):
    auditor = make_account("auditor")
    env = {"CRMS_USER": auditor.username, "CRMS_PASSWORD": PASSWORD}
    r = cli("audit", "verify", env=env)
    assert r.exit_code == 0 and "audit chain OK" in r.output, r.output
    r = cli("audit", "show", "--user", auditor.username, "--json", env=env)
    assert r.exit_code == 0
    actions = [i["action"] for i in json.loads(r.output)["items"]]
    assert "audit.verify" in actions and "auth.login" in actions
    r = cli("audit", "show", "--since", "yesterday", env=env)
    assert r.exit_code == 2 and "since" in r.output
    r = cli("audit", "show", "--outcome", "ok", "--user", auditor.username, "--json", env=env)
    assert {i["outcome"] for i in json.loads(r.output)["items"]} == {"ok"}
    r = cli("audit", "show", "--outcome", "maybe", env=env)
    assert r.exit_code == 2 and "outcome must be one of" in r.output
    with db.engine.begin() as conn:
        conn.execute(text("update audit_log set action = 'person.read' where seq = 2"))
    r = cli("audit", "verify", env=env)
    assert r.exit_code == 1 and "TAMPERED: entry #2" in r.output, r.output
    with db.engine.begin() as conn:
        conn.execute(text("delete from audit_log where seq = 3"))
    r = cli("audit", "verify", "--json", env=env)
    body = json.loads(r.output)
    assert r.exit_code == 1 and any("#3 missing" in p for p in body["problems"])
