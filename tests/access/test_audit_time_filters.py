"""The audit trail's time filters, on SQLite and PostgreSQL: a time with a UTC offset (Pakistan's +05:00) is
the same instant as in UTC, in the service, the API and ``crms audit show``; a time without an offset is
UTC; the CLI's plain date is the office's day, as on the web page; the CLI's table is readable at 80 columns.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text, update
from typer.testing import CliRunner

from crms.access import audit
from crms.access.models import AuditEntry
from crms.access.principal import Principal
from crms.cli.main import app as cli_app
from crms.timeutil import as_utc, iso_or_none

from .conftest import PASSWORD

PKT = timezone(timedelta(hours=5))
EARLY = datetime(2026, 12, 6, 22, 30, tzinfo=UTC)  # 03:30 on the 7th in Quetta
LATE = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)  # 04:30 on the 7th in Quetta


def _two_entries(db) -> None:
    """Two reads by ``probe_clerk``, one at EARLY and one at LATE (UTC)."""
    clerk = Principal(user_id=901, username="probe_clerk", role="cro_operator")
    with db.transaction() as s:
        audit.record(s, clerk, "person.read", target_type="person", target_id=1)
        audit.record(s, clerk, "person.read", target_type="person", target_id=2)
    with db.transaction() as s:  # the times moved (the chain is not what these tests check)
        for target, at in (("1", EARLY), ("2", LATE)):
            s.execute(
                update(AuditEntry)
                .where(AuditEntry.username == "probe_clerk", AuditEntry.target_id == target)
                .values(at=at)
            )


def _targets(rows) -> list[str]:
    return sorted(e.target_id if isinstance(e, AuditEntry) else e["target_id"] for e in rows)


def test_as_utc_converts_every_aware_time_and_takes_a_naive_one_as_utc():
    at = datetime(2026, 12, 7, 4, 0, tzinfo=PKT)
    assert as_utc(at) == at and as_utc(at).utcoffset() == timedelta(0)
    assert as_utc(at).replace(tzinfo=None) == datetime(2026, 12, 6, 23, 0)  # what SQLite stores
    assert as_utc(datetime(2026, 12, 6, 23, 0)) == datetime(2026, 12, 6, 23, 0, tzinfo=UTC)
    assert iso_or_none(at) == "2026-12-06T23:00:00+00:00"
    # at the calendar's ends an offset would carry the time out of it: the first or last moment there is
    assert as_utc(datetime(1, 1, 1, tzinfo=PKT)) == datetime.min.replace(tzinfo=UTC)
    assert as_utc(datetime.max.replace(tzinfo=timezone(timedelta(hours=-5)))) == datetime.max.replace(
        tzinfo=UTC
    )


def test_the_service_takes_an_offset_as_the_same_instant(db):
    _two_entries(db)
    auditor = Principal(user_id=902, username="probe_auditor", role="auditor")
    cases = [
        ({"since": datetime(2026, 12, 7, 4, 0, tzinfo=PKT)}, ["2"]),  # 23:00 UTC
        ({"until": datetime(2026, 12, 7, 4, 0, tzinfo=PKT)}, ["1"]),
        ({"since": datetime(2026, 12, 6, 23, 0)}, ["2"]),  # naive: UTC
        ({"since": datetime(2026, 12, 6, 23, 0, tzinfo=UTC)}, ["2"]),
    ]
    for filters, expected in cases:
        with db.transaction() as s:
            _, rows = audit.query(s, auditor, username="probe_clerk", **filters)
            assert _targets(rows) == expected, filters


def test_the_api_takes_an_offset_as_the_same_instant(db, sclient, make_user):
    _two_entries(db)
    _, auditor = make_user("auditor")
    params = {"username": "probe_clerk", "since": "2026-12-07T04:00:00+05:00"}
    r = sclient.get("/api/v1/audit", params=params, headers=auditor)
    assert r.status_code == 200 and _targets(r.json()["items"]) == ["2"], r.text
    r = sclient.get("/api/v1/audit", params={**params, "since": "2026-12-06T23:00:00"}, headers=auditor)
    assert _targets(r.json()["items"]) == ["2"]
    r = sclient.get("/api/v1/audit", params={**params, "since": "0001-01-01T00:00:00+05:00"}, headers=auditor)
    assert r.status_code == 200 and _targets(r.json()["items"]) == ["1", "2"], r.text


@pytest.fixture
def show(db, tmp_path, monkeypatch, make_account):
    """``crms audit show ARGS --user probe_clerk --json`` as an auditor: the target ids listed."""
    monkeypatch.setenv("CRMS_DATABASE_URL", db.url)
    monkeypatch.setenv("CRMS_DATA_DIR", str(tmp_path / "data"))
    auditor = make_account("auditor")
    env = {"CRMS_USER": auditor.username, "CRMS_PASSWORD": PASSWORD, "COLUMNS": "80"}

    def run(*args: str, as_json: bool = True):
        extra = ["--user", "probe_clerk", "--json"] if as_json else []
        r = CliRunner().invoke(cli_app, ["audit", "show", *args, *extra], env=env)
        if not as_json:
            return r
        assert r.exit_code == 0, r.output
        return _targets(json.loads(r.output)["items"])

    return run


def test_the_cli_takes_an_offset_a_utc_time_and_the_offices_day(db, show):
    _two_entries(db)
    assert show("--since", "2026-12-07T04:00+05:00") == ["2"]
    assert show("--until", "2026-12-07T04:00+05:00") == ["1"]
    assert show("--since", "2026-12-06T23:00") == ["2"]  # a time without an offset: UTC
    assert show("--since", "2026-12-06T23:00Z") == ["2"]
    # a plain date is the office's day (Pakistan's by default), as on the web page's filter
    assert show("--since", "2026-12-07") == ["1", "2"]
    assert show("--since", "2026-12-07", "--until", "2026-12-07") == ["1", "2"]
    assert show("--until", "2026-12-06") == []
    assert show("--since", "2026-12-08") == []
    r = show("--since", "yesterday", as_json=False)
    assert r.exit_code == 2 and "since" in r.output
    r = show("--until", "2026-13-01", as_json=False)
    assert r.exit_code == 2 and "until" in r.output


def test_the_cli_help_says_what_a_date_and_a_time_mean(show):
    r = CliRunner().invoke(cli_app, ["audit", "show", "--help"], env={"COLUMNS": "200"})
    text = " ".join(r.output.split())
    assert "office's day" in text and "+05:00" in text and "UTC" in text, text


def test_the_cli_table_is_readable_at_80_columns(db, show):
    from rich.console import Console

    from crms.cli.access import audit_table

    _two_entries(db)
    r = show("--user", "probe_clerk", as_json=False)
    assert r.exit_code == 0, r.output
    assert "2026-12-06T22:30:00" in r.output and "2026-12-06T23:30:00" in r.output, r.output
    assert "probe_clerk" in r.output and "person.read" in r.output
    assert max(len(line) for line in r.output.splitlines()) <= 80
    long_detail = {
        "seq": 1234567,
        "at": "2026-12-06T23:30:00.000000Z",
        "username": "demo_operator_quetta",
        "address": "10.11.12.13",
        "channel": "web",
        "action": "biometric.identify_decision",
        "target_type": "identification",
        "target_id": "98765",
        "outcome": "not_found",
        "reason": "FIR 123/2026 Sariab, examiner's second look " * 3,
        "query": None,
        "detail": None,
    }
    console = Console(width=80, record=True)
    console.print(audit_table([long_detail], 1))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    for whole in ("2026-12-06T23:30:00", "demo_operator_quetta", "biometric.identify_decision", "not_found"):
        assert whole in text, text
    assert "1234567" in text and "10.11.12.13" in text and "…" not in text
    words = " ".join(text.split())
    assert words.count("123/2026") == 3 and words.count("Sariab,") == 3 and words.count("examiner's") == 3
    entry = dict(
        long_detail, reason="[red]hidden[/red]", query='{"since": "2026-12-06T23:00:00+00:00"}', seq=7
    )
    console = Console(width=80, record=True)
    console.print(audit_table([long_detail, entry], 2))
    text = console.export_text()
    assert re.search(r'"2026-12-06T23:00:00\+00:00"}', "".join(line.strip() for line in text.splitlines()))
    assert "[red]hidden[/red]" in text  # what the trail holds, not read as markup


def test_the_chain_verifies_on_a_postgresql_server_that_keeps_pakistan_time(db):
    """A PostgreSQL server whose time zone is Asia/Karachi hands the entries' times back at +05:00: the
    hashes are of the UTC time, so the chain still verifies (the offset was written with a "Z" before)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite keeps no time zone")
    clerk = Principal(user_id=903, username="quetta_clerk", role="cro_operator")
    with db.transaction() as s:
        audit.record(s, clerk, "person.read", target_type="person", target_id=3)
    with db.engine.connect() as conn:
        conn.execute(text(f"ALTER DATABASE \"{db.engine.url.database}\" SET timezone TO 'Asia/Karachi'"))
        conn.commit()
    db.engine.dispose()
    with db.transaction() as s:
        at = s.scalar(select(AuditEntry.at).order_by(AuditEntry.seq.desc()).limit(1))
        assert at.utcoffset() == timedelta(hours=5)  # the server's zone
        report = audit.verify(s)
        assert report.problems == [], report.problems
        audit.record(s, clerk, "person.read", target_type="person", target_id=4)
    with db.transaction() as s:
        assert audit.verify(s).problems == []
