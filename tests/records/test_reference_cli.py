"""``crms reference`` commands against a real (SQLite) database."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from crms.cli.main import app


def test_reference_cli(sqlite_db, monkeypatch):
    monkeypatch.setenv("CRMS_DATABASE_URL", sqlite_db.url)
    runner = CliRunner()
    loaded = runner.invoke(app, ["reference", "load"])
    assert loaded.exit_code == 0 and "0 inserted" in loaded.output
    stations = runner.invoke(app, ["reference", "stations", "--district", "Quetta", "--historical", "--json"])
    codes = {s["code"] for s in json.loads(stations.output)}
    assert {"QUETTA-CANTT", "QUETTA-LEVIES-KUCHLAK"} <= codes
    parsed = runner.invoke(app, ["reference", "parse", "13/20/65 AO"])
    assert json.loads(parsed.output) == [{"statute": "AO1965", "section": "13", "subclause": None}]
    bad = runner.invoke(app, ["reference", "parse", "302/999 PPC"])
    assert bad.exit_code == 2 and "PPC 999" in bad.output
    unknown = runner.invoke(app, ["reference", "stations", "--district", "Atlantis"])
    assert unknown.exit_code == 2 and "Atlantis" in unknown.output
