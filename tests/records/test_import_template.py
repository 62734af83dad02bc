"""The register's template, wherever a register is imported: ``crms import template``, the import page's
link (``/import/template.csv``) and the page's short guide. The template is the importer's own columns with
example rows that the importer takes as they are, so it cannot drift from the rules."""

from __future__ import annotations

import csv
import html
import io
import re

import pytest
from typer.testing import CliRunner

from crms.records.importer import ALL_COLUMNS, REQUIRED_COLUMNS, import_persons, template_csv

from ._support import principal, rdb, signed_in  # noqa: F401

CSRF = r'name="csrf_token" value="([^"]+)"'


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def test_the_template_has_every_column_and_examples_the_importer_takes_as_they_are(rdb, principal, tmp_path):  # noqa: F811
    assert _rows(template_csv()) == [list(ALL_COLUMNS)]  # no example row to be imported by mistake
    text = template_csv(examples=True)
    assert text.startswith("\ufeff")  # Excel reads UTF-8 by its byte-order mark: the Urdu columns read right
    header, *examples = _rows(text)
    assert tuple(header) == ALL_COLUMNS and len(examples) >= 2
    assert all(len(r) == len(header) for r in examples)
    by_name = [dict(zip(header, r, strict=True)) for r in examples]
    assert any(r["name_urdu"] for r in by_name) and any(not r["cnic"] for r in by_name)
    assert any(re.fullmatch(r"\d\d/\d\d/\d{4}", r["date_of_birth"]) for r in by_name)  # the day first
    path = tmp_path / "template.csv"
    path.write_text(text, encoding="utf-8")
    with rdb.transaction() as session:
        report = import_persons(session, principal(), path)
    assert report.ok and report.imported == len(examples), [e.message for e in report.errors]
    assert not report.warnings, [w.message for w in report.warnings]


def test_crms_import_template_prints_it_or_writes_it(tmp_path):
    from crms.cli.main import app

    runner = CliRunner()
    r = runner.invoke(app, ["import", "template"])
    assert r.exit_code == 0, r.output
    assert r.stdout == template_csv()
    r = runner.invoke(app, ["import", "template", "--examples"])
    assert r.exit_code == 0 and r.stdout == template_csv(examples=True)
    out = tmp_path / "register.csv"
    r = runner.invoke(app, ["import", "template", "--out", str(out)])
    assert r.exit_code == 0 and str(out) in r.output
    assert out.read_text(encoding="utf-8") == template_csv()
    r = runner.invoke(app, ["import", "template", "--out", str(out)])
    assert r.exit_code == 2 and "already exists" in r.output  # an operator's register is never overwritten
    assert out.read_text(encoding="utf-8") == template_csv()


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_the_import_page_offers_the_template_and_says_how_to_fill_it_in(app, db):
    with signed_in(app, db, "cro_operator") as (c, _):
        page = c.get("/import")
        assert page.status_code == 200
        assert 'href="/import/template.csv"' in page.text and "download" in page.text
        text = html.unescape(page.text)
        for column in REQUIRED_COLUMNS:
            assert column in text
        assert "14/03/1985" in text
        r = c.get("/import/template.csv")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert 'filename="register-template.csv"' in r.headers["content-disposition"]
        assert r.content.decode("utf-8") == template_csv()
        c.cookies.set("crms_lang", "ur")
        text = html.unescape(c.get("/import").text)
        guide = text[text.index('<section class="guide"') :]
        guide = guide[: guide.index("</section>")]
        assert "نمونہ" in guide and "14/03/1985" in guide and 'lang="en"' not in guide
    with signed_in(app, db, "investigating_officer") as (c, _):  # a role that may not import
        assert c.get("/import/template.csv").status_code == 403
