"""No page is wider than a phone's screen (390 px): each page below, in English and Urdu, scrolls only
vertically (a wide table scrolls inside its own region, never the page). The printed record keeps its
tables whole on paper (nothing cut off by a scrolling region)."""

from __future__ import annotations

import uuid

import pyotp
import pytest

from tests.web.conftest import PASSWORD
from tests.web.test_browser import Visit

LANGS = ["en", "ur"]


def _setup(server) -> dict:
    """An administrator and an examiner (each with TOTP where the role needs it), several other accounts
    (the users' table has rows with all their buttons), and a person in two cases with a status and a long
    modus operandi (the printed record's criminal history)."""
    from crms.access.users import create_user, principal_for
    from crms.records import services as svc
    from crms.records import services_cases as cases

    tag = uuid.uuid4().hex[:6]
    out = {}
    with server.db.transaction() as s:
        for key, role in (("admin", "administrator"), ("examiner", "fingerprint_examiner")):
            for lang in LANGS:  # one account a language: a one-time code is accepted once
                user = create_user(s, f"{key}_{lang}_{tag}", role, unit="BA", password=PASSWORD)
                out[key, lang] = (user.username, user.new_totp_secret)
        for i in range(3):
            create_user(
                s, f"officer_with_a_long_name_{i}_{tag}", "investigating_officer", unit="BA/QTA/QUETTA"
            )
        op = principal_for(
            create_user(s, f"op_{tag}", "cro_operator", unit="BA", password=PASSWORD), channel="web"
        )
        cnic = f"54400-{int(tag, 16) % 10**7:07d}-1"
        home = {"kind": "present", "district": "Quetta", "text": "House 4, Street 9, Satellite Town"}
        data = {
            "given_name_en": "Abdul Qadir",
            "given_name_ur": "عبدالقادر",
            "parentage_relation": "s/o",
            "parentage_name_en": "Gul Khan",
            "parentage_name_ur": "گل خان",
            "birth_year": 1985,
            "gender": "M",
            "unit": "BA/QTA/QUETTA",
            "phones": ["03001234567"],
            "addresses": [home],
            "documents": [{"doc_type": "CNIC", "number": cnic}],
        }
        pid = svc.register_person(s, op, data).person.id
        for fir, status in ((11, "absconder"), (12, "proclaimed_offender_a")):
            case = cases.add_case(
                s,
                op,
                {
                    "police_station": "QUETTA-CANTT",
                    "fir_number": fir,
                    "year": 2024,
                    "registered_on": "2024-03-14",
                    "sections": "392/411/34 PPC",
                },
            )
            link = {
                "person_id": pid,
                "role": "accused",
                "status": status,
                "gang": "Kasi brothers",
                "modus_operandi": "snatched motorcycles at gunpoint near the bus terminal at night",
            }
            cases.link_person(s, op, case.id, link)
        out["person"] = pid
    return out


def _fits(page, what: str) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1] + 1, f"{what}: {widths[0]} px wide on a {widths[1]} px screen"


@pytest.fixture(scope="module")
def accounts(web_server):
    return _setup(web_server)


@pytest.mark.parametrize("lang", LANGS)
def test_the_printed_record_fits_a_phone_and_keeps_its_tables_whole_on_paper(
    browser, web_server, accounts, lang
):
    v = Visit(browser, web_server, lang, "phone")
    v.sign_in("operator")
    page = v.goto(f"/persons/{accounts['person']}/print")
    assert page.locator("table.register").count() == 2
    _fits(page, f"print ({lang})")
    v.check("print-phone")  # axe-clean, the history's scrolling region included; a screenshot
    # on paper (A4, 190 mm between the margins: 718 px): both tables whole, none cut to a scrolling region
    page.emulate_media(media="print")
    page.set_viewport_size({"width": 718, "height": 1000})
    _fits(page, f"print on paper ({lang})")
    for table in page.locator("table.register").all():
        assert table.evaluate("t => t.getBoundingClientRect().width <= t.parentElement.clientWidth + 1")
        assert table.evaluate("t => getComputedStyle(t.parentElement).overflowX") == "visible"
    v.close()


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(
    ("role", "path", "shown", "least"),  # (the users page with rows enough to widen it)
    [("admin", "/users", "form[action$='/reset']", 3), ("examiner", "/identify", "#f-probe_1", 1)],
)
def test_the_users_and_identify_pages_fit_a_phone(
    browser, web_server, accounts, lang, role, path, shown, least
):
    name, secret = accounts[role, lang]
    v = Visit(browser, web_server, lang, "phone")
    v.sign_in(name, pyotp.TOTP(secret).now() if secret else None)
    page = v.goto(path)
    assert page.locator(shown).count() >= least
    _fits(page, f"{path} ({lang})")
    v.close()
