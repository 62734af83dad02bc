"""The records commands against a real database (both backends). ``crms lookup CNIC --json``: found, unknown
(exit 1), malformed (exit 2), no login (exit 3); every search is audited. ``crms person show|edit`` and
``crms case show|edit|status`` and ``crms link ...``: the services' rules and refusals, with their exit
codes."""

from __future__ import annotations

import json
import uuid

import pytest
from typer.testing import CliRunner

from crms.cli.main import app as cli_app
from crms.records import services as svc
from crms.records import services_cases as cases

from ._support import audit_entries, case_data, person_data

runner = CliRunner()
QUETTA = "BA/QTA/QUETTA"


@pytest.fixture
def cli_as(rdb, tmp_path, monkeypatch):
    """cli_as(role, unit='BA') -> run(*args, login=True): the CLI as a fresh user of that role."""
    from crms.access.tokens import issue_token
    from crms.access.users import create_user

    monkeypatch.setenv("CRMS_DATABASE_URL", rdb.url)
    monkeypatch.setenv("CRMS_DATA_DIR", str(tmp_path / "data"))
    for var in ("CRMS_USER", "CRMS_PASSWORD", "CRMS_TOTP", "CRMS_TOKEN", "CRMS_REASON"):
        monkeypatch.delenv(var, raising=False)

    def make(role: str, unit: str = "BA"):
        with rdb.transaction() as session:
            user = create_user(session, f"{role[:10]}_{uuid.uuid4().hex[:6]}", role, unit=unit)
            token = issue_token(session, user)

        def run(*args, login=True):
            return runner.invoke(cli_app, list(args), env={"CRMS_TOKEN": token} if login else {})

        return run

    return make


@pytest.fixture
def cli(cli_as):
    return cli_as("investigating_officer")


def _absconder(rdb, op) -> tuple[int, int, int]:
    """A person with CNIC 54400-1234567-3, accused in a new case and absconding: (person, case, link)."""
    with rdb.transaction() as session:
        pid = svc.register_person(
            session, op, person_data(documents=[{"doc_type": "CNIC", "number": "54400-1234567-3"}])
        ).person.id
        case = cases.add_case(session, op, case_data())
        link = cases.link_person(session, op, case.id, {"person_id": pid, "role": "accused"})
        cases.change_party_status(session, op, link.id, {"status": "absconder"})
    return pid, case.id, link.id


def test_lookup_json_found_unknown_malformed(rdb, principal, cli):
    pid, _, _ = _absconder(rdb, principal("cro_operator", "BA/QTA/QUETTA"))

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
    _, case_id, link_id = _absconder(rdb, op)
    with rdb.transaction() as session:
        cases.change_party_status(session, op, link_id, {"status": "proclaimed_offender_b"})
        cases.change_case_status(session, op, case_id, {"status": "challan_512"})
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


def test_person_show_and_edit(rdb, principal, cli_as):
    op = principal("cro_operator", QUETTA)
    with rdb.transaction() as session:
        pid = svc.register_person(session, op, person_data()).person.id
    run = cli_as("cro_operator", QUETTA)

    r = run("person", "show", str(pid), "--json", "--reason", "file check")
    assert r.exit_code == 0, r.output
    record = json.loads(r.stdout)
    assert (record["id"], record["caste"], record["version"]) == (pid, "Kakar", 1)
    r = run("person", "show", str(pid), "--reason", "file check")
    assert r.exit_code == 0 and f"(person {pid}, version 1)" in r.output and "عبدالرؤف" in r.output
    assert run("person", "show", "99999", "--reason", "file check").exit_code == 1

    r = run("person", "edit", str(pid), "caste=Raisani", "notes=seen at Sariab", "--version", "1")
    assert r.exit_code == 0 and f"person {pid} saved (version 2)" in r.output, r.output
    r = run("person", "edit", str(pid), "caste=Bugti", "--version", "1")  # made on the copy read before
    assert r.exit_code == 2 and "version: person" in r.output and "since it was read" in r.output
    r = run("person", "edit", str(pid), "notes=", "--json")  # an empty value clears; no version: applied
    assert r.exit_code == 0 and json.loads(r.stdout)["notes"] is None
    r = run("person", "edit", str(pid), "colour=red")
    assert r.exit_code == 2 and "colour" in r.output
    r = run("person", "edit", str(pid), "caste")
    assert r.exit_code == 2 and "FIELD=VALUE" in r.output
    assert cli_as("cro_operator", "BA/MKN/KECH")("person", "edit", str(pid), "caste=x").exit_code == 3
    with rdb.transaction() as session:
        assert svc.get_person(session, op, pid)["caste"] == "Raisani"
    assert [e.channel for e in audit_entries(rdb, action="person.update")] == ["cli", "cli"]


def test_case_show_edit_and_status(rdb, principal, cli_as):
    sho = principal("sho", QUETTA)
    with rdb.transaction() as session:
        case_id = cases.add_case(session, sho, case_data()).id
    run = cli_as("sho", QUETTA)

    r = run("case", "show", str(case_id), "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["version"] == 1, r.output
    r = run("case", "edit", str(case_id), "place=Sariab Road", "--version", "1")
    assert r.exit_code == 0 and f"case {case_id} saved (version 2)" in r.output, r.output
    assert run("case", "edit", str(case_id), "notes=x", "--version", "1").exit_code == 2
    r = run("case", "status", str(case_id), "under_investigation", "--note", "IO appointed")
    assert r.exit_code == 0 and "Under investigation" in r.output, r.output
    r = run("case", "status", str(case_id), "registered")
    assert r.exit_code == 2 and "cannot change from under_investigation to registered" in r.output
    r = run("case", "show", str(case_id))
    assert r.exit_code == 0 and "FIR 112/2024 PS QUETTA-CANTT" in r.output and "Sariab Road" in r.output
    assert run("case", "show", "99999").exit_code == 1
    assert cli_as("auditor")("case", "show", str(case_id)).exit_code == 3

    listed = ("case", "list", "--station", "Cantt", "--district", "Quetta", "--status", "under_investigation")
    r = run(*listed)
    assert r.exit_code == 0 and "FIRs 1-1 of 1" in r.output, r.output
    firs = [c["fir"] for c in json.loads(run(*listed, "--json").stdout)["items"]]
    assert firs == ["FIR 112/2024 PS QUETTA-CANTT"]
    r = run("case", "list", "--year", "2023", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["total"] == 0
    r = run("case", "list", "--station", "Nowhere Town")
    assert r.exit_code == 2 and "police_station" in r.output, r.output


def test_a_person_in_a_case_from_the_command_line(rdb, principal, cli_as):
    """crms link add|show|edit|status|arrest|conviction: the link's number is in `case show`; the day a
    person was named, modus operandi and gang are kept; refusals exit 2, a missing link 1, a role 3."""
    sho = principal("sho", QUETTA)
    with rdb.transaction() as session:
        case_id = cases.add_case(session, sho, case_data()).id
        pid = svc.register_person(session, sho, person_data()).person.id
    run = cli_as("sho", QUETTA)

    r = run("link", "add", str(case_id), str(pid), "--on", "2024-03-14", "--mo", "snatching on motorbike")
    assert r.exit_code == 0 and "is Named" in r.output, r.output
    r = run("case", "show", str(case_id), "--json")
    link = json.loads(r.stdout)["parties"][0]["link_id"]
    assert str(link) in run("case", "show", str(case_id)).output
    assert run("link", "add", str(case_id), str(pid)).exit_code == 2  # already linked as accused
    r = run("link", "add", str(case_id), str(pid), "--role", "witness", "--on", "2024-03-01")
    assert r.exit_code == 2 and "before the FIR" in r.output, r.output

    r = run("link", "edit", str(link), "gang=Zarghoon gang", "--version", "1")
    assert r.exit_code == 0 and "saved (version 2)" in r.output, r.output
    r = run("link", "edit", str(link), "gang=Other gang", "--version", "1")  # a stale copy: refused
    assert r.exit_code == 2 and "version 1, now 2" in r.output, r.output
    assert run("link", "edit", str(link), "role=victim").exit_code == 2  # not an editable field
    r = run("link", "status", str(link), "absconder", "--on", "2024-04-01", "--note", "raids failed")
    assert r.exit_code == 0 and "Absconder" in r.output, r.output
    assert run("link", "status", str(link), "convicted").exit_code == 2  # only by recording a conviction
    r = run("link", "arrest", str(link), "2024-05-02", "--place", "Sariab", "--by", "SI Khan")
    assert r.exit_code == 0 and "Arrested" in r.output, r.output

    r = run("link", "show", str(link), "--json")
    shown = json.loads(r.stdout)
    assert shown["modus_operandi"] == "snatching on motorbike" and shown["gang"] == "Zarghoon gang"
    assert [(h["to"], h["effective_on"]) for h in shown["status_history"]] == [
        ("named", "2024-03-14"),
        ("absconder", "2024-04-01"),
        ("arrested", "2024-05-02"),
    ]
    text = run("link", "show", str(link)).output
    assert "2024-04-01: named -> absconder  raids failed" in text and "arrested 2024-05-02 Sariab" in text
    r = run("link", "conviction", str(link), "--court", "ATC-I", "--on", "2024-06-01", "--sentence", "3y")
    assert r.exit_code == 2 and "not possible while the case is registered" in r.output, r.output
    assert run("link", "show", "99999").exit_code == 1
    assert cli_as("auditor")("link", "show", str(link)).exit_code == 3


def test_a_persons_entries_from_the_command_line(rdb, principal, cli_as):
    """crms person add, remove (with the reason) and correct-description (the fields named change; the
    version read guards the correction), and show listing the entries with their numbers."""
    op = principal("cro_operator", QUETTA)
    with rdb.transaction() as session:
        pid = svc.register_person(session, op, person_data()).person.id
    run = cli_as("cro_operator", QUETTA)

    r = run("person", "add", str(pid), "phone", "number=0300 1234567")
    assert r.exit_code == 0 and f"person {pid}: phone added (version 2)" in r.output, r.output
    r = run("person", "add", str(pid), "phone", "number=0300-1234567")  # the same number, written otherwise
    assert r.exit_code == 2 and "error: phone: person" in r.output and "already has" in r.output, r.output
    r = run("person", "add", str(pid), "alias", "name=Raufa")
    assert r.exit_code == 0, r.output
    r = run("person", "add", str(pid), "alias", "name=RAUFA")
    assert r.exit_code == 2 and "error: name: person" in r.output and "already has" in r.output, r.output
    r = run(
        "person", "add", str(pid), "description", "observed_on=2024-03-14", "height_cm=170",
        "languages=Pashto،Urdu", "mark=scar:left cheek", "mark=tattoo:right forearm:a falcon", "--json",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    (desc,) = json.loads(r.stdout)["descriptions"]
    assert desc["languages"] == ["Pashto", "Urdu"] and len(desc["marks"]) == 2
    r = run("person", "add", str(pid), "description", "observed_on=2024-03-14", "mark=scar")
    assert r.exit_code == 2 and "mark=KIND:WHERE" in r.output
    r = run("person", "add", str(pid), "flag", "kind=wanted")
    assert r.exit_code == 2 and "cannot add a 'flag'" in r.output

    r = run("person", "show", str(pid), "--reason", "file check")
    assert r.exit_code == 0, r.output
    with rdb.transaction() as session:
        record = svc.get_person(session, op, pid)
    phone, alias = record["phones"][0]["id"], record["aliases"][0]["id"]
    assert f"phone {phone}: +923001234567" in r.output and f"alias {alias}: Raufa" in r.output
    assert f"description {desc['id']} (version 1), 2024-03-14: height_cm 170" in r.output

    r = run("person", "remove", str(pid), "phone", str(phone))
    assert r.exit_code == 2 and "--reason" in r.output  # required
    r = run("person", "remove", str(pid), "phone", str(phone), "--reason", "  ")
    assert r.exit_code == 2 and "reason" in r.output
    r = run("person", "remove", str(pid), "alias", str(alias + 1), "--reason", "typed on the wrong record")
    assert r.exit_code == 1 and f"alias {alias + 1} not found" in r.output
    r = run("person", "remove", str(pid), "phone", str(phone), "--reason", "typed on the wrong record")
    assert r.exit_code == 0 and f"phone {phone} removed" in r.output, r.output
    (entry,) = audit_entries(rdb, action="person.phone.remove")
    assert (entry.channel, entry.reason) == ("cli", "typed on the wrong record")

    d = str(desc["id"])
    r = run("person", "correct-description", str(pid), d, "height_cm=172", "beard=full", "--version", "1")
    assert r.exit_code == 0 and "(version 2)" in r.output, r.output
    r = run("person", "correct-description", str(pid), d, "height_cm=150", "--version", "1")
    assert r.exit_code == 2 and "version: description" in r.output
    r = run("person", "correct-description", str(pid), d, "mark=mark:neck", "--replace-marks")
    assert r.exit_code == 0, r.output
    r = run("person", "correct-description", str(pid), "99999", "beard=")
    assert r.exit_code == 1
    with rdb.transaction() as session:
        (now,) = svc.get_person(session, op, pid)["descriptions"]
    assert (now["height_cm"], now["beard"], now["languages"], now["version"]) == (
        172,
        "full",
        ["Pashto", "Urdu"],
        3,
    )
    assert [(m["kind"], m["body_location"]) for m in now["marks"]] == [("mark", "neck")]


def test_a_persons_photos_from_the_command_line(rdb, principal, cli_as, tmp_path):
    from tests.faces.test_photos import image

    op = principal("cro_operator", QUETTA)
    with rdb.transaction() as session:
        pid = svc.register_person(session, op, person_data()).person.id
    run = cli_as("cro_operator", QUETTA)
    right, wrong = tmp_path / "front.jpg", tmp_path / "other.png"
    right.write_bytes(image())
    wrong.write_bytes(image("PNG", colour=(10, 10, 10)))

    r = run("photo", "add", str(pid), str(right))
    assert r.exit_code == 0 and "front 120x160 jpeg, current" in r.output, r.output
    first = int(r.output.split()[1].rstrip(":"))
    r = run("photo", "add", str(pid), str(wrong), "--kind", "front", "--note", "at the check post")
    assert r.exit_code == 0 and "at the check post" in r.output, r.output
    second = int(r.output.split()[1].rstrip(":"))
    r = run("photo", "add", str(pid), str(tmp_path / "missing.jpg"))
    assert r.exit_code == 2 and "cannot read" in r.output
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    assert run("photo", "add", str(pid), str(tmp_path / "bad.jpg")).exit_code == 2

    r = run("photo", "remove", str(second))
    assert r.exit_code == 2 and "--reason" in r.output
    assert cli_as("fingerprint_examiner")("photo", "remove", str(second), "-r", "x").exit_code == 3
    r = run("photo", "remove", str(second), "--reason", "another man's photo")
    assert r.exit_code == 0 and f"photo {first} is current again" in r.output, r.output
    assert run("photo", "remove", str(second), "--reason", "again").exit_code == 2

    r = run("photo", "list", str(pid), "--json")
    assert r.exit_code == 0 and [p["id"] for p in json.loads(r.stdout)] == [first]
    r = run("photo", "list", str(pid), "--history")
    assert f"photo {second}: front" in r.output and "replaced" in r.output
    assert run("photo", "list", "99999").exit_code == 1


def test_a_link_made_in_error_is_removed_from_the_command_line(rdb, principal, cli_as):
    sho = principal("sho", QUETTA)
    with rdb.transaction() as session:
        case_id = cases.add_case(session, sho, case_data()).id
        pid = svc.register_person(session, sho, person_data()).person.id
        link = cases.link_person(session, sho, case_id, {"person_id": pid, "role": "accused"}).id
    run = cli_as("sho", QUETTA)
    r = run("link", "remove", str(link))
    assert r.exit_code == 2 and "--reason" in r.output
    assert cli_as("fingerprint_examiner")("link", "remove", str(link), "-r", "wrong man").exit_code == 3
    r = run("link", "remove", str(link), "--reason", "the wrong Abdul Rauf")
    assert r.exit_code == 0 and f"person {pid} is no longer in case {case_id}" in r.output, r.output
    assert run("link", "remove", str(link), "--reason", "again").exit_code == 1
    (entry,) = audit_entries(rdb, action="case.link.remove")
    assert (entry.channel, entry.reason) == ("cli", "the wrong Abdul Rauf")


def test_link_add_takes_a_cnic_for_the_person(rdb, principal, cli_as):
    sho = principal("sho", QUETTA)
    with rdb.transaction() as session:
        case_id = cases.add_case(session, sho, case_data()).id
        documents = [{"doc_type": "CNIC", "number": "54400-1234567-3"}]
        pid = svc.register_person(session, sho, person_data(documents=documents)).person.id
    run = cli_as("sho", QUETTA)
    r = run("link", "add", str(case_id), "54400-7654321-3")
    assert r.exit_code == 1 and "no person has CNIC 54400-7654321-3" in r.output, r.output
    r = run("link", "add", str(case_id), "54400-1234567-3", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["person_id"] == pid, r.output
    assert run("link", "add", str(case_id), "twelve").exit_code == 2
