"""POST /api/v1/persons/{id}/fingerprints/{pos}/missing on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.biometrics.test_api_fingerprints import person


def test_mark_missing_finger_api(client, make_user):
    _, op = make_user("cro_operator")
    pid = person(client, op, "54400-1111112-5")
    url = f"/api/v1/persons/{pid}/fingerprints/6/missing"
    r = client.post(url, json={"reason": "amputated", "note": "left thumb lost"}, headers=op)
    assert r.status_code == 201, r.text
    assert (r.json()["position"], r.json()["reason"], r.json()["active"]) == (6, "amputated", True)
    listed = client.get(f"/api/v1/persons/{pid}/fingerprints", headers=op).json()
    assert listed["fingers"][5]["state"] == "marked" and listed["marks"][0]["note"] == "left thumb lost"
    bad = client.post(url, json={"reason": "lost"}, headers=op)
    assert bad.status_code == 422 and "reason" in bad.text
    assert client.post(url, json={"reason": "missing", "x": 1}, headers=op).status_code == 422
    assert client.post(f"/api/v1/persons/{pid}/fingerprints/11/missing", json={"reason": "missing"},
                       headers=op).status_code == 422  # fmt: skip
    _, io = make_user("investigating_officer")
    assert client.post(url, json={"reason": "missing"}, headers=io).status_code == 403
    assert (
        client.get(f"/api/v1/persons/{pid}/fingerprints", headers=op).json()["marks"][0]["reason"]
        == "amputated"
    )
