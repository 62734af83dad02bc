"""What the pages say when an action is refused, on SQLite and PostgreSQL: a rate limit is not called a
refusal of the role, and says how long to wait; a record outside the user's unit says so; a rule of the
action (a second administrator approves an account) says the rule. A new account needs a chosen role: the
form offers none by default (it offered ``administrator``, the first in the list)."""

from __future__ import annotations

import re

from tests.records._support import person_data, signed_in

CSRF = r'name="csrf_token" value="([^"]+)"'


def test_a_rate_limited_page_says_to_wait_and_sends_retry_after(app, db, monkeypatch):
    monkeypatch.setenv("CRMS_RATE_READ", "2/600")
    with signed_in(app, db, "cro_operator") as (c, api):
        pid = c.post("/api/v1/persons", json=person_data(), headers=api).json()["person"]["id"]
        for _ in range(2):
            assert c.get(f"/persons/{pid}").status_code == 200
        r = c.get(f"/persons/{pid}")
        assert r.status_code == 429, r.text[:300]
        assert "Too many requests" in r.text and "Your role may not do this" not in r.text
        wait = int(r.headers["Retry-After"])
        assert 200 <= wait <= 300  # one read of 2 per 600 s comes back in 300 s
        assert f"Wait {wait} seconds" in r.text
        r = c.get(f"/api/v1/persons/{pid}", headers=api)
        assert r.status_code == 429 and 200 <= int(r.headers["Retry-After"]) <= 300, r.headers
        assert r.json()["detail"] == f"too many record reads: try again in {r.headers['Retry-After']} s"


def test_a_write_outside_the_jurisdiction_says_so(app, db):
    with signed_in(app, db, "sho", "BA/MKN/KECH") as (c, turbat):
        pid = c.post("/api/v1/persons", json=person_data(), headers=turbat).json()["person"]["id"]
    with signed_in(app, db, "sho", "BA/QTA/QUETTA") as (c, _):  # the same role, another unit
        token = re.search(CSRF, c.get(f"/persons/{pid}").text).group(1)
        r = c.post(f"/persons/{pid}/add/phone", data={"csrf_token": token, "number": "03001234567"})
        assert r.status_code == 403, r.text[:300]
        assert "outside your jurisdiction" in r.text and "Your role may not" not in r.text


def test_the_new_account_form_has_no_role_until_one_is_chosen(app, db):
    from crms.access.models import User

    with signed_in(app, db, "administrator") as (c, _):
        page = c.get("/users").text
        select = page[page.index('<select id="f-role"') : page.index("</select>", page.index('id="f-role"'))]
        assert re.search(r'<option value="" selected>Choose a role</option>', select), select
        token = re.search(CSRF, page).group(1)
        with db.transaction() as s:
            before = s.query(User).count()
        r = c.post("/users", data={"csrf_token": token, "username": "io_quetta1", "full_name": "SI Aslam"})
        assert r.status_code == 422 and 'id="e-role"' in r.text, r.text[:500]
        with db.transaction() as s:
            assert s.query(User).count() == before
        chosen = {"role": "investigating_officer", "full_name": "SI Aslam Khan"}
        r = c.post("/users", data={"csrf_token": token, "username": "io_quetta1", **chosen})
        assert r.status_code == 200 and "SI Aslam Khan" in r.text, r.text[:500]


def test_an_account_you_set_up_waits_for_a_second_administrator(app, db):
    with signed_in(app, db, "administrator") as (c, _):
        token = re.search(CSRF, c.get("/users").text).group(1)
        r = c.post("/users", data={"csrf_token": token, "username": "exam_1", "role": "fingerprint_examiner"})
        assert r.status_code == 200
        from crms.access.models import User

        with db.transaction() as s:
            uid = s.query(User).filter_by(username="exam_1").one().id
        page = c.get("/users").text
        assert f'action="/users/{uid}/approve"' not in page
        assert "A second administrator must approve it." in page
        r = c.post(f"/users/{uid}/approve", data={"csrf_token": token})  # sent anyway: the rule is said
        assert r.status_code == 403 and "a second administrator must approve" in r.text, r.text[:500]
        assert "Your role may not" not in r.text
