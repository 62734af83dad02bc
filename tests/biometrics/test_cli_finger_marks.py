"""``crms fp mark-missing`` against a real database (both backends)."""

from __future__ import annotations

import json

from tests.biometrics.test_enrolment import make_person


def test_mark_missing_cli(db, cli_env):
    from crms.access.tokens import issue_token
    from crms.access.users import create_user
    from crms.biometrics.marks import marks_of

    pid = make_person(db)
    with db.transaction() as s:
        token = issue_token(s, create_user(s, "op_marks", "cro_operator", unit="BA"))
    r = cli_env(token, "fp", "mark-missing", str(pid), "9", "amputated", "--note", "war wound", "--json")
    assert r.exit_code == 0, r.output
    assert (json.loads(r.stdout)["position"], json.loads(r.stdout)["reason"]) == (9, "amputated")
    r = cli_env(token, "fp", "mark-missing", str(pid), "9", "lost")
    assert r.exit_code == 2 and "reason" in r.output
    with db.transaction() as s:
        assert [(m.position, m.reason, m.note) for m in marks_of(s, pid)] == [(9, "amputated", "war wound")]
