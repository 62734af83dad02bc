"""``crms lookup CNIC --json`` against a real database (both backends): found, unknown (exit 1), malformed
(exit 2), no login (exit 3); every search is audited."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from crms.cli.main import app as cli_app
from crms.records import services as svc
from crms.records import services_cases as cases

from ._support import audit_entries, case_data, person_data

runner = CliRunner()


@pytest.fixture
def cli(rdb, tmp_path, monkeypatch):
    from crms.access.tokens import issue_token
    from crms.access.users import create_user

    monkeypatch.setenv("CRMS_DATABASE_URL", rdb.url)
    monkeypatch.setenv("CRMS_DATA_DIR", str(tmp_path / "data"))
    for var in ("CRMS_USER", "CRMS_PASSWORD", "CRMS_TOTP", "CRMS_TOKEN", "CRMS_REASON"):
        monkeypatch.delenv(var, raising=False)
    with rdb.transaction() as session:
        token = issue_token(session, create_user(session, "io_lookup", "investigating_officer", unit="BA"))

    def run(*args, login=True):
        return runner.invoke(cli_app, list(args), env={"CRMS_TOKEN": token} if login else {})

    return run


def test_lookup_json_found_unknown_malformed(rdb, principal, cli):
    op = principal("cro_operator", "BA/QTA/QUETTA")
    with rdb.transaction() as session:
        pid = svc.register_person(
            session, op, person_data(documents=[{"doc_type": "CNIC", "number": "54400-1234567-3"}])
        ).person.id
        case = cases.add_case(session, op, case_data())
        link = cases.link_person(session, op, case.id, {"person_id": pid, "role": "accused"})
        cases.change_party_status(session, op, link.id, {"status": "absconder"})

    r = cli("lookup", "۵۴۴۰۰۱۲۳۴۵۶۷۳", "--json", "--reason", "checkpost Kuchlak")
    assert r.exit_code == 0, r.output
    found = json.loads(r.stdout)
    assert found["id"] == pid and found["given_name_ur"] == "عبدالرؤف"
    assert found["summary"]["active_flags"] == ["absconder", "wanted"]
    assert found["cases"][0]["fir"] == "FIR 112/2024 PS QUETTA-CANTT"
    assert {f["kind"] for f in found["flags"]} == {"absconder", "wanted"}

    r = cli("lookup", "54400-1234567-3", "--reason", "checkpost Kuchlak")  # human-readable form
    assert r.exit_code == 0 and "FLAGS: Absconder / مفرور, Wanted / مطلوب" in r.output

    r = cli("lookup", "54400-7654321-3", "--json", "--reason", "checkpost Kuchlak")
    assert r.exit_code == 1 and "no person with CNIC" in r.output

    r = cli("lookup", "5440-1234567-3", "--json", "--reason", "checkpost Kuchlak")
    assert r.exit_code == 2 and "cnic: CNIC must have 13 digits (found 12)" in r.output

    r = cli("lookup", "54400-1234567-3", "--json")
    assert r.exit_code == 2 and "reason" in r.output

    r = cli("lookup", "54400-1234567-3", "--json", "--reason", "checkpost", login=False)
    assert r.exit_code == 3

    searches = [(e.channel, e.target_id, e.detail) for e in audit_entries(rdb, action="search.cnic")]
    assert searches == [("cli", str(pid), None), ("cli", str(pid), None), ("cli", None, "not found")]


def test_lookup_shows_labels_not_internal_codes(rdb, principal, cli):
    """Before: the human output printed raw codes such as challan_512 and proclaimed_offender_b."""
    op = principal("sho", "BA/QTA/QUETTA")
    with rdb.transaction() as session:
        pid = svc.register_person(
            session, op, person_data(documents=[{"doc_type": "CNIC", "number": "54400-1234567-3"}])
        ).person.id
        case = cases.add_case(session, op, case_data())
        link = cases.link_person(session, op, case.id, {"person_id": pid, "role": "accused"})
        cases.change_party_status(session, op, link.id, {"status": "absconder"})
        cases.change_party_status(session, op, link.id, {"status": "proclaimed_offender_b"})
        cases.change_case_status(session, op, case.id, {"status": "challan_512"})
    r = cli("lookup", "54400-1234567-3", "--reason", "checkpost Kuchlak")
    assert r.exit_code == 0, r.output
    assert "Accused" in r.output and "ملزم" in r.output  # the table may wrap a label over two lines
    for code in ("proclaimed_offender_b", "challan_512", "proclaimed_offender"):
        assert code not in r.output, (code, r.output)
    flat = " ".join(r.output.split())
    assert "Proclaimed" in flat and "اشتہاری" in flat and "512" in flat
    r = cli("lookup", "54400-1234567-3", "--json", "--reason", "checkpost Kuchlak")
    found = json.loads(r.stdout)
    assert found["cases"][0]["status"] == "proclaimed_offender_b"  # the code stays the interface
    assert found["cases"][0]["status_label"] == {
        "en": "Proclaimed offender (category B)",
        "ur": "اشتہاری مجرم (زمرہ ب)",
    }
    assert found["cases"][0]["case_status_label"]["en"].startswith("Challan u/s 512")
