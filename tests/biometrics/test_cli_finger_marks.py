"""``crms fp mark-missing`` against a real database (both backends)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from crms.cli.main import app as cli_app
from tests.biometrics.test_enrolment import make_person


def test_mark_missing_cli(db, tmp_path, monkeypatch):
    from crms.access.tokens import issue_token
    from crms.access.users import create_user
    from crms.biometrics.marks import marks_of

    monkeypatch.setenv("CRMS_DATABASE_URL", db.url)
    monkeypatch.setenv("CRMS_DATA_DIR", str(tmp_path / "data"))
    for var in ("CRMS_USER", "CRMS_PASSWORD", "CRMS_TOTP", "CRMS_TOKEN", "CRMS_REASON"):
        monkeypatch.delenv(var, raising=False)
    pid = make_person(db)
    with db.transaction() as s:
        token = issue_token(s, create_user(s, "op_marks", "cro_operator", unit="BA"))
    run = CliRunner()
    args = ["fp", "mark-missing", str(pid), "9", "amputated", "--note", "war wound", "--json"]
    r = run.invoke(cli_app, args, env={"CRMS_TOKEN": token})
    assert r.exit_code == 0, r.output
    assert (json.loads(r.stdout)["position"], json.loads(r.stdout)["reason"]) == (9, "amputated")
    r = run.invoke(cli_app, ["fp", "mark-missing", str(pid), "9", "lost"], env={"CRMS_TOKEN": token})
    assert r.exit_code == 2 and "reason" in r.output
    with db.transaction() as s:
        assert [(m.position, m.reason, m.note) for m in marks_of(s, pid)] == [(9, "amputated", "war wound")]
