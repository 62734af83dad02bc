"""Every internal code people may see has an English and an Urdu label, kept as data (issue 20)."""

from __future__ import annotations

import re

from crms.records.labels import VOCABULARIES, all_labels, label, labelled

from ._support import case_data, person_data

URDU = re.compile(r"[\u0600-\u06FF]")


def test_every_code_has_an_english_and_an_urdu_label_and_no_stale_ones():
    data = all_labels()
    assert set(data) == set(VOCABULARIES)
    for vocabulary, enum in VOCABULARIES.items():
        assert set(data[vocabulary]) == {m.value for m in enum}, vocabulary
        for code, lab in data[vocabulary].items():
            assert lab["en"].strip() and lab["en"] != code or code in ("CNIC",), (vocabulary, code)
            assert URDU.search(lab["ur"]), (vocabulary, code, lab)


def test_labelled_names_statuses_by_their_owner():
    case = {"status": "challan_512", "status_history": [{"from": None, "to": "challan_512"}], "parties": [
        {"status": "absconder", "role": "accused", "status_history": [{"from": "named", "to": "absconder"}]}
    ]}  # fmt: skip
    out = labelled(case, status_vocabulary="case_status")
    assert out["status_label"] == label("case_status", "challan_512")
    assert out["status_history"][0]["to_label"]["en"].startswith("Challan u/s 512")
    party = out["parties"][0]
    assert party["status_label"] == {"en": "Absconder", "ur": "مفرور"}
    assert party["role_label"]["en"] == "Accused"
    assert party["status_history"][0]["from_label"]["en"] == "Named"


def test_api_answers_carry_labels(client, make_user):
    _, sho = make_user("sho", unit="BA/QTA/QUETTA")
    pid = client.post("/api/v1/persons", json=person_data(), headers=sho).json()["person"]["id"]
    case_id = client.post("/api/v1/cases", json=case_data(), headers=sho).json()["id"]
    link = client.post(
        f"/api/v1/cases/{case_id}/links", json={"person_id": pid, "role": "accused"}, headers=sho
    )
    r = client.post(
        f"/api/v1/links/{link.json()['link_id']}/status", json={"status": "absconder"}, headers=sho
    )
    assert r.json()["status_label"] == {"en": "Absconder", "ur": "مفرور"}
    person = client.get(f"/api/v1/persons/{pid}", headers=sho).json()
    assert person["cases"][0]["status_label"]["en"] == "Absconder"
    assert person["cases"][0]["case_status_label"]["en"] == "Registered"
    assert person["gender_label"] == {"en": "Male", "ur": "مرد"}
    assert [f["kind_label"]["en"] for f in person["flags"]] == ["Absconder", "Wanted"]
    case = client.get(f"/api/v1/cases/{case_id}", headers=sho).json()
    assert case["status_label"]["ur"] == "درج شدہ"
    assert case["parties"][0]["status_label"]["en"] == "Absconder"
