"""The enrolment page tells the officer, at the finger's box, that a later capture of a finger could not be
enrolled (the print in use stays) and why, in the page's language; the person's record marks the finger and
the API's list of the fingers says it."""

from __future__ import annotations

import pytest

from tests.biometrics.test_enrolment import failed_recapture, finger
from tests.records._support import person_data, signed_in


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_later_capture_that_failed_is_said_at_the_fingers_box(app, db):
    with signed_in(app, db, "cro_operator") as (c, api):
        pid = c.post("/api/v1/persons", json=person_data(), headers=api).json()["person"]["id"]
        for position in (1, 2):
            r = c.post(f"/api/v1/persons/{pid}/fingerprints/{position}", content=finger(position, position),
                       headers=api)  # fmt: skip
            assert r.status_code == 201, r.text
        page = c.get(f"/persons/{pid}/fingerprints").text
        assert 'data-status="recapture_failed"' not in page
        failed_recapture(db, pid, 2, "only 3 usable minutiae found, at least 12 needed",
                         kind={"type": "minutiae_too_few", "values": {"count": 3, "needed": 12}})  # fmt: skip
        page = c.get(f"/persons/{pid}/fingerprints").text
        assert page.count('data-status="recapture_failed"') == 1
        box = page[page.index('for="f-finger_2"') : page.index('for="f-finger_3"')]
        assert "A later capture of this finger" in box and "could not be enrolled" in box
        assert "Only 3 usable minutiae were found, at least 12 are needed" in box
        record = c.get(f"/persons/{pid}").text  # the person's record marks that finger too
        assert record.count('data-status="recapture_failed"') == 1
        listed = c.get(f"/api/v1/persons/{pid}/fingerprints?reason=check", headers=api).json()  # the API too
        assert [f["recapture_failed"] is not None for f in listed["fingers"][:3]] == [False, True, False]
        c.cookies.set("crms_lang", "ur")
        page = c.get(f"/persons/{pid}/fingerprints").text
        box = page[page.index('for="f-finger_2"') : page.index('for="f-finger_3"')]
        assert 'data-status="recapture_failed"' in box and "A later capture" not in box
        assert "دوبارہ" in box and "minutiae" not in box and 'lang="en"' not in box  # the reason in Urdu too


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_capture_whose_stored_image_is_gone_is_said_without_the_stores_reference(app, db):
    """A print whose image is missing from the encrypted store (or fails its check) fails enrolment with the
    store's kind: the page says so in its language and never shows the internal file reference."""
    with signed_in(app, db, "cro_operator") as (c, api):
        pid = c.post("/api/v1/persons", json=person_data(), headers=api).json()["person"]["id"]
        r = c.post(f"/api/v1/persons/{pid}/fingerprints/1", content=finger(1, 1), headers=api)
        assert r.status_code == 201, r.text
        ref = "fingerprint/" + "0" * 32  # the run's words (tests/biometrics/test_enrolment.py)
        kind = {"type": "stored_file_missing", "values": {}}
        failed_recapture(db, pid, 1, f"no stored file {ref}", kind=kind)
        page = c.get(f"/persons/{pid}/fingerprints").text
        box = page[page.index('for="f-finger_1"') : page.index('for="f-finger_2"')]
        assert "The stored image is missing" in box and ref not in box
        c.cookies.set("crms_lang", "ur")
        page = c.get(f"/persons/{pid}/fingerprints").text
        box = page[page.index('for="f-finger_1"') : page.index('for="f-finger_2"')]
        assert 'data-status="recapture_failed"' in box and 'lang="en"' not in box
        assert "The stored image" not in box and ref not in box
