"""``crms fp capture`` and ``crms fp prints`` against a real database (both backends): the prints of several
fingers stored in one transaction with their quality and resolution said, a refused file storing none, the
person's fingers listed and the read audited."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import func, select

from tests.biometrics.test_enrolment import failed_recapture, finger, make_person


@pytest.fixture
def cli(db, cli_env):
    """cli(*args, as_user="operator"|"auditor"): crms ARGS as a CRO operator or an auditor of BA."""
    from crms.access.tokens import issue_token
    from crms.access.users import create_user

    with db.transaction() as s:
        operator = issue_token(s, create_user(s, "op_prints", "cro_operator", unit="BA"))
        auditor = issue_token(s, create_user(s, "aud_prints", "auditor", unit="BA"))
    return lambda *args, as_user="operator": cli_env(operator if as_user == "operator" else auditor, *args)


def _files(tmp_path):
    """Three prints: a clean one tagged 500 ppi, one without a resolution, one washed out."""
    from PIL import Image, ImageFilter

    clean, untagged, faint = tmp_path / "thumb.png", tmp_path / "index.png", tmp_path / "middle.png"
    clean.write_bytes(finger(0, 1))
    Image.open(io.BytesIO(finger(1, 2))).save(untagged, format="PNG")
    washed = Image.eval(
        Image.open(io.BytesIO(finger(2, 3))).filter(ImageFilter.GaussianBlur(4)), lambda v: 200 + v // 10
    )
    washed.save(faint, format="PNG", dpi=(500, 500))
    return clean, untagged, faint


def _count_prints(db) -> int:
    from crms.biometrics.models import Fingerprint

    with db.transaction() as s:
        return s.scalar(select(func.count()).select_from(Fingerprint))


def test_capture_stores_the_fingers_and_says_quality_and_resolution(cli, db, tmp_path):
    pid = make_person(db)
    clean, untagged, faint = _files(tmp_path)
    r = cli("fp", "capture", str(pid), f"1={clean}", f"2={untagged}", f"3={faint}", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    by = {p["position"]: p for p in out["captured"]}
    assert sorted(by) == [1, 2, 3] and {p["status"] for p in by.values()} == {"pending"}
    assert (by[1]["image"]["ppi"], by[1]["image"]["ppi_source"]) == (500, "file")
    assert by[2]["image"]["ppi_source"] == "estimated" and 400 <= by[2]["image"]["ppi"] <= 620
    assert by[1]["capture_quality"]["ok"] and not by[3]["capture_quality"]["ok"]
    assert by[3]["capture_quality"]["problems"] and by[3]["file"] == str(faint)
    # in words: the poor print's reason and the estimate's, one line per finger
    r = cli("fp", "capture", str(pid), f"3={clean}", f"4={faint}")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].startswith("finger 3 (right_middle): print ") and "✓" in lines[0]
    assert "below the enrolment threshold" in lines[1] and "capture the finger again" in lines[1]
    assert "500 ppi (file: the file's tag (500 ppi)" in lines[0]
    assert "crms fp enrol-pending" in r.stderr


def test_one_refused_file_stores_none_of_them(cli, db, tmp_path):
    pid = make_person(db)
    clean, untagged, _ = _files(tmp_path)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all")
    before = _count_prints(db)
    r = cli("fp", "capture", str(pid), f"1={clean}", f"2={junk}")
    assert r.exit_code == 2 and "junk.png" in r.output and "not a supported image" in r.output, r.output
    for bad, said in (
        ([f"1{clean}"], "write FINGER=FILE"),
        ([f"1={clean}", f"1={untagged}"], "given twice"),
        ([f"1={tmp_path / 'absent.png'}"], "cannot read"),
        ([f"11={clean}"], "position"),
        ([f"1={clean}", "--ppi", "100"], "outside 250-1500"),
    ):
        r = cli("fp", "capture", str(pid), *bad)
        assert r.exit_code == 2 and said in r.output, (bad, r.output)
    small = tmp_path / "small.png"
    from PIL import Image

    im = Image.open(io.BytesIO(finger(3, 4)))
    im.resize((im.width // 3, im.height // 3), Image.Resampling.LANCZOS).save(small, format="PNG")
    r = cli("fp", "capture", str(pid), f"4={small}")
    assert r.exit_code == 2 and "ppi" in r.output and "give the scanner's resolution" in r.output, r.output
    assert cli("fp", "capture", "999999", f"1={clean}").exit_code == 1
    for files in ([f"1={clean}"], [f"1={junk}"]):  # refused before any file is read
        r = cli("fp", "capture", str(pid), *files, as_user="auditor")
        assert r.exit_code == 3 and "junk" not in r.output, r.output
    assert _count_prints(db) == before


def test_prints_lists_the_fingers_and_audits_the_read(cli, db, tmp_path):
    from crms.access.models import AuditEntry

    pid = make_person(db)
    clean, untagged, _ = _files(tmp_path)
    assert cli("fp", "capture", str(pid), f"1={clean}", f"2={untagged}").exit_code == 0
    assert cli("fp", "mark-missing", str(pid), "10", "amputated", "--note", "war wound").exit_code == 0
    assert cli("fp", "capture", str(pid), f"1={untagged}").exit_code == 0  # a recapture: the first retired
    r = cli("fp", "prints", str(pid), "--reason", "record check", "--history")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == f"person {pid}: 0 enrolled, 2 pending, 0 failed"
    assert (
        lines[1].startswith(" 1 right_thumb: print ") and "pending" in lines[1] and "(estimated: " in lines[1]
    )
    assert lines[3] == " 3 right_middle: not captured"
    assert lines[10] == "10 left_little: cannot be printed: amputated — war wound"
    assert lines[11].startswith("   retired print ") and "of finger 1" in lines[11]
    r = cli("fp", "prints", str(pid), "--json")
    listed = json.loads(r.stdout)
    assert [f["state"] for f in listed["fingers"]][:3] == ["captured", "captured", "not_captured"]
    assert cli("fp", "prints", "999999").exit_code == 1
    with db.transaction() as s:
        reads = s.scalars(select(AuditEntry).where(AuditEntry.action == "biometric.read")).all()
    assert [e.reason for e in reads] == ["record check", None]


def test_prints_says_a_later_capture_failed_and_why(cli, db, tmp_path):
    pid = make_person(db)
    clean, _, _ = _files(tmp_path)
    assert cli("fp", "capture", str(pid), f"1={clean}").exit_code == 0
    bad = failed_recapture(db, pid, 1, "only 3 usable minutiae found, at least 12 needed")
    r = cli("fp", "prints", str(pid))
    line = r.stdout.splitlines()[1]
    assert line.startswith(" 1 right_thumb: print ") and "pending" in line, r.output
    said = f"; a later capture (print {bad}) could not be enrolled — only 3 usable minutiae found"
    assert line.endswith(said + ", at least 12 needed"), line
    listed = json.loads(cli("fp", "prints", str(pid), "--json").stdout)
    assert listed["fingers"][0]["recapture_failed"]["id"] == bad
