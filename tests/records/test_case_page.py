"""The case page's forms for the persons in a case, on SQLite and PostgreSQL: linking a person with the day
they were named, modus operandi and gang; editing those; a refused form shows its error in that form only,
with the officer's entries kept; a link of another case is not found; a status change recorded without the
day it took effect says when it was recorded."""

from __future__ import annotations

import re

from ._support import case_data, person_data, signed_in

QUETTA = "BA/QTA/QUETTA"
CSRF = r'name="csrf_token" value="([^"]+)"'


def _csrf(c, url: str) -> str:
    return re.search(CSRF, c.get(url).text).group(1)


def _new_case_and_person(c, api, **case) -> tuple[int, int]:
    case_id = c.post("/api/v1/cases", json=case_data(**case), headers=api).json()["id"]
    pid = c.post("/api/v1/persons", json=person_data(), headers=api).json()["person"]["id"]
    return case_id, pid


def _accused(c, api, case_id: int, pid: int) -> int:
    """The person linked to the case as accused (through the API): the link's number."""
    accused = {"person_id": pid, "role": "accused"}
    return c.post(f"/api/v1/cases/{case_id}/links", json=accused, headers=api).json()["link_id"]


def test_a_person_linked_from_the_case_page_keeps_the_day_named_modus_operandi_and_gang(app, db):
    with signed_in(app, db, "sho", QUETTA) as (c, api):
        case_id, pid = _new_case_and_person(c, api)
        r = c.post(
            f"/cases/{case_id}/link",
            data={
                "csrf_token": _csrf(c, f"/cases/{case_id}"),
                "person_id": str(pid),
                "role": "accused",
                "effective_on": "2024-03-15",
                "modus_operandi": "snatching on motorbike",
                "gang": "Zarghoon gang",
            },
        )
        assert r.status_code == 303, r.text[:500]
        link = c.get(f"/api/v1/cases/{case_id}", headers=api).json()["parties"][0]
        assert r.headers["location"] == f"/cases/{case_id}"
        assert (link["modus_operandi"], link["gang"]) == ("snatching on motorbike", "Zarghoon gang")
        assert link["status_history"][0]["effective_on"] == "2024-03-15"
        for page in (f"/cases/{case_id}", f"/persons/{pid}"):
            text = c.get(page).text
            assert "snatching on motorbike" in text and "Zarghoon gang" in text, page
            assert "15-Mar-2024: — → named" in text, page

        r = c.post(
            f"/cases/{case_id}/links/{link['link_id']}/edit",
            data={"csrf_token": _csrf(c, f"/cases/{case_id}"), "modus_operandi": "snatching", "gang": ""},
        )
        assert r.status_code == 303 and r.headers["location"] == f"/cases/{case_id}#link-{link['link_id']}"
        link = c.get(f"/api/v1/links/{link['link_id']}", headers=api).json()
        assert (link["modus_operandi"], link["gang"]) == ("snatching", None)  # an emptied field is cleared


def test_a_refused_form_of_one_person_shows_its_error_there_with_the_entries_kept(app, db):
    with signed_in(app, db, "sho", QUETTA) as (c, api):
        case_id, pid = _new_case_and_person(c, api)
        link = _accused(c, api, case_id, pid)
        r = c.post(
            f"/cases/{case_id}/links/{link}/status",
            data={
                "csrf_token": _csrf(c, f"/cases/{case_id}"),
                "status": "absconder",
                "effective_on": "2024-03-01",  # before the FIR (2024-03-14)
                "note": "raids at Kuchlak failed",
            },
        )
        assert r.status_code == 422, r.text[:500]
        form = f"link-{link}-status"
        assert f'id="e-{form}-effective_on"' in r.text  # the error in that person's status form ...
        assert r.text.count('aria-invalid="true"') == 1  # ... and in no other form on the page
        assert "<details open><summary>" in r.text and f'href="#{form}"' in r.text
        assert 'value="raids at Kuchlak failed"' in r.text and 'value="2024-03-01"' in r.text
        assert re.search(rf'id="f-{form}-status"[^>]*>.*?<option value="absconder" selected>', r.text, re.S)
        assert c.get(f"/api/v1/links/{link}", headers=api).json()["status"] == "named"  # nothing written

        r = c.post(
            f"/cases/{case_id}/link",
            data={"csrf_token": _csrf(c, f"/cases/{case_id}"), "person_id": str(pid), "role": "accused"},
        )
        assert r.status_code == 409 and 'id="e-person_id"' in r.text, r.text[:500]
        assert 'value="' + str(pid) + '"' in r.text  # the number entered is kept in the link form


def test_a_link_of_another_case_is_not_found_and_nothing_changes(app, db):
    with signed_in(app, db, "sho", QUETTA) as (c, api):
        case_id, pid = _new_case_and_person(c, api)
        other, _ = _new_case_and_person(c, api, fir_number=113)
        link = _accused(c, api, case_id, pid)
        r = c.post(
            f"/cases/{other}/links/{link}/status",
            data={"csrf_token": _csrf(c, f"/cases/{other}"), "status": "absconder"},
        )
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), r.text[:300]
        assert c.get(f"/api/v1/links/{link}", headers=api).json()["status"] == "named"


def test_an_arrest_at_the_scene_is_recorded_from_the_page_and_undated_history_says_recorded(app, db):
    with signed_in(app, db, "sho", QUETTA) as (c, api):
        case_id, pid = _new_case_and_person(c, api)
        link = _accused(c, api, case_id, pid)
        r = c.post(
            f"/cases/{case_id}/links/{link}/arrest",
            data={
                "csrf_token": _csrf(c, f"/cases/{case_id}"),
                "arrested_on": "2024-03-13",  # the offence's day, before the FIR
                "place": "Zarghoon Road",
                "arrested_by": "ASI Baloch",
            },
        )
        assert r.status_code == 303, r.text[:500]
        text = c.get(f"/cases/{case_id}").text
        assert "13-Mar-2024: named → arrested" in text and "Zarghoon Road — ASI Baloch" in text
        assert re.search(r'<span class="muted">recorded \d\d-\w{3}-\d{4}</span>: — → named', text)


def test_the_fir_list_filters_by_station_year_and_status_and_pages_through(app, db):
    with signed_in(app, db, "sho", QUETTA) as (c, api):
        ids = [
            c.post("/api/v1/cases", json=case_data(fir_number=300 + i, year=2024), headers=api).json()["id"]
            for i in range(53)
        ]
        c.post(
            "/api/v1/cases", json=case_data(fir_number=1, year=2023, registered_on="2023-05-01"), headers=api
        )
        c.post(f"/api/v1/cases/{ids[0]}/status", json={"status": "under_investigation"}, headers=api)
        first = c.get("/cases", params={"police_station": "Cantt", "district": "Quetta", "year": "2024"})
        assert first.status_code == 200, first.text[:300]
        assert "FIRs 1–50 of 53, latest entered first" in first.text
        shown = [int(i) for i in re.findall(r'<a href="/cases/(\d+)" dir="ltr">', first.text)]
        assert shown == sorted(ids, reverse=True)[:50]
        older = re.search(r'href="/cases\?([^"]+)" rel="next"', first.text).group(1).replace("&amp;", "&")
        assert ">Older FIRs</a>" in first.text
        rest = [
            int(i) for i in re.findall(r'<a href="/cases/(\d+)" dir="ltr">', c.get(f"/cases?{older}").text)
        ]
        assert rest == sorted(ids, reverse=True)[50:]
        past = c.get(f"/cases?{older.replace('offset=50', 'offset=99999999')}")
        assert past.status_code == 200 and "No FIRs this far into the list (53 in all)." in past.text
        assert "FIRs 100,000,000" not in past.text and 'rel="next"' not in past.text
        last = re.search(r'href="/cases\?([^"]+)" rel="prev"', past.text).group(1).replace("&amp;", "&")
        assert "offset=50" in last and "year=2024" in last
        r = c.get("/cases", params={"status": "under_investigation"})
        assert [int(i) for i in re.findall(r'<a href="/cases/(\d+)" dir="ltr">', r.text)] == [ids[0]]
        for params, field in (
            ({"police_station": "Nowhere Town"}, "police_station"),
            ({"year": "twenty"}, "year"),
        ):
            r = c.get("/cases", params=params)
            assert r.status_code == 422 and f'id="e-{field}"' in r.text, (params, r.text[:300])
        assert 'href="/cases"' in c.get("/").text  # from the menu and the dashboard


def test_a_link_made_in_error_is_removed_from_the_case_page_with_a_reason(app, db):
    with signed_in(app, db, "sho", QUETTA) as (c, api):
        case_id, pid = _new_case_and_person(c, api)
        link = _accused(c, api, case_id, pid)
        page = c.get(f"/cases/{case_id}").text
        assert f'action="/cases/{case_id}/links/{link}/remove"' in page
        token = _csrf(c, f"/cases/{case_id}")
        r = c.post(f"/cases/{case_id}/links/{link}/remove", data={"csrf_token": token, "reason": ""})
        assert r.status_code == 422, r.text[:300]
        assert f'id="e-link-{link}-remove-reason"' in r.text and r.text.count('aria-invalid="true"') == 1
        other, _ = _new_case_and_person(c, api, fir_number=113)
        r = c.post(f"/cases/{other}/links/{link}/remove", data={"csrf_token": token, "reason": "wrong man"})
        assert r.status_code == 404, r.text[:300]  # a link of another case: nothing removed
        assert c.get(f"/api/v1/links/{link}", headers=api).status_code == 200

        r = c.post(f"/cases/{case_id}/links/{link}/remove", data={"csrf_token": token, "reason": "wrong man"})
        assert r.status_code == 303 and r.headers["location"] == f"/cases/{case_id}#persons", r.text[:300]
        assert c.get(f"/api/v1/cases/{case_id}", headers=api).json()["parties"] == []
        assert c.get(f"/api/v1/links/{link}", headers=api).status_code == 404

        link = _accused(c, api, case_id, pid)
        c.post(f"/api/v1/links/{link}/arrests", json={"arrested_on": "2024-03-20"}, headers=api)
        assert (
            f"/links/{link}/remove" not in c.get(f"/cases/{case_id}").text
        )  # an arrest recorded: not offered
        r = c.delete(f"/api/v1/links/{link}", params={"reason": "wrong man"}, headers=api)
        assert r.status_code == 409 and r.json()["field"] == "link_id", r.text
    with signed_in(app, db, "fingerprint_examiner") as (c, _):
        assert "/remove" not in c.get(f"/cases/{case_id}").text


def test_the_case_page_says_who_registered_the_fir_and_who_changed_each_status(app, db):
    with signed_in(app, db, "sho", QUETTA) as (c, api):
        me = c.get("/api/v1/auth/me", headers=api).json()["username"]
        case_id, pid = _new_case_and_person(c, api)
        link = _accused(c, api, case_id, pid)
        r = c.post(f"/api/v1/links/{link}/status", json={"status": "absconder"}, headers=api)
        assert r.status_code == 200, r.text
        case = c.get(f"/api/v1/cases/{case_id}", headers=api).json()
        page = c.get(f"/cases/{case_id}").text
    assert case["created_by_name"] == case["updated_by_name"] == me
    assert [h["changed_by_name"] for h in case["parties"][0]["status_history"]] == [me, me]
    assert f"by {me}; last changed" in page and page.count(f'<span dir="ltr">{me}</span>') >= 3


def test_a_person_is_linked_by_cnic_on_the_page_and_the_api(app, db):
    """The officer at the case knows the suspect's CNIC, not the record's number: the link form takes
    either; an unknown CNIC is refused at that field; the API takes ``cnic`` instead of ``person_id``."""
    with signed_in(app, db, "sho", QUETTA) as (c, api):
        case_id = c.post("/api/v1/cases", json=case_data(), headers=api).json()["id"]
        cnic = {"documents": [{"doc_type": "CNIC", "number": "54400-1234567-3"}]}
        pid = c.post("/api/v1/persons", json=person_data(**cnic), headers=api).json()["person"]["id"]
        form = {"csrf_token": _csrf(c, f"/cases/{case_id}"), "role": "accused"}
        r = c.post(f"/cases/{case_id}/link", data={**form, "person_id": "54400-7654321-3"})
        assert r.status_code == 404 and 'id="e-person_id"' in r.text, r.text[:500]
        assert "No person has CNIC 54400-7654321-3 on record" in r.text
        r = c.post(f"/cases/{case_id}/link", data={**form, "person_id": "۵۴۴۰۰۱۲۳۴۵۶۷۳"})  # Urdu digits
        assert r.status_code == 303, r.text[:500]
        assert c.get(f"/api/v1/cases/{case_id}", headers=api).json()["parties"][0]["person_id"] == pid

        link = {"cnic": "5440012345673", "role": "witness"}
        r = c.post(f"/api/v1/cases/{case_id}/links", json=link, headers=api)
        assert r.status_code == 201 and r.json()["person_id"] == pid, r.text
        for bad in ({"role": "victim"}, {"cnic": "5440012345673", "person_id": pid, "role": "victim"}):
            r = c.post(f"/api/v1/cases/{case_id}/links", json=bad, headers=api)
            assert r.status_code == 422 and "person_id or by cnic" in r.json()["detail"], r.text
