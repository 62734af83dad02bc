"""The reference-data API: reading needs a login; editing needs the administrator's reference:edit."""

from __future__ import annotations

from sqlalchemy import select

from crms.access.models import AuditEntry
from crms.records.reference import District


def test_reading_needs_a_login(client):
    response = client.get("/api/v1/reference/districts")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


def test_lists(client, make_user):
    _, headers = make_user("investigating_officer", unit="BA/QTA/QUETTA")
    divisions = client.get("/api/v1/reference/divisions", headers=headers).json()
    assert {d["code"] for d in divisions["items"]} >= {"QTA", "LRL", "RKN"}
    districts = client.get("/api/v1/reference/districts?division=QTA", headers=headers).json()["items"]
    assert {d["code"] for d in districts} == {"QUETTA", "PISHIN", "KAREZAT", "KILLA-ABDULLAH", "CHAMAN"}
    chaman = next(d for d in districts if d["code"] == "CHAMAN")
    assert chaman["name_ur"] == "چمن" and chaman["valid_from"] == "2021-06-29" and chaman["current"] is True

    url = "/api/v1/reference/police-stations?district=Quetta"
    current = client.get(url, headers=headers).json()["items"]
    historical = client.get(url + "&include_historical=true", headers=headers).json()["items"]
    assert "QUETTA-LEVIES-KUCHLAK" not in {s["code"] for s in current}
    levies = next(s for s in historical if s["code"] == "QUETTA-LEVIES-KUCHLAK")
    assert levies["current"] is False and levies["merged_into_code"] == "QUETTA-KUCHLAK"
    assert levies["unit_path"] == "BA/QTA/QUETTA/QUETTA-LEVIES-KUCHLAK"

    bad = client.get("/api/v1/reference/police-stations?district=Atlantis", headers=headers)
    assert bad.status_code == 422 and bad.json()["field"] == "district"

    statutes = client.get("/api/v1/reference/statutes", headers=headers).json()["items"]
    assert {"PPC", "CRPC", "CNSA", "AO1965", "ATA", "PO1979", "FA1946"} <= {s["code"] for s in statutes}
    sections = client.get("/api/v1/reference/statutes/ppc/sections", headers=headers).json()["items"]
    by_section = {s["section"]: s["title"] for s in sections}
    assert by_section["302"] == "Punishment of qatl-i-amd"
    assert by_section["489-F"] == "Dishonestly issuing a cheque"
    assert [s["section"] for s in sections][:3] == ["34", "109", "114"]  # numeric order
    assert client.get("/api/v1/reference/statutes/XYZ/sections", headers=headers).status_code == 404


def test_parse_endpoint(client, make_user):
    _, headers = make_user("cro_operator")
    ok = client.get("/api/v1/reference/offences/parse", params={"text": "9-C CNSA 1997"}, headers=headers)
    assert ok.json()["items"] == [{"statute": "CNSA", "section": "9", "subclause": "c"}]
    bad = client.get("/api/v1/reference/offences/parse", params={"text": "302/999 PPC"}, headers=headers)
    assert bad.status_code == 422
    assert bad.json()["field"] == "sections" and "PPC 999" in bad.json()["detail"]


def test_admin_edits_and_others_may_not(client, make_user, db):
    _, admin = make_user("administrator")
    _, operator = make_user("cro_operator")
    body = {"name_en": "New Town", "name_ur": "نیو ٹاؤن", "district_code": "QUETTA", "kind": "police"}
    refused = client.put("/api/v1/reference/police-stations/QUETTA-NEW-TOWN", json=body, headers=operator)
    assert refused.status_code == 403
    created = client.put("/api/v1/reference/police-stations/QUETTA-NEW-TOWN", json=body, headers=admin)
    assert created.status_code == 200, created.text
    assert created.json()["unit_path"] == "BA/QTA/QUETTA/QUETTA-NEW-TOWN"

    merged = client.put(
        "/api/v1/reference/police-stations/QUETTA-NEW-TOWN",
        json={"valid_to": "2026-06-01", "merged_into_code": "QUETTA-CITY"},
        headers=admin,
    )
    assert merged.status_code == 200 and merged.json()["current"] is False

    bad = client.put("/api/v1/reference/districts/QUETTA", json={"valid_from": "yesterday"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["field"] == "valid_from"
    number = client.put("/api/v1/reference/districts/QUETTA", json={"valid_to": 0}, headers=admin)
    assert number.status_code == 422 and "YYYY-MM-DD" in number.json()["detail"], number.text  # not 1970
    unknown = client.put("/api/v1/reference/districts/QUETTA", json={"division_code": "NOPE"}, headers=admin)
    assert unknown.status_code == 422 and unknown.json()["field"] == "division_code"
    extra = client.put("/api/v1/reference/districts/QUETTA", json={"colour": "red"}, headers=admin)
    assert extra.status_code == 422

    section = client.put(
        "/api/v1/reference/statutes/PPC/sections/343",
        json={"title": "Wrongful confinement for three or more days"},
        headers=admin,
    )
    assert section.status_code == 200 and section.json()["section"] == "343"

    with db.transaction() as session:
        assert session.get(District, "QUETTA").division_code == "QTA"
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.target_type.in_(["police_station", "section"]))
        ).all()
        assert sorted(actions) == ["reference.create", "reference.create", "reference.update"]
