"""The records REST API on SQLite and PostgreSQL: CRUD, CNIC lookup (404 problem+json when unknown),
pagination, problem+json naming the failing field, permission refusals; a failed request writes nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from crms.records.models import Case, Person

from ._support import audit_entries, case_data, person_data

CNIC = "54400-1234567-3"
PROBLEM = "application/problem+json"


def _register(client, headers, **kw):
    r = client.post("/api/v1/persons", json=person_data(**kw), headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def test_person_crud_and_full_record(client, make_user, db):
    _, op = make_user("cro_operator", unit="BA/QTA/QUETTA")
    body = _register(
        client,
        op,
        documents=[{"doc_type": "CNIC", "number": "۵۴۴۰۰-۱۲۳۴۵۶۷-۳"}],
        phones=["03001234567"],
        addresses=[{"kind": "present", "district": "Quetta", "police_station": "Cantt"}],
    )
    pid = body["person"]["id"]
    assert body["person"]["documents"][0]["formatted"] == CNIC and body["warnings"] == []

    r = client.patch(f"/api/v1/persons/{pid}", json={"caste": "Kasi"}, headers=op)
    assert r.status_code == 200 and r.json()["caste"] == "Kasi"
    r = client.post(
        f"/api/v1/persons/{pid}/documents", json={"doc_type": "PASSPORT", "number": "AB1234567"}, headers=op
    )
    assert r.status_code == 201
    assert (
        client.post(f"/api/v1/persons/{pid}/aliases", json={"name": "Rafiq"}, headers=op).status_code == 201
    )
    assert (
        client.post(f"/api/v1/persons/{pid}/phones", json={"number": "0333 1112223"}, headers=op).status_code
        == 201
    )
    r = client.post(
        f"/api/v1/persons/{pid}/descriptions",
        json={
            "observed_on": "2024-01-05",
            "height_cm": 168,
            "marks": [{"kind": "tattoo", "body_location": "right hand"}],
        },
        headers=op,
    )
    assert r.status_code == 201
    r = client.post(
        f"/api/v1/persons/{pid}/addresses", json={"kind": "permanent", "district": "Zhob"}, headers=op
    )
    assert r.status_code == 201 and r.json()["district"] == "ZHOB"

    case = client.post("/api/v1/cases", json=case_data(), headers=op)
    assert case.status_code == 201, case.text
    case_id = case.json()["id"]
    link = client.post(
        f"/api/v1/cases/{case_id}/links", json={"person_id": pid, "role": "accused"}, headers=op
    )
    assert link.status_code == 201
    link_id = link.json()["link_id"]
    assert (
        client.post(f"/api/v1/links/{link_id}/status", json={"status": "absconder"}, headers=op).status_code
        == 200
    )
    r = client.post(f"/api/v1/links/{link_id}/arrests", json={"arrested_on": "2024-04-01"}, headers=op)
    assert r.status_code == 201
    r = client.post(f"/api/v1/cases/{case_id}/status", json={"status": "under_investigation"}, headers=op)
    assert r.status_code == 200 and r.json()["status"] == "under_investigation"
    r = client.patch(f"/api/v1/links/{link_id}", json={"gang": "Sariab group"}, headers=op)
    assert r.status_code == 200 and r.json()["gang"] == "Sariab group"

    full = client.get(f"/api/v1/persons/{pid}", headers=op).json()
    assert {d["doc_type"] for d in full["documents"]} == {"CNIC", "PASSPORT"}
    assert full["descriptions"][0]["marks"][0]["kind"] == "tattoo"
    c = full["cases"][0]
    assert [h["to"] for h in c["status_history"]] == ["named", "absconder", "arrested"]
    assert [f["active"] for f in full["flags"]] == [False, False]

    got = client.get(f"/api/v1/cases/{case_id}", headers=op).json()
    assert got["parties"][0]["person_id"] == pid and len(got["status_history"]) == 2
    by_fir = client.get("/api/v1/cases/by-fir?police_station=Cantt&fir_number=112&year=2024", headers=op)
    assert by_fir.status_code == 200 and by_fir.json()["id"] == case_id
    assert client.get("/api/v1/cases?district=Quetta", headers=op).json()["total"] == 1


def test_cnic_lookup(client, make_user, db):
    _, op = make_user("cro_operator")
    pid = _register(client, op, documents=[{"doc_type": "CNIC", "number": CNIC}])["person"]["id"]
    r = client.get(
        "/api/v1/persons", params={"cnic": "۵۴۴۰۰ ۱۲۳۴۵۶۷ ۳", "reason": "FIR 112/2024 Cantt"}, headers=op
    )
    assert r.status_code == 200, r.text
    found = r.json()
    assert found["id"] == pid and found["documents"][0]["number"] == "5440012345673"
    assert found["summary"] == {
        "cases": 0,
        "cases_as_accused": 0,
        "convictions": 0,
        "pending": 0,
        "active_flags": [],
        "active_flags_labels": [],
    }
    assert found["flags"] == [] and found["cnic"]["province"] == "Balochistan"

    missing = client.get(
        "/api/v1/persons", params={"cnic": "54400-7654321-3", "reason": "checkpost"}, headers=op
    )
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith(PROBLEM)
    assert missing.json()["field"] == "cnic" and "no person" in missing.json()["detail"]

    bad = client.get("/api/v1/persons", params={"cnic": "94400-1234567-3", "reason": "checkpost"}, headers=op)
    assert bad.status_code == 422 and bad.json()["field"] == "cnic"
    no_reason = client.get("/api/v1/persons", params={"cnic": CNIC}, headers=op)
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"

    searches = audit_entries(db, action="search.cnic")
    assert [(e.target_id, e.outcome, e.detail) for e in searches] == [
        (str(pid), "ok", None),
        (None, "ok", "not found"),
    ]
    assert searches[1].reason == "checkpost" and "5440076543213" in searches[1].query


def test_problem_json_names_the_field_and_nothing_is_written(client, make_user, db):
    _, op = make_user("cro_operator")
    cases = [
        ({"given_name_en": "A" * 101}, "given_name_en"),
        ({"documents": [{"doc_type": "CNIC", "number": "123"}]}, "documents.0.number"),
        ({"addresses": [{"kind": "present", "district": "Atlantis"}]}, "addresses.0.district"),
        ({"date_of_birth": "2999-01-01"}, "date_of_birth"),
        ({"gender": "Q"}, "gender"),
        ({"given_name_en": None, "given_name_ur": None}, "given_name_en"),
    ]
    for changes, field in cases:
        r = client.post("/api/v1/persons", json=person_data(**changes), headers=op)
        assert r.status_code == 422, (changes, r.text)
        assert r.headers["content-type"].startswith(PROBLEM)
        assert r.json()["field"] == field, r.json()
    _register(client, op, documents=[{"doc_type": "CNIC", "number": CNIC}])
    dup = client.post(
        "/api/v1/persons",
        json=person_data(given_name_en="Other", documents=[{"doc_type": "CNIC", "number": CNIC}]),
        headers=op,
    )
    assert dup.status_code == 409 and dup.json()["field"] == "documents.0.number"
    r = client.post("/api/v1/cases", json=case_data(sections="392/411/34 PPC, 9999 PPC"), headers=op)
    assert r.status_code == 422 and r.json()["field"] == "sections"
    assert client.post("/api/v1/cases", json=case_data(), headers=op).status_code == 201
    r = client.post("/api/v1/cases", json=case_data(), headers=op)
    assert r.status_code == 409 and r.json()["field"] == "fir_number"
    r = client.post("/api/v1/cases", json=case_data(police_station="Atlantis"), headers=op)
    assert r.status_code == 422 and r.json()["field"] == "police_station"
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == 1
        assert session.scalar(select(func.count()).select_from(Case)) == 1


def test_pagination(client, make_user):
    _, op = make_user("cro_operator")
    ids = [_register(client, op, given_name_en=f"Person {chr(65 + i)}")["person"]["id"] for i in range(5)]
    page = client.get("/api/v1/persons?limit=2&offset=1&reason=register+check", headers=op).json()
    assert page["total"] == 5 and [p["id"] for p in page["items"]] == ids[::-1][1:3]
    r = client.get("/api/v1/persons?limit=0&reason=register+check", headers=op)
    assert r.status_code == 422 and r.json()["field"] == "limit"


def test_permission_refusals(client, make_user, db):
    _, auditor = make_user("auditor")
    r = client.post("/api/v1/persons", json=person_data(), headers=auditor)
    assert r.status_code == 403 and r.headers["content-type"].startswith(PROBLEM)
    assert client.get("/api/v1/persons", headers=auditor).status_code == 403
    assert client.post("/api/v1/persons", json=person_data()).status_code == 401

    _, quetta = make_user("cro_operator", unit="BA/QTA/QUETTA")
    _, kech = make_user("cro_operator", unit="BA/MKN/KECH")
    case_id = client.post("/api/v1/cases", json=case_data(), headers=quetta).json()["id"]
    pid = _register(client, quetta)["person"]["id"]
    r = client.post(f"/api/v1/cases/{case_id}/status", json={"status": "under_investigation"}, headers=kech)
    assert r.status_code == 403
    assert client.patch(f"/api/v1/persons/{pid}", json={"caste": "x"}, headers=kech).status_code == 403
    assert client.post("/api/v1/cases", json=case_data(), headers=kech).status_code == 403
    assert client.get(f"/api/v1/persons/{pid}", headers=kech).status_code == 200  # reads are province-wide
    refused = audit_entries(db, outcome="refused")
    assert len(refused) >= 4


def test_merge_endpoint(client, make_user):
    _, sup = make_user("supervisor")
    a = _register(client, sup)["person"]["id"]
    b = _register(client, sup, given_name_en="Abdur Rauf")["person"]["id"]
    r = client.post(
        "/api/v1/persons/merge", json={"survivor_id": a, "merged_id": b, "reason": "same man"}, headers=sup
    )
    assert r.status_code == 200 and r.json()["merged_from"][0]["person_id"] == b
    assert client.get(f"/api/v1/persons/{b}", headers=sup).json()["redirected_from"] == b
    assert client.get("/api/v1/persons/999999", headers=sup).status_code == 404


def test_a_merged_record_with_flags_and_case_history_reads_back(client, make_user):
    """A merge moves the merged record's flags and links; its entry lists their ids, which the read of the
    survivor (and of the merged id, redirected) labelled as if they were flags, and answered 500."""
    _, sup = make_user("supervisor")
    a = _register(client, sup)["person"]["id"]
    b = _register(client, sup, given_name_en="Abdur Rauf")["person"]["id"]
    case_id = client.post("/api/v1/cases", json=case_data(), headers=sup).json()["id"]
    link = client.post(
        f"/api/v1/cases/{case_id}/links", json={"person_id": b, "role": "accused"}, headers=sup
    )
    r = client.post(
        f"/api/v1/links/{link.json()['link_id']}/status", json={"status": "absconder"}, headers=sup
    )
    assert r.status_code == 200, r.text
    merge = {"survivor_id": a, "merged_id": b, "reason": "same man"}
    assert client.post("/api/v1/persons/merge", json=merge, headers=sup).status_code == 200
    for pid in (a, b):
        r = client.get(f"/api/v1/persons/{pid}", headers=sup)
        assert r.status_code == 200, r.text
        full = r.json()
        assert "absconder" in full["active_flags"] and full["cases"][0]["case_id"] == case_id
        assert full["merged_from"][0]["moved"]["flags"] == [f["id"] for f in full["flags"]]


def test_role_is_checked_before_the_record_is_looked_up(client, make_user):
    """An under-privileged caller learns nothing about which ids exist: 403 even for an unknown id."""
    _, auditor = make_user("auditor")
    calls = [
        ("patch", "/api/v1/persons/999999", {"caste": "x"}),
        ("post", "/api/v1/persons/999999/documents", {"doc_type": "PASSPORT", "number": "AB123456"}),
        ("post", "/api/v1/persons/merge", {"survivor_id": 999998, "merged_id": 999999, "reason": "test"}),
        ("get", "/api/v1/persons/999999", None),
        ("get", "/api/v1/cases/999999", None),
        ("post", "/api/v1/cases/999999/status", {"status": "under_investigation"}),
        ("post", "/api/v1/cases/999999/links", {"person_id": 1, "role": "accused"}),
        ("post", "/api/v1/links/999999/status", {"status": "arrested"}),
        ("post", "/api/v1/links/999999/arrests", {"arrested_on": "2024-01-01"}),
        (
            "post",
            "/api/v1/links/999999/convictions",
            {"court": "x", "convicted_on": "2024-01-01", "sentence": "x"},
        ),
        ("post", "/api/v1/persons/999999/flags", {"kind": "wanted", "case_id": 1, "reason": "test"}),
    ]
    for method, url, body in calls:
        r = client.request(method.upper(), url, json=body, headers=auditor)
        assert r.status_code == 403, (url, r.status_code, r.text)


def test_parts_links_and_description_correction(client, make_user, db):
    _, op = make_user("cro_operator")
    pid = _register(
        client,
        op,
        documents=[{"doc_type": "CNIC", "number": CNIC}],
        descriptions=[
            {
                "observed_on": "2023-01-01",
                "height_cm": 170,
                "marks": [{"kind": "mark", "body_location": "neck"}],
            }
        ],
    )["person"]["id"]
    docs = client.get(f"/api/v1/persons/{pid}/documents", headers=op).json()["items"]
    assert [d["formatted"] for d in docs] == [CNIC]
    desc = client.get(f"/api/v1/persons/{pid}/descriptions", headers=op).json()["items"]
    did = desc[0]["id"]
    r = client.put(
        f"/api/v1/persons/{pid}/descriptions/{did}",
        json={
            "observed_on": "2023-01-01",
            "height_cm": 175,
            "marks": [{"kind": "scar", "body_location": "chin"}],
        },
        headers=op,
    )
    assert r.status_code == 200, r.text
    desc = client.get(f"/api/v1/persons/{pid}/descriptions", headers=op).json()["items"]
    assert desc[0]["height_cm"] == 175 and desc[0]["marks"] == [
        {"kind": "scar", "body_location": "chin", "text": None}
    ]
    r = client.put(
        f"/api/v1/persons/{pid}/descriptions/{did}",
        json={"observed_on": "2023-01-01", "height_cm": 900},
        headers=op,
    )
    assert r.status_code == 422 and r.json()["field"] == "height_cm"
    assert (
        client.put(
            f"/api/v1/persons/{pid}/descriptions/999999", json={"observed_on": "2023-01-01"}, headers=op
        ).status_code
        == 404
    )

    case_id = client.post("/api/v1/cases", json=case_data(), headers=op).json()["id"]
    link_id = client.post(
        f"/api/v1/cases/{case_id}/links", json={"person_id": pid, "role": "accused"}, headers=op
    ).json()["link_id"]
    client.post(
        f"/api/v1/links/{link_id}/status", json={"status": "on_bail", "note": "pre-arrest bail"}, headers=op
    )
    link = client.get(f"/api/v1/links/{link_id}", headers=op).json()
    assert link["person_id"] == pid and [h["to"] for h in link["status_history"]] == ["named", "on_bail"]
    assert link["status_history"][1]["note"] == "pre-arrest bail"
    person_cases = client.get(f"/api/v1/persons/{pid}/cases", headers=op).json()["items"]
    assert person_cases[0]["status"] == "on_bail" and person_cases[0]["case_id"] == case_id
    assert client.get("/api/v1/links/999999", headers=op).status_code == 404
    reads = [e.detail for e in audit_entries(db, action="person.read", target_id=str(pid))]
    assert "documents" in reads and "descriptions" in reads and "cases" in reads
