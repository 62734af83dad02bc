"""Identification and the probable-duplicate queue in a real browser: two synthetic persons enrolled from
images through the services, a search with another impression of one of them (rank 1), the side-by-side
comparison with the paired minutiae, the examiner's decision recorded; then the duplicate queue in Urdu
with a case decided. Phone size (390x844), axe-clean, screenshots."""

from __future__ import annotations

import json
import re
import uuid
from contextlib import contextmanager
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select

from tests.web.conftest import PASSWORD
from tests.web.test_browser import Visit, _t


def _png(tmp: Path, seed: int, impression: int) -> Path:
    from crms.fingerprint.synthesis import generate_master, png_bytes, render_impression

    path = tmp / f"print_{seed}_{impression}.png"
    path.write_bytes(png_bytes(render_impression(generate_master(seed=seed, finger_index=0), impression)))
    return path


@contextmanager
def _impostors_running_high(db):
    """The server's gallery as if it had measured impostors five points above the calibration's."""
    import math

    import numpy as np

    from crms.biometrics.identification import store_for
    from crms.fingerprint.impostors import ImpostorProfile

    store = store_for(db)
    with db.read_transaction() as s:
        store.sync(s)
    g = store.gallery
    kept = g.impostors, g.impostors_at
    g.impostors = ImpostorProfile(np.random.default_rng(0).exponential(10 / math.log(10), 2000) + 5)
    g.impostors_at = len(g)
    try:
        yield
    finally:
        g.impostors, g.impostors_at = kept


def _setup(server, tmp: Path) -> dict:
    """An examiner, two persons with an enrolled right thumb each, and an open duplicate case between them."""
    from crms.access.crypto import EncryptedStore
    from crms.access.users import create_user, principal_for
    from crms.biometrics import enrolment
    from crms.biometrics.models import DuplicateCase, Fingerprint
    from crms.records.services import register_person
    from crms.timeutil import utcnow

    pytest.importorskip("onnxruntime", reason="the 'fingerprint' extra is not installed")
    store = EncryptedStore(Path(server.db.engine.url.database).parent / "data")
    name = f"exam_{uuid.uuid4().hex[:6]}"
    with server.db.transaction() as s:
        user = create_user(s, name, "fingerprint_examiner", unit="BA", password=PASSWORD)
        secret = user.new_totp_secret
        who = principal_for(user, channel="web")
        op = principal_for(
            create_user(s, f"op_{name}", "cro_operator", unit="BA", password=PASSWORD), channel="web"
        )
        ids = []
        for en, ur in (("Abdul Qadir", "عبدالقادر"), ("Naseem Baloch", "نسیم بلوچ")):
            data = {"given_name_en": en, "given_name_ur": ur, "parentage_relation": "s/o", "gender": "M",
                    "parentage_name_en": "Gul Khan", "birth_year": 1985, "unit": "BA/QTA/QUETTA"}  # fmt: skip
            ids.append(register_person(s, op, data).person.id)
        for pid, seed in zip(ids, (701, 702), strict=True):
            enrolment.capture(s, who, store, pid, 1, _png(tmp, seed, 0).read_bytes())
    enrolment.enrol_pending(server.db, store, principal=who, jobs=1)
    with server.db.transaction() as s:
        fa, fb = (s.scalar(select(Fingerprint.id).where(Fingerprint.person_id == p)) for p in ids)
        now = utcnow()
        case = DuplicateCase(
            person_id=ids[1], candidate_id=ids[0], score=40.0, threshold=30.0, status="open",
            fingers=json.dumps([{"probe": f"fingerprint {fb}", "position": 1, "finger_id": fa, "score": 40}]),
            created_at=now, created_by=user.id, updated_at=now, updated_by=user.id,
        )  # fmt: skip
        s.add(case)
        s.flush()
        case_id = case.id
        # a third person, confirmed by an examiner as the same as the first: waiting for a supervisor's merge
        c = register_person(s, op, {"given_name_en": "Abdul Qadir", "gender": "M", "unit": "BA/QTA/QUETTA"})
        confirmed = DuplicateCase(
            person_id=c.person.id, candidate_id=ids[0], score=50.0, threshold=30.0, status="confirmed",
            fingers="[]", decided_at=now, decided_by=user.id, reason="same person",
            created_at=now, created_by=user.id, updated_at=now, updated_by=user.id,
        )  # fmt: skip
        s.add(confirmed)
        s.flush()
        confirmed_id, third = confirmed.id, c.person.id
    return {"user": name, "secret": secret, "a": ids[0], "b": ids[1], "case": case_id,
            "confirmed": confirmed_id, "third": third}  # fmt: skip


def _fits(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), (
        "wider than the screen"
    )


def _on_screen(locator) -> None:
    """Each of these is within the screen's width, not in a region scrolled off to the side."""
    for item in locator.all():
        box, width = item.bounding_box(), item.page.evaluate("window.innerWidth")
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width + 1, (item.inner_text(), box)


def test_identify_compare_decide_and_duplicate_queue(browser, web_server, tmp_path):
    from crms.access.models import AuditEntry
    from crms.biometrics.models import DuplicateCase

    w = _setup(web_server, tmp_path)
    v = Visit(browser, web_server, "en", "phone")
    v.sign_in(w["user"], pyotp.TOTP(w["secret"]).now() if w["secret"] else None)
    page = v.goto("/identify")
    v.check("identify")
    # no reason: refused naming the field, nothing searched
    page.set_input_files("#f-probe_1", str(_png(tmp_path, 701, 2)))
    v.submit("form[enctype] button[type=submit]")
    assert page.locator("#e-reason").is_visible()
    with web_server.db.transaction() as s:
        assert s.scalar(select(AuditEntry.id).where(AuditEntry.action == "biometric.identify_search")) is None
    page.fill("#f-reason", "FIR 31/2026 PS Saddar arrest")
    page.set_input_files("#f-probe_1", str(_png(tmp_path, 701, 2)))
    page.select_option("#f-position_1", "1")
    with _impostors_running_high(web_server.db):  # the gallery's measured impostors raise the threshold
        page.click("form[enctype] button[type=submit]")
        page.wait_for_url(re.compile(r"/identify/\d+$"))
    first = page.locator("#candidates tbody tr").first
    assert first.get_attribute("data-person") == str(w["a"]) and "Abdul Qadir" in first.inner_text()
    assert "عبدالقادر" in first.inner_text() and page.locator("#threshold").is_visible()
    assert page.locator("#threshold").get_attribute("data-basis") == "gallery"
    assert "own impostor scores run higher" in page.locator("#threshold").inner_text()
    _fits(page)
    _on_screen(page.locator("#candidates td"))  # on a phone each candidate is a card: its decision link too
    v.check("identify-candidates")
    search = page.url.rsplit("/", 1)[1]
    page = v.goto("/identify")  # the examiners' work list: this search waits for a decision
    assert page.locator(f"#awaiting li[data-search='{search}']").is_visible()
    _fits(page)
    page.locator(f"#awaiting li[data-search='{search}'] a").click()
    page.wait_for_url(re.compile(rf"/identify/{search}$"))
    first = page.locator("#candidates tbody tr").first
    first.get_by_role("link", name="Compare side by side").click()
    page.wait_for_url(re.compile(r"/candidates/\d+"))
    assert page.locator("#pairing").evaluate("i => i.naturalWidth > 200")
    _fits(page)
    v.check("identify-candidate")
    page.fill("#f-reason", "12 minutiae in agreement")
    v.submit("form.card button[type=submit]")  # no decision chosen: refused, nothing recorded
    assert page.locator("#e-decision").is_visible() and "Decision" in page.locator("#e-decision").inner_text()
    page.check("input[name=decision][value=confirmed]")
    page.fill("#f-reason", "12 minutiae in agreement")
    page.click("form.card button[type=submit]")
    page.wait_for_url(re.compile(r"/identify/\d+\?decided="))
    assert page.locator(f"tr[data-person='{w['a']}'] [data-decision=confirmed]").is_visible()
    assert v.goto("/identify").locator(f"#awaiting li[data-search='{search}']").count() == 0  # decided
    page = v.goto(f"/identify/{search}")
    page.set_viewport_size({"width": 1366, "height": 768})
    v.size = "desktop"
    v.check("identify-decided")
    page.set_viewport_size({"width": 390, "height": 844})
    v.size = "phone"
    with web_server.db.transaction() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == "biometric.identify_decision")).all()
        assert [(json.loads(r.query)["person"], json.loads(r.query)["decision"], r.reason) for r in rows] == [
            (w["a"], "confirmed", "12 minutiae in agreement")
        ]
    # the duplicate queue, in Urdu
    page.goto("/lang/ur?next=/duplicates")
    v.lang = "ur"
    assert page.locator(f"tr[data-case='{w['case']}']").is_visible()
    _fits(page)
    _on_screen(page.locator("#cases td"))
    v.check("duplicates")
    page.locator(f"tr[data-case='{w['case']}'] a").click()
    page.wait_for_url(re.compile(r"/duplicates/\d+$"))
    _fits(page)
    v.check("duplicate-case")
    page.check("input[name=decision][value=reject]")
    page.fill("#f-reason", _t("ur", "different ridge counts", "مختلف لکیریں"))
    page.click("form.card button[type=submit]")
    page.wait_for_url(re.compile(r"/duplicates/\d+$"))
    assert page.locator("#case").get_attribute("data-status") == "rejected"
    with web_server.db.transaction() as s:
        assert s.get(DuplicateCase, w["case"]).reason == "مختلف لکیریں"
    v.close()
    # a supervisor merges the confirmed case (sees names and scores, not the prints)
    v = Visit(browser, web_server, "ur", "phone")
    v.sign_in("supervisor")
    page = v.goto(f"/duplicates/{w['confirmed']}")
    assert page.locator("img.thumb").count() == 0
    page.click("form.card button[type=submit]")  # no reason: refused, nothing merged
    assert page.locator("#e-reason").is_visible()
    page.fill("#f-reason", "examiner confirmed")
    v.check("duplicate-merge")
    page.click("form.card button[type=submit]")
    page.wait_for_url(re.compile(r"/duplicates/\d+$"))
    assert page.locator("#case").get_attribute("data-status") == "merged"
    with web_server.db.transaction() as s:
        from crms.records.models import Person

        assert s.get(Person, w["third"]).merged_into_id == w["a"]
    v.close()
