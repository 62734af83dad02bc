"""The person page's forms that add to a record (document, alias, address, phone, description, photo), on
SQLite and PostgreSQL: a refused one is shown again open, its error next to its field and in no other
form, with the officer's entries kept; nothing is written."""

from __future__ import annotations

import re

from ._support import person_data, signed_in

CSRF = r'name="csrf_token" value="([^"]+)"'


def _form(html: str, part: str) -> str:
    start = html.index(f'<details id="{part}"')
    return html[start : html.index("</details>", start)]


def test_a_refused_address_is_shown_again_in_its_form_with_the_entries_kept(app, db):
    with signed_in(app, db, "cro_operator") as (c, api):
        pid = c.post("/api/v1/persons", json=person_data(), headers=api).json()["person"]["id"]
        token = re.search(CSRF, c.get(f"/persons/{pid}").text).group(1)
        entries = {
            "kind": "permanent",
            "district": "Quetta",
            "police_station": "Nowhere Town",
            "text": "Mohallah Kasi, near the mosque",
        }
        r = c.post(f"/persons/{pid}/add/address", data={"csrf_token": token, **entries})
        assert r.status_code == 422, r.text[:300]
        address = _form(r.text, "address")
        assert address.startswith('<details id="address" open>') and 'id="e-police_station"' in address
        assert 'value="Mohallah Kasi, near the mosque"' in address and 'value="Nowhere Town"' in address
        assert '<option value="permanent" selected>' in address
        assert r.text.count('aria-invalid="true"') == 1  # no other form is marked
        assert c.get(f"/api/v1/persons/{pid}", headers=api).json()["addresses"] == []

        r = c.post(
            f"/persons/{pid}/add/document", data={"csrf_token": token, "doc_type": "CNIC", "number": "12"}
        )
        assert r.status_code == 422 and 'value="12"' in _form(r.text, "document"), r.text[:300]
        assert 'value="12"' not in _form(r.text, "phone")  # another form keeps nothing of it


def test_the_parentage_relation_is_shown_by_its_term(app, db):
    with signed_in(app, db, "cro_operator") as (c, api):
        pid = c.post("/api/v1/persons", json=person_data(), headers=api).json()["person"]["id"]
        c.cookies.set("crms_lang", "ur")
        page = c.get(f"/persons/{pid}").text
        printed = c.get(f"/persons/{pid}/print").text
    assert "ولد" in page and ">s/o<" not in page and "<dd>s/o " not in page
    assert "<td>ولد " in printed and "<td>s/o " not in printed  # the printed record too
