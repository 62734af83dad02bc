"""Bulk import (``crms import persons``) on SQLite and PostgreSQL: the template, all-or-nothing,
--skip-invalid with a reject file, idempotent re-runs (by CNIC and by name key), bad files and bad fields
each named by row and column, the registration rules shared with the person service, permissions, audit."""

# ruff: noqa: F811  (pytest fixtures imported from ._support are used as parameters)
from __future__ import annotations

import csv
import json
import os
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from crms.db import sqlite_file
from crms.errors import PermissionDenied
from crms.records import import_stage
from crms.records import services as svc
from crms.records.importer import ALL_COLUMNS, ImportFileError, import_persons, import_persons_file
from crms.records.models import Address, IdentityDocument, Person, PersonAlias, PhoneNumber

from ._support import audit_entries, person_data, principal, rdb  # noqa: F401

HEADER = list(ALL_COLUMNS)


def row(**kw) -> dict:
    base = {
        "cnic": "54400-1234567-1",
        "name": "Abdul Ghani",
        "father_name": "Muhammad Akbar",
        "name_urdu": "عبدالغنی",
        "father_name_urdu": "محمد اکبر",
        "gender": "M",
        "date_of_birth": "1985-03-02",
        "district": "Quetta",
        "police_station": "Cantt",
        "caste": "Kakar",
    }
    base.update(kw)
    return base


def people(n: int, start: int = 0) -> list[dict]:
    out = []
    for i in range(start, start + n):
        out.append(
            row(
                cnic=f"54400{i:07d}{(i % 4) * 2 + 1}",
                name=f"Person {chr(65 + i % 26)}{chr(65 + (i // 26) % 26)} Number",
                father_name=f"Father {chr(65 + i % 26)}{chr(66 + (i // 26) % 20)}",
                date_of_birth=str(1960 + i % 40),
            )
        )
    return out


def write_csv(path: Path, rows: list[dict], header: list[str] | None = None, encoding="utf-8") -> Path:
    header = header or HEADER
    with open(path, "w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for r in rows:
            w.writerow([r.get(c, "") for c in header])
    return path


def write_xlsx(path: Path, rows: list[dict]) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER)
    for r in rows:
        ws.append([r.get(c) for c in HEADER])
    wb.save(path)
    return path


def run(db, who, path, **kw):
    with db.transaction() as session:
        return import_persons(session, who, path, **kw)


def count(db, model) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(model))


# ------------------------------------------------------------------------------------------ happy path


def test_import_csv_writes_everything_and_rerun_adds_nothing(rdb, principal, tmp_path):
    op = principal("cro_operator", "BA/QTA")
    rows = [
        row(
            phone="0300-1234567; +92 81 2834567", alias="Ghani Kakar", alias_urdu="غنی", address="Killi Shabo"
        ),
        row(
            cnic="۵۴۴۰۰۔۷۶۵۴۳۲۱۔۲".replace("۔", "-"),  # Urdu digits
            name="Bibi Noor",
            father_name="Juma Khan",
            name_urdu="بی بی نور",
            father_name_urdu="جمعہ خان",
            gender="F",
            date_of_birth="1990",
            police_station="QUETTA-CITY",
        ),
        row(
            cnic="",
            name="Gul Khan",
            father_name="Sher Khan",
            name_urdu="گل خان",
            father_name_urdu="شیر خان",
            district="Quetta",
            police_station="",
            date_of_birth="1979",
        ),
    ]
    path = write_csv(tmp_path / "reg.csv", rows)
    report = run(rdb, op, path)
    assert report.ok and report.errors == []
    assert (report.rows, report.imported, report.already_present) == (3, 3, 0)
    with rdb.transaction() as s:
        ghani = s.scalars(select(Person).where(Person.given_name_en == "Abdul Ghani")).one()
        assert ghani.parentage_relation == "s/o" and ghani.parentage_name_ur == "محمد اکبر"
        assert ghani.date_of_birth == date(1985, 3, 2) and ghani.birth_year == 1985
        assert ghani.unit_path == "BA/QTA/QUETTA/QUETTA-CANTT" and ghani.created_by == op.user_id
        assert ghani.name_key and ghani.name_sound
        assert [d.number for d in ghani.documents] == ["5440012345671"]
        assert sorted(p.e164 for p in ghani.phones) == ["+923001234567", "+92812834567"]
        assert {(a.name, a.script) for a in ghani.aliases} == {("Ghani Kakar", "latin"), ("غنی", "urdu")}
        (addr,) = ghani.addresses
        assert (addr.district_code, addr.police_station_code, addr.text) == (
            "QUETTA",
            "QUETTA-CANTT",
            "Killi Shabo",
        )
        noor = s.scalars(select(Person).where(Person.given_name_en == "Bibi Noor")).one()
        assert noor.parentage_relation == "d/o" and noor.birth_year == 1990 and noor.date_of_birth is None
        assert noor.documents[0].number == "5440076543212"
        gul = s.scalars(select(Person).where(Person.given_name_en == "Gul Khan")).one()
        assert gul.documents == [] and gul.unit_path == "BA/QTA/QUETTA"
    # The imported person is found by the service's CNIC lookup.
    with rdb.transaction() as s:
        found = svc.lookup_cnic(s, op, "54400-1234567-1", reason="import check")
        assert found is not None and found["given_name_en"] == "Abdul Ghani"
    # Same file again: nothing new (CNIC key for two rows, name+parentage+dob+district for Gul Khan).
    before = [count(rdb, m) for m in (Person, IdentityDocument, Address, PhoneNumber, PersonAlias)]
    again = run(rdb, op, path)
    assert again.ok and (again.imported, again.already_present) == (0, 3)
    assert [count(rdb, m) for m in (Person, IdentityDocument, Address, PhoneNumber, PersonAlias)] == before
    actions = [e.action for e in audit_entries(rdb, action="records.import")]
    assert len(actions) == 2


def test_import_xlsx(rdb, principal, tmp_path):
    op = principal()
    rows = people(5)
    rows[0]["date_of_birth"] = "1970-05-06"
    path = write_xlsx(tmp_path / "reg.xlsx", rows)
    report = run(rdb, op, path)
    assert report.ok and report.imported == 5
    with rdb.transaction() as s:
        p = s.scalars(select(Person).where(Person.name_key != "").order_by(Person.id)).first()
        assert p.date_of_birth == date(1970, 5, 6)


def test_utf8_bom_accepted(rdb, principal, tmp_path):
    path = write_csv(tmp_path / "bom.csv", people(2), encoding="utf-8-sig")
    assert path.read_bytes()[:3] == b"\xef\xbb\xbf"
    report = run(rdb, principal(), path)
    assert report.ok and report.imported == 2


# ------------------------------------------------------------------------------------------ all or nothing


def test_one_bad_row_writes_nothing_and_lists_every_bad_row(rdb, principal, tmp_path):
    op = principal()
    rows = people(6)
    future = (date.today() + timedelta(days=3)).isoformat()
    rows[1]["cnic"] = "94400-1234567-1"  # province 9
    rows[2]["district"] = "Atlantis"
    rows[3]["date_of_birth"] = future
    rows[4]["name"] = "X" * 101
    rows[5]["police_station"] = "No Such Thana"
    path = write_csv(tmp_path / "bad.csv", rows)
    report = run(rdb, op, path)
    assert not report.ok and not report.written
    assert report.rejected == 5 and report.imported == 0
    got = {(e.row, e.column) for e in report.errors}
    assert {(3, "cnic"), (4, "district"), (5, "date_of_birth"), (6, "name"), (7, "police_station")} <= got
    msgs = {e.row: e.message for e in report.errors}
    assert "province" in msgs[3] and "Atlantis" in msgs[4] and "future" in msgs[5]
    assert "100" in msgs[6]
    assert count(rdb, Person) == 0 and count(rdb, IdentityDocument) == 0
    (entry,) = audit_entries(rdb, action="records.import")
    assert entry.outcome == "refused"


def test_skip_invalid_imports_valid_rows_and_writes_reject_file(rdb, principal, tmp_path):
    op = principal()
    rows = people(4)
    rows[2]["gender"] = "Q"
    rows[3]["cnic"] = "5440012345"
    path = write_csv(tmp_path / "mixed.csv", rows)
    rejects = tmp_path / "out" / "rejects.csv"
    report = run(rdb, op, path, skip_invalid=True, reject_file=rejects)
    assert report.ok and report.imported == 2 and report.rejected == 2
    assert count(rdb, Person) == 2
    with open(rejects, encoding="utf-8-sig", newline="") as fh:
        back = list(csv.DictReader(fh))
    assert [r["row"] for r in back] == ["4", "5"]
    assert back[0]["errors"].startswith("gender:") and back[0]["gender"] == "Q"
    assert "13 digits" in back[1]["errors"]
    # The reject file, corrected, imports as it is (row/errors columns are ignored).
    back[0]["gender"] = "M"
    back[1]["cnic"] = "54400-9999999-1"
    fixed = write_csv(tmp_path / "fixed.csv", back, header=[*HEADER, "row", "errors"])
    again = run(rdb, op, fixed)
    assert again.ok and again.imported == 2 and count(rdb, Person) == 4


def test_dry_run_validates_but_writes_nothing(rdb, principal, tmp_path):
    path = write_csv(tmp_path / "dry.csv", people(3))
    report = run(rdb, principal(), path, dry_run=True)
    assert report.ok and report.valid == 3 and report.imported == 0 and not report.written
    assert count(rdb, Person) == 0


# ------------------------------------------------------------------------------------------ duplicates


def test_duplicate_cnic_in_file_and_in_database(rdb, principal, tmp_path):
    op = principal()
    with rdb.transaction() as s:
        existing = svc.register_person(
            s, op, person_data(documents=[{"doc_type": "CNIC", "number": "54400-5555555-1"}])
        ).person
    rows = people(3)
    rows[1]["cnic"] = rows[0]["cnic"]  # twice in the file
    rows[2]["cnic"] = "5440055555551"  # held by another person in the database
    report = run(rdb, op, write_csv(tmp_path / "dup.csv", rows))
    assert not report.ok and count(rdb, Person) == 1
    by_row = {e.row: e for e in report.errors}
    assert by_row[3].column == "cnic" and "row 2" in by_row[3].message
    assert by_row[4].column == "cnic" and f"person {existing.id}" in by_row[4].message


def test_name_key_idempotency_without_cnic(rdb, principal, tmp_path):
    op = principal()
    rows = [row(cnic="", date_of_birth="1980"), row(cnic="", date_of_birth="1981")]  # namesakes, other years
    path = write_csv(tmp_path / "nocnic.csv", rows)
    assert run(rdb, op, path).imported == 2
    again = run(rdb, op, path)
    assert again.imported == 0 and again.already_present == 2 and count(rdb, Person) == 2
    # The same person twice in one file is refused on the second row.
    twice = write_csv(
        tmp_path / "twice.csv",
        [
            row(cnic="", district="Pishin", police_station=""),
            row(cnic="", district="Pishin", police_station=""),
        ],
    )
    report = run(rdb, op, twice)
    assert [(e.row, e.column) for e in report.errors] == [(3, "name")]


# ------------------------------------------------------------------------------------------ bad files


@pytest.mark.parametrize(
    "name, content, expect",
    [
        ("latin1.csv", ",".join(HEADER).encode() + b"\n5440012345671,Jos\xe9", "byte offset"),
        ("fake.xlsx", (",".join(HEADER) + "\n").encode(), "not an Excel .xlsx workbook"),
        ("empty.csv", b"", "empty"),
        ("blank.xlsx", b"   \n", "empty"),
        ("header.csv", (",".join(HEADER) + "\n").encode(), "no person rows"),
        ("missing.csv", b"cnic,name\n5440012345671,Ali\n", "missing required column(s) father_name"),
        ("typo.csv", (",".join(HEADER) + ",fathers_name\n").encode(), "unknown column(s) fathers_name"),
        ("zip.xlsx", b"PK\x03\x04garbage-not-a-workbook", "not a readable .xlsx"),
        ("people.txt", b"a,b\n", "unsupported file type"),
    ],
)
def test_bad_files_are_refused_clearly(rdb, principal, tmp_path, name, content, expect):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImportFileError) as exc:
        run(rdb, principal(), path)
    assert expect in exc.value.message
    assert count(rdb, Person) == 0


def test_non_utf8_reports_offset_and_line(rdb, principal, tmp_path):
    path = tmp_path / "cp1252.csv"
    good = write_csv(tmp_path / "g.csv", people(2)).read_bytes()
    path.write_bytes(good + b"5440000000991,Jos\xe9,F,,,M,1980,Quetta,,Rind\n")
    with pytest.raises(ImportFileError) as exc:
        run(rdb, principal(), path)
    assert f"byte offset {len(good) + 17}" in exc.value.message and "line 4" in exc.value.message


# ------------------------------------------------------------------------------------------ access


def test_permission_and_jurisdiction(rdb, principal, tmp_path):
    path = write_csv(tmp_path / "p.csv", people(2))
    with pytest.raises(PermissionDenied):
        run(rdb, principal("fingerprint_examiner"), path)
    # An operator of another district cannot import persons of Quetta.
    report = run(rdb, principal("cro_operator", "BA/QTA/PISHIN"), path)
    assert not report.ok and {e.column for e in report.errors} == {"police_station"}
    assert "outside your jurisdiction" in report.errors[0].message
    assert count(rdb, Person) == 0


def test_the_service_audits_a_refused_or_unreadable_import(rdb, principal, tmp_path):
    """The refusals are audited by import_persons_file itself, whatever adapter calls it (the CLI only
    prints): a role without records:import, and a file that cannot be read."""
    path = write_csv(tmp_path / "p.csv", people(1))
    examiner = principal("fingerprint_examiner")
    with pytest.raises(PermissionDenied):
        import_persons_file(rdb, examiner, path)
    (refused,) = audit_entries(rdb, action="access.refused", user_id=examiner.user_id)
    assert refused.outcome == "refused" and "p.csv" in (refused.query or "")
    with pytest.raises(ImportFileError):
        import_persons_file(rdb, principal(), tmp_path / "missing.csv")
    entries = [e for e in audit_entries(rdb, action="records.import") if e.outcome == "refused"]
    assert [e.target_id for e in entries] == ["missing.csv"]
    assert count(rdb, Person) == 0


# ------------------------------------------------------------------------------------------ CLI


def test_cli_import(rdb, tmp_path, monkeypatch):
    from crms.access.tokens import issue_token
    from crms.access.users import create_user
    from crms.cli.main import app

    with rdb.transaction() as s:
        token = issue_token(s, create_user(s, "importer1", "cro_operator", unit="BA"))
    monkeypatch.setenv("CRMS_DATABASE_URL", rdb.url)
    monkeypatch.setenv("CRMS_DATA_DIR", str(tmp_path / "data"))
    env = {"CRMS_TOKEN": token}
    runner = CliRunner()
    rows = people(3)
    rows[1]["district"] = "Nowhere"
    path = write_csv(tmp_path / "cli.csv", rows)
    r = runner.invoke(app, ["import", "persons", str(path)], env=env)
    assert r.exit_code == 2, r.output
    assert "row 3, column district" in r.output and "nothing written" in r.output
    r = runner.invoke(app, ["import", "persons", str(path), "--skip-invalid", "--json"], env=env)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["imported"] == 2 and out["rejected"] == 1 and Path(out["reject_file"]).exists()
    r = runner.invoke(app, ["import", "persons", str(tmp_path / "none.csv")], env=env)
    assert r.exit_code == 2 and "no such file" in r.output
    refused = [e for e in audit_entries(rdb, action="records.import") if e.outcome == "refused"]
    assert [e.target_id for e in refused] == ["cli.csv", "none.csv"]  # invalid rows; unreadable file
    assert count(rdb, Person) == 2


def test_phone_fast_path_agrees_with_phone_service(sqlite_db):
    from crms.access.principal import system_principal
    from crms.records.importer import _Validator
    from crms.records.phones import parse_phone

    with sqlite_db.transaction() as s:
        v = _Validator(s, system_principal())
        for text in (
            "0300-1234567",
            "+92 333 1234567",
            "0092-345-1234567",
            "۰۳۰۰۱۲۳۴۵۶۷",
            "0399 1234567",
            "081-2834567",
            "+1 202 555 0143",
            "0312 345678",
        ):
            phone = parse_phone(text)
            assert v.phone(text) == (phone.e164, phone.kind, phone.warnings), text


def test_cached_name_keys_agree_with_person_service(sqlite_db):
    from types import SimpleNamespace

    from crms.access.principal import system_principal
    from crms.records.importer import _Validator

    samples = [
        ("Muhammad Akbar", None, "محمد اکبر", None, "Haji Gul", None),
        ("Mohammad  Akbar", "Kakar", None, None, None, "حاجی گل"),
        (None, None, "عبدالغنی", "کاکڑ", None, "محمد اکبر"),
        ("Bibi Noor", None, None, None, "Juma Khan", None),
        ("Zahoor-Ahmed", "Rind", "ظہور احمد", None, "Sher Ali", "شیر علی"),
    ]
    with sqlite_db.transaction() as s:
        v = _Validator(s, system_principal())
        for _ in range(2):  # second pass from the cache
            for g_en, f_en, g_ur, f_ur, p_en, p_ur in samples:
                ns = SimpleNamespace(
                    given_name_en=g_en, family_name_en=f_en, given_name_ur=g_ur, family_name_ur=f_ur,
                    parentage_name_en=p_en, parentage_name_ur=p_ur,
                )  # fmt: skip
                svc.names._refresh_name_keys(ns)
                assert v.name_keys(ns) == (ns.name_key, ns.name_sound)


# ------------------------------------------------------------------------------------------ hostile workbooks

_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
)
_EXTERNAL = '<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>'


def _hostile_xlsx(tmp_path: Path, name: str, doctype: str, entity: str, member: str) -> Path:
    """A real workbook whose ``member`` XML gets a DOCTYPE with entities, one of them used in a cell."""
    import zipfile

    plain = write_xlsx(tmp_path / f"plain-{name}", people(2))
    out = tmp_path / name
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == member:
                text = data.decode()
                if text.startswith("<?xml"):
                    head, _, rest = text.partition("?>")
                    text = head + "?>" + doctype + rest
                else:
                    text = doctype + text
                if entity:
                    text = text.replace("Person", entity, 1)
                data = text.encode()
            dst.writestr(item, data)
    return out


@pytest.mark.parametrize(
    ("name", "doctype", "entity", "member"),
    [
        ("laughs.xlsx", _LAUGHS, "&lol3;", "xl/worksheets/sheet1.xml"),
        ("external.xlsx", _EXTERNAL, "&xxe;", "xl/worksheets/sheet1.xml"),
        ("laughs-book.xlsx", _LAUGHS, "", "xl/workbook.xml"),
        ("external-props.xlsx", _EXTERNAL, "", "docProps/core.xml"),
    ],
)
def test_hostile_xlsx_is_refused_exit_2_and_audited(
    rdb, tmp_path, monkeypatch, name, doctype, entity, member
):
    """Before: an entity declaration gave an uncaught ParseError traceback, exit 1 and no audit entry."""
    from crms.access.tokens import issue_token
    from crms.access.users import create_user
    from crms.cli.main import app

    path = _hostile_xlsx(tmp_path, name, doctype, entity, member)
    with rdb.transaction() as s:
        token = issue_token(s, create_user(s, f"imp_{name[:8]}", "cro_operator", unit="BA"))
    monkeypatch.setenv("CRMS_DATABASE_URL", rdb.url)
    monkeypatch.setenv("CRMS_DATA_DIR", str(tmp_path / "data"))
    r = CliRunner().invoke(app, ["import", "persons", str(path)], env={"CRMS_TOKEN": token})
    assert r.exit_code == 2, (r.exit_code, r.output, r.exception)
    assert "refused" in r.output and "entit" in r.output, r.output
    assert "Traceback" not in r.output
    refused = [e for e in audit_entries(rdb, action="records.import") if e.outcome == "refused"]
    assert [e.target_id for e in refused] == [name]
    assert count(rdb, Person) == 0


def test_hostile_xlsx_refused_by_the_service(rdb, principal, tmp_path):
    path = _hostile_xlsx(tmp_path, "l.xlsx", _LAUGHS, "&lol3;", "xl/worksheets/sheet1.xml")
    with pytest.raises(ImportFileError) as err:
        run(rdb, principal(), path)
    assert err.value.field == "file" and "entit" in err.value.message


# ------------------------------------------------------------------------------ phases (issue 21.10)


def _probe_writer(db) -> None:
    """Another writer with no patience: it fails at once if someone holds the write lock."""
    if db.is_sqlite:
        import sqlite3

        con = sqlite3.connect(db.url.split("///", 1)[1], timeout=0.2, isolation_level=None)
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute("INSERT INTO rate_limits (key, tokens, updated_at) VALUES ('probe', 1, '2026-01-01')")
            con.execute("COMMIT")
        finally:
            con.close()
    else:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("SET lock_timeout = '200ms'")
            conn.exec_driver_sql(
                "INSERT INTO rate_limits (key, tokens, updated_at) VALUES ('probe', 1, '2026-01-01')"
            )
            conn.commit()


def test_import_validates_without_holding_the_write_lock(rdb, principal, tmp_path):
    """Before: the import held SQLite's write lock for its whole run (reads and writes of the server stalled
    10-26 s on large files). Now the rows are validated in a read transaction: another writer commits while
    the import validates, and the import then writes in one short transaction."""
    op = principal()
    path = write_csv(tmp_path / "reg.csv", people(30))
    probed = []

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "validate" and not probed:
            _probe_writer(rdb)  # before: sqlite3.OperationalError: database is locked
            probed.append(done)

    report = import_persons_file(rdb, op, path, progress=progress)
    assert probed and report.ok and report.imported == 30
    assert count(rdb, Person) == 30


def test_a_cnic_registered_while_the_import_validates_is_caught_at_write(rdb, principal, tmp_path):
    """What another writer adds between validation and write is checked again in the write transaction: a
    CNIC now recorded for someone else rejects its row and, all or nothing, the import writes nothing."""
    op = principal()
    rows = people(5)
    path = write_csv(tmp_path / "reg.csv", rows)
    done = []

    def progress(stage: str, n: int, total: int) -> None:
        if stage == "validate" and not done:
            with rdb.transaction() as s:
                svc.register_person(
                    s,
                    op,
                    person_data(
                        given_name_en="Somebody Else",
                        documents=[{"doc_type": "CNIC", "number": rows[2]["cnic"]}],
                    ),
                )
            done.append(n)

    report = import_persons_file(rdb, op, path, progress=progress)
    assert done and not report.ok and report.imported == 0
    assert [(e.row, e.column) for e in report.errors] == [(4, "cnic")]
    assert count(rdb, Person) == 1  # only the concurrent registration
    refused = [e for e in audit_entries(rdb, action="records.import") if e.outcome == "refused"]
    assert len(refused) == 1


def test_rows_dropped_at_write_with_skip_invalid_keep_each_persons_own_details(rdb, principal, tmp_path):
    """The rows are converted for writing before the write transaction; when its re-check drops one (a CNIC
    registered meanwhile) with --skip-invalid, the others are written with their own CNICs, phones,
    aliases and addresses (none shifted onto a neighbour)."""
    op = principal()
    rows = people(4)
    for i, r in enumerate(rows):
        r.update(phone=f"0300-12345{i:02d}", alias=f"Alias {chr(65 + i)}", address=f"Street {i}")
    path = write_csv(tmp_path / "reg.csv", rows)
    done = []

    def progress(stage: str, n: int, total: int) -> None:
        if stage == "validate" and not done:
            with rdb.transaction() as s:
                svc.register_person(
                    s,
                    op,
                    person_data(
                        given_name_en="Somebody Else",
                        documents=[{"doc_type": "CNIC", "number": rows[0]["cnic"]}],
                    ),
                )
            done.append(n)

    report = import_persons_file(
        rdb, op, path, skip_invalid=True, reject_file=tmp_path / "rej.csv", progress=progress
    )
    assert done and report.ok and report.imported == 3 and report.rejected == 1
    with rdb.transaction() as s:
        for i, r in enumerate(rows[1:], start=1):
            (p,) = s.scalars(select(Person).where(Person.given_name_en == r["name"])).all()
            assert [d.number for d in p.documents] == [r["cnic"].replace("-", "")]
            assert [ph.e164 for ph in p.phones] == [f"+9230012345{i:02d}"]
            assert [a.name for a in p.aliases] == [f"Alias {chr(65 + i)}"]
            assert [a.text for a in p.addresses] == [f"Street {i}"]


def test_a_failure_while_writing_leaves_nothing(rdb, principal, tmp_path, monkeypatch):
    from crms.records import importer

    op = principal()
    path = write_csv(tmp_path / "reg.csv", people(20))
    real_bulk, real_copy = importer._bulk, import_stage.copy_in

    def failing_bulk(session, table, columns, rows):  # PostgreSQL: rows inserted from Python
        if table.name == "addresses":
            raise RuntimeError("disk full")
        real_bulk(session, table, columns, rows)

    def failing_copy(session, table, *args):  # SQLite: rows copied in from the staging database
        if table.name == "addresses":
            raise RuntimeError("disk full")
        real_copy(session, table, *args)

    monkeypatch.setattr(importer, "_bulk", failing_bulk)
    monkeypatch.setattr(import_stage, "copy_in", failing_copy)
    with pytest.raises(RuntimeError):
        import_persons_file(rdb, op, path)
    assert count(rdb, Person) == 0 and count(rdb, IdentityDocument) == 0 and count(rdb, Address) == 0
    assert _staging_files(rdb) == []  # the staging database is removed on failure too


def _staging_files(db) -> list[Path]:
    db_file = sqlite_file(db.url)
    return sorted(db_file.parent.glob(f"{import_stage.PREFIX}*")) if db_file else []


def test_import_writes_its_rows_in_batches_without_holding_the_write_lock(
    rdb, principal, tmp_path, monkeypatch
):
    """Before: the write transaction inserted every row while holding SQLite's write lock (11 s for 130,000
    persons, every request waiting). Now, on SQLite, the rows are written in batches into a staging database
    while other writers commit, and only the final copy holds the lock; nothing is visible before it."""
    if not rdb.is_sqlite:
        pytest.skip("PostgreSQL: an import's transaction locks no other writer (row locks only)")
    monkeypatch.setattr(import_stage, "BATCH", 7)
    op = principal()
    rows = people(30)
    for i, r in enumerate(rows):
        r.update(phone=f"0300-12345{i:02d}", alias=f"Alias {i}", address=f"Street {i}")
    path = write_csv(tmp_path / "reg.csv", rows)
    stages, seen = [], []

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "stage":
            if not stages:
                _probe_writer(rdb)  # before: no staging; the rows were written under the lock
            stages.append(done)
            seen.append(count(rdb, Person))
            assert len(_staging_files(rdb)) == 1

    report = import_persons_file(rdb, op, path, progress=progress)
    assert report.ok and report.imported == 30
    assert len(stages) > 4 and stages == sorted(stages) and stages[-1] == 5 * 30  # 5 tables, batches of 7
    assert set(seen) == {0}  # nothing of the import visible while it was staged
    assert count(rdb, Person) == 30 and _staging_files(rdb) == []
    with rdb.transaction() as s:
        for i, r in enumerate(rows):
            (p,) = s.scalars(select(Person).where(Person.given_name_en == r["name"])).all()
            assert p.id in report.person_ids
            assert [d.number for d in p.documents] == [r["cnic"].replace("-", "")]
            assert [ph.e164 for ph in p.phones] == [f"+9230012345{i:02d}"]
            assert [a.name for a in p.aliases] == [f"Alias {i}"]
            assert [a.text for a in p.addresses] == [f"Street {i}"]


def test_a_staging_file_left_by_a_killed_import_is_removed_by_the_next(rdb, principal, tmp_path):
    if not rdb.is_sqlite:
        pytest.skip("the staging database is SQLite's")
    import subprocess
    import sys

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    db_dir = sqlite_file(rdb.url).parent
    stale = db_dir / f"{import_stage.PREFIX}{int(dead.stdout)}-abc.sqlite3"
    stale.write_bytes(b"")
    mine = db_dir / f"{import_stage.PREFIX}{os.getpid()}-live.sqlite3"  # a running import's: kept
    mine.write_bytes(b"")
    report = import_persons_file(rdb, principal(), write_csv(tmp_path / "reg.csv", people(3)))
    assert report.ok and not stale.exists() and mine.exists()
    mine.unlink()


_KILLED_IMPORT = """
import os, signal, sys
from crms.access.principal import system_principal
from crms.db import Database
from crms.records.importer import import_persons_file

def progress(stage, done, total):
    if stage == "write":  # rows inserted, not yet committed
        print("killing", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

import_persons_file(Database(sys.argv[1]), system_principal("cli"), sys.argv[2], progress=progress)
"""


def test_kill_9_during_the_write_leaves_nothing(rdb, tmp_path):
    """A ``kill -9`` of the importing process after its rows are inserted, before the commit: nothing of it
    is in the database (the write is one transaction)."""
    import os
    import signal
    import subprocess
    import sys

    path = write_csv(tmp_path / "reg.csv", people(50))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_IMPORT, rdb.url, str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert "killing" in done.stdout
    assert count(rdb, Person) == 0 and count(rdb, IdentityDocument) == 0 and count(rdb, Address) == 0


def test_dates_as_registers_write_them_are_read_day_first(rdb, principal, tmp_path):
    """A register typed in Pakistan writes a date day first (14/03/1985, 14.03.1985 as on the CNIC card,
    Excel's 14-Mar-1985): the import reads each as that day. One written month first, one of two-digit year
    and one the calendar lacks are refused by kind, naming the column; nothing is written."""
    op = principal()
    rows = people(4)
    for r, written in zip(rows, ("14/03/1985", "14.03.1985", "14-Mar-1985", "1985-03-14"), strict=True):
        r["date_of_birth"] = written
    report = run(rdb, op, write_csv(tmp_path / "days.csv", rows))
    assert report.ok and report.imported == 4, [e.message for e in report.errors]
    with rdb.transaction() as s:
        assert set(s.scalars(select(Person.date_of_birth))) == {date(1985, 3, 14)}

    rows = people(3, start=10)
    for r, written in zip(rows, ("03/14/1985", "14/03/85", "1990-02-30"), strict=True):
        r["date_of_birth"] = written
    report = run(rdb, op, write_csv(tmp_path / "bad-days.csv", rows))
    assert not report.ok and count(rdb, Person) == 4
    said = {e.row: e.as_dict() for e in report.errors}
    assert {e.column for e in report.errors} == {"date_of_birth"}
    assert [said[n]["type"] for n in (2, 3, 4)] == ["date_no_such_day", "date_short_year", "date_no_such_day"]
    assert said[2]["values"] == {"value": "03/14/1985", "day": 3, "month": 14, "year": 1985}
    assert "read as day 3, month 14, year 1985" in said[2]["message"]


def test_a_name_in_the_other_script_names_the_column_it_goes_in(rdb, principal, tmp_path):
    """A register with the Urdu name in the English column (or an Urdu alias in ``alias``): the refusal
    names the column for it (name_urdu, alias_urdu), not the API's field or an alias's script."""
    rows = people(2)
    rows[0]["name"] = "عبدالغنی"
    rows[1]["father_name_urdu"] = "Gul Khan"
    rows[1]["alias"] = "Gul;گل"
    report = run(rdb, principal(), write_csv(tmp_path / "scripts.csv", rows))
    said = {(e.row, e.column): e.as_dict() for e in report.errors}
    for where, kind, other in (
        ((2, "name"), "name_script_arabic", "name_urdu"),
        ((3, "father_name_urdu"), "name_script_latin", "father_name"),
        ((3, "alias"), "name_script_arabic", "alias_urdu"),
    ):
        assert (said[where]["type"], said[where]["values"]) == (kind, {"other": other}), where
        assert said[where]["message"].endswith(f" spelling in {other}"), said[where]["message"]
    assert len(said) == 3
