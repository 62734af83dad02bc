"""End-to-end: every workflow of the web pages in headless Chromium, in English and Urdu, at phone
(390x844) and desktop (1366x768) sizes; each page is checked with axe-core (no serious or critical
violation) and saved as a screenshot under docs/img/web/."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import func, select

from tests.records._support import without_tokens
from tests.web.conftest import PASSWORD, SHOTS, SIZES

COMBOS = [("en", "phone"), ("ur", "desktop"), ("ur", "phone"), ("en", "desktop")]
SEVERE = {"serious", "critical"}


def save_screenshot(page, name: str) -> None:
    """The visible part of the page as a small PNG (64-colour palette, a few tens of KB)."""
    from PIL import Image

    SHOTS.mkdir(parents=True, exist_ok=True)
    image = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    image.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(SHOTS / name, optimize=True)


class Visit:
    """One signed-in browser context in one language at one size."""

    def __init__(self, browser, server, lang: str, size: str):
        width, height = SIZES[size]
        self.server, self.lang, self.size = server, lang, size
        self.context = browser.new_context(viewport={"width": width, "height": height}, base_url=server.url)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15000)
        self.page.goto(f"/lang/{lang}?next=/login")

    def goto(self, path: str):
        self.page.goto(path)
        return self.page

    def submit(self, selector: str) -> None:
        """Click the button that sends a form and wait until the answer's page has loaded: a click returns
        once the navigation commits, before the new page is parsed, and a check that does not wait
        (``is_visible``, ``count``) would read a page that is not there yet."""
        self.page.click(selector)
        self.page.wait_for_load_state()

    def check(self, name: str) -> None:
        """axe-core on the page as it is now (no serious/critical violation) and a screenshot."""
        from axe_playwright_python.sync_playwright import Axe

        page = self.page
        assert page.locator("html").get_attribute("lang") == self.lang
        assert page.locator("html").get_attribute("dir") == ("rtl" if self.lang == "ur" else "ltr")
        body = page.content()
        assert "Traceback" not in body and "Internal Server Error" not in body
        results = Axe().run(page)
        bad = [
            (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
            for v in results.response["violations"]
            if v.get("impact") in SEVERE
        ]
        assert not bad, f"{name}: axe violations {bad}"
        save_screenshot(page, f"{name}-{self.lang}-{self.size}.png")

    def sign_in(self, username: str, totp: str | None = None, password: str = PASSWORD) -> None:
        page = self.goto("/login")
        page.fill("#f-username", username)
        page.fill("#f-password", password)
        if totp:
            page.fill("#f-totp", totp)
        self.submit("form[action='/login'] button[type=submit]")
        assert page.locator(".error").count() == 0, page.locator(".error").all_inner_texts()
        assert page.locator("form[action='/logout']").count() == 1, (page.url, page.content()[:3000])

    def sign_out(self) -> None:
        self.page.click("form[action='/logout'] button")
        self.page.wait_for_url("**/login")

    def close(self) -> None:
        self.context.close()


def _t(lang: str, en: str, ur: str) -> str:
    return ur if lang == "ur" else en


def _count(server, model) -> int:
    with server.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _smudge(path: Path) -> None:
    """Wash out a print (a tenth of its contrast, blurred): a capture too poor to enrol."""
    from PIL import Image, ImageFilter

    image = Image.open(path)
    dpi = image.info.get("dpi")
    faint = Image.eval(image.filter(ImageFilter.GaussianBlur(4)), lambda v: 200 + v // 10)
    faint.save(path, dpi=dpi) if dpi else faint.save(path)


def _tenprint(tmp: Path, seed: int) -> list[Path]:
    from crms.fingerprint.synthesis import generate_master, png_bytes, render_impression

    files = []
    for finger in range(10):
        path = tmp / f"finger_{finger + 1}.png"
        path.write_bytes(png_bytes(render_impression(generate_master(seed=seed, finger_index=finger), 0)))
        files.append(path)
    return files


@pytest.mark.parametrize(("lang", "size"), COMBOS)
def test_sign_in_with_totp_and_user_administration(browser, web_server, lang, size):
    """The administrator's role requires TOTP: refused without the code, in with it; creating an account
    that needs TOTP shows its QR code once; a bad value is refused naming the field."""
    admin = "admin" if (lang, size) == COMBOS[0] else f"admin_{lang}_{size}"
    user_id, secret = web_server.users[admin]
    v = Visit(browser, web_server, lang, size)
    page = v.goto("/login")
    v.check("login")
    page.fill("#f-username", admin)
    page.fill("#f-password", PASSWORD)
    v.submit("form[action='/login'] button[type=submit]")
    assert page.locator("#e-totp").is_visible()
    assert _t(lang, "One-time code", "یک وقتی کوڈ") in page.locator("#e-totp").inner_text()
    v.check("login-error")
    from crms.access.models import User

    _wait_for_new_step(web_server, user_id)
    v.sign_in(admin, pyotp.TOTP(secret).now())
    v.check("dashboard-admin")
    page = v.goto("/users")
    before = _count(web_server, User)
    page.click("form[action='/users'] button[type=submit]")  # no role chosen: none is given by default
    assert _t(lang, "Role", "کردار") in page.locator("#e-role").inner_text()
    page.fill("#f-username", "bad name!")
    page.select_option("#f-role", "cro_operator")
    v.submit("form[action='/users'] button[type=submit]")
    assert page.locator("#e-username").is_visible()
    assert _t(lang, "Username", "صارف نام") in page.locator("#e-username").inner_text()
    page.fill("#f-username", f"typo_{lang}_{size}")
    page.fill("#f-unit", "BA/QTA/QUETA")  # a typo: the unit registry names the nearest unit
    page.click("form[action='/users'] button[type=submit]")
    assert "BA/QTA/QUETTA" in page.locator("#e-unit").inner_text()
    assert page.locator("#unit-list option[value='BA/QTA/QUETTA/QUETTA-CANTT']").count() == 1
    assert _count(web_server, User) == before
    page.fill("#f-unit", "BA")
    # A new examiner: the administrator gets a one-time enrolment code, never chooses the password; the
    # account cannot be activated from the administrator's own address.
    name = f"exam_{lang}_{size}"
    page.fill("#f-username", name)
    page.select_option("#f-role", "fingerprint_examiner")
    page.click("form[action='/users'] button[type=submit]")
    code = page.locator("#enrolment-code").inner_text().strip()
    assert len(code) >= 12
    assert _count(web_server, User) == before + 1
    v.check("users")
    # A new SMS officer: the phone and PIN fields of the same form; the PIN is never shown back. A lost
    # phone or PIN is set anew on the officer's own page, not by a password reset.
    sms = f"sms_{lang}_{size}"
    page.fill("#f-username", sms)
    page.select_option("#f-role", "sms_officer")
    page.fill("#f-phone", f"+92300777{COMBOS.index((lang, size)):04d}")
    page.fill("#f-pin", "7391")
    v.submit("form[action='/users'] button[type=submit]")
    assert page.locator("#enrolment-code").count() == 0 and "7391" not in without_tokens(page.content())
    page.locator(f"a[href$='/sms']:has(span:text-is('{sms}'))").click()
    page.wait_for_url("**/sms")
    page.fill("#f-pin", "12")
    page.click("main form button[type=submit]")
    assert _t(lang, "PIN", "پن") in page.locator("#e-pin").inner_text()
    v.check("user-sms")
    page.fill("#f-pin", "508172")
    page.click("main form button[type=submit]")
    assert sms in page.locator("section.card[role=status] h2").inner_text()
    assert "508172" not in without_tokens(page.content())
    v.sign_out()
    page = v.goto(f"/activate?username={name}")
    page.fill("#f-enrolment_code", code)
    page.fill("#f-new_password", "an unusual phrase for " + name)
    page.fill("#f-new_password_again", "an unusual phrase for " + name)
    v.submit("main form button[type=submit]")
    assert page.locator("p.error").first.is_visible()
    assert page.locator("#totp-qr").count() == 0
    v.close()


@pytest.mark.parametrize(("lang", "size"), COMBOS)
def test_activation_with_totp_qr_approval_and_sign_in(browser, web_server, lang, size):
    """First-time TOTP enrolment: an examiner set up (by another administrator, elsewhere) activates the
    account in the browser and gets the QR code once; a second administrator approves it in the browser;
    the examiner signs in with the app's code."""
    from crms.access import users
    from crms.access.principal import Principal

    other_admin, _ = web_server.users["admin_en_desktop"]
    name = f"fp_{lang}_{size}"
    with web_server.db.transaction() as session:
        setter = Principal(user_id=other_admin, username="admin_en_desktop", role="administrator",
                           channel="web", address="192.0.2.10")  # fmt: skip
        user = users.add_user(session, setter, name, "fingerprint_examiner", unit="BA")
        code = user.enrolment_code
    v = Visit(browser, web_server, lang, size)
    page = v.goto(f"/activate?username={name}")
    v.check("activate")
    page.fill("#f-enrolment_code", code)
    page.fill("#f-new_password", "short")
    page.fill("#f-new_password_again", "short")
    page.click("main form button[type=submit]")
    assert _t(lang, "New password", "نیا پاس ورڈ") in page.locator("#e-new_password").inner_text()
    page.fill("#f-enrolment_code", code)
    new_password = "quiet river under " + name
    page.fill("#f-new_password", new_password)
    page.fill("#f-new_password_again", new_password + "x")  # a typo in the hidden repeat: nothing spent
    page.click("main form button[type=submit]")
    again = page.locator("#e-new_password_again").inner_text()
    assert _t(lang, "New password again", "نیا پاس ورڈ دوبارہ") in again
    page.fill("#f-enrolment_code", code)
    page.fill("#f-new_password", new_password)
    page.fill("#f-new_password_again", new_password)
    v.submit("main form button[type=submit]")
    assert page.locator("#totp-qr").is_visible()
    secret = page.locator("#totp-secret").inner_text().strip()
    v.check("activate-qr")
    # awaiting approval: refused; approved by a second administrator in the browser; then in with TOTP
    page = v.goto("/login")
    page.fill("#f-username", name)
    page.fill("#f-password", new_password)
    page.fill("#f-totp", pyotp.TOTP(secret).now())
    v.submit("form[action='/login'] button[type=submit]")
    assert page.locator(".error").first.is_visible()
    admin = "admin" if (lang, size) == ("en", "phone") else "admin_ur_desktop"
    admin_id, admin_secret = web_server.users[admin]
    _wait_for_new_step(web_server, admin_id)
    v.sign_in(admin, pyotp.TOTP(admin_secret).now())
    page = v.goto("/users")
    page.locator(f"form[action$='/approve']:has(span:text-is('{name}')) button").click()
    page.wait_for_url("**/users")
    v.sign_out()
    _wait_for_new_step(web_server, user.id)
    v.sign_in(name, pyotp.TOTP(secret).now(), new_password)
    assert v.page.locator("form[action='/logout']").is_visible()
    v.close()


@pytest.mark.parametrize(("lang", "size"), COMBOS)
def test_password_change_required_then_changed(browser, web_server, lang, size):
    """A password that works once (the demo's way) sends its user from the login form to set a new one; a
    weak one is refused next to the field in the user's language; the new one signs in."""
    from crms.access.users import create_user

    name = f"newcomer_{lang}_{size}"
    with web_server.db.transaction() as s:
        create_user(s, name, "investigating_officer", password=PASSWORD, must_change_password=True)
    v = Visit(browser, web_server, lang, size)
    page = v.goto("/login")
    page.fill("#f-username", name)
    page.fill("#f-password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"**/password?username={name}&required=1")  # straight to the change form, told why
    assert page.locator("main .notice").is_visible() and page.input_value("#f-username") == name
    v.check("password")
    page.fill("#f-password", PASSWORD)
    page.fill("#f-new_password", "password")
    page.fill("#f-new_password_again", "password")
    page.click("main form button[type=submit]")
    refused = page.locator("#e-new_password").inner_text()
    assert ("نیا پاس ورڈ" if lang == "ur" else "new password") in (
        refused if lang == "ur" else refused.lower()
    )
    page.fill("#f-password", PASSWORD)
    page.fill("#f-new_password", "seven blue kites over quetta")
    page.fill("#f-new_password_again", "seven blue kites over quetta")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/login?changed=1")
    page.fill("#f-username", name)
    page.fill("#f-password", "seven blue kites over quetta")
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    v.close()


def _wait_for_new_step(server, user_id: int) -> None:
    """Wait until a TOTP step after the user's last accepted one (a code is accepted once)."""
    import time

    from crms.access.models import User

    with server.db.transaction() as session:
        last = session.get(User, user_id).totp_last_step
    while last is not None and int(time.time() // 30) <= last:
        time.sleep(1)


@pytest.mark.parametrize(("lang", "size"), COMBOS)
def test_person_case_lookup_tenprint_print(browser, web_server, lang, size, tmp_path):
    from crms.records.models import Case, Person

    n = COMBOS.index((lang, size)) + 1
    cnic = f"54400-12345{n:02d}-1"
    v = Visit(browser, web_server, lang, size)
    v.sign_in("operator")
    v.check("dashboard")

    # --- a person: bad values are refused naming the field, nothing written; then a good one
    persons = _count(web_server, Person)
    page = v.goto("/persons/new")
    v.check("person-new")
    page.fill("#f-given_name_en", "احمد")  # Urdu letters in the English field
    page.fill("#f-date_of_birth", "2999-01-01")
    page.click("main form button[type=submit]")
    err = page.locator("#e-given_name_en")
    assert err.is_visible()
    assert _t(lang, "Given name (English)", "نام (انگریزی)") in err.inner_text()
    assert _count(web_server, Person) == persons
    v.check("person-new-error")
    page.fill("#f-given_name_en", "Ahmed")
    page.fill("#f-family_name_en", "Khan")
    page.fill("#f-given_name_ur", "احمد")
    page.fill("#f-family_name_ur", "خان")
    page.fill("#f-date_of_birth", "1990-05-17")
    page.fill("#f-cnic", cnic)
    v.submit("main form button[type=submit]")
    assert page.locator(".error").count() == 0, page.locator(".error").all_inner_texts()
    page.wait_for_url(re.compile(r"/persons/\d+$"))
    person_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    assert page.locator("h1").inner_text().startswith("Ahmed Khan")
    assert "احمد خان" in page.locator("h1").inner_text()
    assert _count(web_server, Person) == persons + 1
    v.check("person")

    # --- edit, while a second tab edits the same person and saves first: the first tab's save is refused,
    # nothing of it written, the record as it is now beside its entries; saving again applies them
    page = v.goto(f"/persons/{person_id}/edit")
    other = v.context.new_page()
    other.goto(f"/persons/{person_id}/edit")
    other.fill("#f-caste", "Bugti")
    other.click("main form button[type=submit]")
    other.wait_for_url(f"**/persons/{person_id}")
    other.close()
    page.fill("#f-caste", "Raisani")
    page.click("main form button[type=submit]")
    page.wait_for_selector("#stale")
    assert "Bugti" in page.locator("#stale").inner_text()
    assert page.locator("#f-caste").input_value() == "Raisani"
    v.check("person-edit-changed")
    page.click("main form button[type=submit]")
    page.wait_for_url(f"**/persons/{person_id}")
    assert "Raisani" in page.content()

    # --- parts of the record: a phone (a bad one refused naming the field, nothing written), an address,
    # an alias in Urdu script and a description with a mark
    page = v.goto(f"/persons/{person_id}")
    page.locator("#phone summary").click()
    page.fill("#f-phone", "12ab")
    page.locator("form[action$='/add/phone'] button").click()
    assert _t(lang, "Phone", "فون") in page.locator("#e-phone").inner_text()
    page.fill("#f-phone", "0300-1234567")
    page.locator("form[action$='/add/phone'] button").click()
    page.wait_for_url(re.compile(r"/persons/\d+#phone$"))
    assert "+923001234567" in page.content()
    page.locator("#address summary").click()
    page.fill("#f-district", "Quetta")
    page.fill("#f-police_station", "Cantt")
    page.fill("#f-text", "House 4, Street 9")
    page.locator("form[action$='/add/address'] button").click()
    page.wait_for_url(re.compile(r"#address$"))
    page.locator("#alias summary").click()
    page.select_option("#f-script", "urdu")
    page.fill("#f-name", "پپو")
    page.locator("form[action$='/add/alias'] button").click()
    page.wait_for_url(re.compile(r"#alias$"))
    page.locator("#description summary").click()
    page.fill("#f-observed_on", "2025-02-01")
    page.fill("#f-height_cm", "172")
    page.fill("#f-beard", "full, black")
    page.fill("#f-languages", "Pashto, Urdu")
    page.fill("#f-mark_location_0", "left forearm")
    page.fill("#f-mark_text_0", "burn scar")
    page.locator("form[action$='/add/description'] button").click()
    page.wait_for_url(re.compile(r"#description$"))
    assert (
        "left forearm" in page.content() and "House 4, Street 9" in page.content() and "پپو" in page.content()
    )
    assert "full, black" in page.content() and "Pashto, Urdu" in page.content()

    # --- the description corrected in place (a second mark added), the alias taken off with a reason
    described = page.locator("section.description").first
    described.locator("summary").click()
    form = described.locator("form")
    form.locator("input[name=height_cm]").fill("173")
    form.locator("input[name=mark_location_1]").fill("right hand")
    form.locator("select[name=mark_kind_1]").select_option("tattoo")
    v.check("person-description-correct")
    form.locator("button").click()
    page.wait_for_url(re.compile(r"#description-\d+$"))
    shown = page.locator("section.description").first.inner_text()
    assert "173" in shown and "right hand" in shown and "left forearm" in shown
    alias = page.locator("#entries li", has_text="پپو")
    alias.locator("summary").click()
    alias.locator("button").click()  # no reason: refused in that form
    page.wait_for_load_state()
    alias = page.locator("#entries li", has_text="پپو")
    assert alias.locator("details[open] .error").count() == 1
    v.check("person-remove-refused")
    alias.locator("input[name=reason]").fill("alias of another man")
    alias.locator("button").click()
    page.wait_for_url(re.compile(r"#entries$"))
    assert "پپو" not in page.locator("#entries").inner_text()

    # --- an FIR: refused without sections, then registered; a person linked; status changes
    cases = _count(web_server, Case)
    page = v.goto("/cases/new")
    v.check("case-new")
    page.fill("#f-police_station", "Cantt")
    page.fill("#f-district", "Quetta")
    page.fill("#f-fir_number", str(100 + n))
    page.fill("#f-registered_on", "2025-03-01")
    v.submit("main form button[type=submit]")
    assert page.locator("#e-sections").is_visible()
    assert _t(lang, "Sections", "دفعات") in page.locator("#e-sections").inner_text()
    assert _count(web_server, Case) == cases
    page.fill("#f-sections", "392/411/34 PPC")
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r"/cases/\d+$"))
    case_url = page.url
    assert _count(web_server, Case) == cases + 1
    page.fill("form[action$='/link'] #f-person_id", str(person_id))
    page.fill("#f-link-effective_on", "2025-03-02")
    page.fill("form[action$='/link'] #f-modus_operandi", "snatching on motorbike")
    page.click("form[action$='/link'] button[type=submit]")
    page.wait_for_url(case_url)
    assert "snatching on motorbike" in page.locator("main ul.list").inner_text()
    back = re.compile(re.escape(case_url) + r"#link-\d+$")  # a person's form returns to that person
    # only the statuses the case may move to are offered
    offered = page.locator("#f-status option").evaluate_all("os => os.map(o => o.value)")
    assert "under_investigation" in offered and "registered" not in offered and "convicted" not in offered
    # a page opened before another officer moved the case on: what it offers is refused, naming the field
    other = v.context.new_page()
    other.goto(case_url)
    other.select_option("#f-status", "under_investigation")
    other.click("form[action$='/status'] button[type=submit]")
    other.wait_for_url(case_url)
    assert other.locator("#case-status").get_attribute("data-status") == "under_investigation"
    other.close()
    page.select_option("#f-status", "under_investigation")
    v.submit("form[action$='/status'] button[type=submit]")
    assert page.locator("#e-status").is_visible()
    assert page.locator("#case-status").get_attribute("data-status") == "under_investigation"
    # a person's status change dated before the FIR: refused in that person's form, the entries kept
    page.locator("details summary").first.click()
    person_status = page.locator("form[action*='/links/'][action$='/status']").first
    person_status.locator("select").select_option("absconder")
    person_status.locator("input[type=date]").fill("2025-02-01")
    person_status.locator("input[name=note]").fill("raids failed")
    person_status.locator("button").click()
    page.wait_for_load_state()
    person_status = page.locator("form[action*='/links/'][action$='/status']").first
    assert person_status.is_visible() and person_status.locator(".error").is_visible()  # opened, marked
    assert _t(lang, "Effective on", "مؤثر تاریخ") in person_status.locator(".error").inner_text()
    assert person_status.locator("input[name=note]").input_value() == "raids failed"
    assert page.locator("#case .error").count() == 0  # the case's own status form is not marked
    v.check("case-person-refused")
    for status in ("absconder", "proclaimed_offender_a"):
        page.goto(case_url)
        page.locator("details summary").first.click()
        page.locator("form[action*='/links/'][action$='/status'] select").first.select_option(status)
        page.locator("form[action*='/links/'][action$='/status'] button").first.click()
        page.wait_for_load_state()
        assert page.locator(".error").count() == 0, page.locator(".error").all_inner_texts()
        page.wait_for_url(back)
    v.check("case")
    # the FIR's details, edited from its page
    page.locator("main a.button[href$='/edit']").click()
    page.wait_for_url(re.compile(r"/cases/\d+/edit$"))
    v.check("case-edit")
    page.fill("#f-place", "Sariab Road, near the flyover")
    page.fill("#f-notes", "Motorbike recovered")
    page.click("main form button[type=submit]")
    page.wait_for_url(case_url)
    assert "Motorbike recovered" in page.content() and "near the flyover" in page.content()
    # the FIR list, filtered by station and status, leads to the case
    page = v.goto("/cases?district=Quetta&police_station=Cantt&status=under_investigation")
    v.check("cases")
    page.locator(f"main a[href='{case_url.removeprefix(web_server.url)}']").click()
    page.wait_for_url(case_url)

    # --- CNIC lookup: the answer and the flag at a glance
    page = v.goto("/lookup")
    v.check("lookup")
    page.fill("#f-cnic", cnic.replace("-", ""))
    page.click("main form button[type=submit]")
    assert "Ahmed Khan" in page.locator(".answer h2").inner_text()
    assert page.locator(".answer .flag-proclaimed_offender").is_visible()
    v.check("lookup-answer")
    page.fill("#f-cnic", "12")
    page.click("main form button[type=submit]")
    assert _t(lang, "CNIC", "شناختی کارڈ نمبر") in page.locator("#e-cnic").inner_text()

    # --- tenprint enrolment with real image files (synthetic prints)
    page = v.goto(f"/persons/{person_id}/fingerprints")
    v.submit("main form button[type=submit]")  # nothing chosen
    assert page.locator("#e-image").is_visible()
    files = _tenprint(tmp_path, seed=n)
    _smudge(files[9])  # the left little finger smudged: the page asks for it again
    for i, path in enumerate(files, start=1):
        page.set_input_files(f"#f-finger_{i}", str(path))
    v.submit("main form button[type=submit]")
    assert page.locator(".error").count() == 0, page.locator(".error").all_inner_texts()
    assert page.locator(".qc[data-ok=yes]").count() == 9
    poor = page.locator(".qc[data-ok=no]")
    assert poor.count() == 1 and _t(lang, "capture again", "دوبارہ لیں") in poor.inner_text()
    why = poor.locator(".hint").inner_text()
    assert _t(lang, "unclear ridges", "لکیریں واضح نہیں") in why  # why it is poor, in the page's language
    assert page.locator(".qc .ppi[data-ppi-source=file]").count() == 10  # each file's tag (the smudge's too)
    assert page.locator(".finger .state [data-status=pending]").count() == 10
    thumbs = page.locator(".finger img.thumb")
    assert thumbs.count() == 10
    thumbs.first.scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('.finger img.thumb').naturalWidth === 160")
    v.check("tenprint")

    # --- the person page now shows the case, the flag and the prints; then the printable record
    page = v.goto(f"/persons/{person_id}")
    assert page.locator(".flag-proclaimed_offender").first.is_visible()
    assert page.locator(".timeline li").count() == 1
    v.check("person-full")
    page = v.goto(f"/persons/{person_id}/print")
    assert "operator" in page.locator(".watermark").get_attribute("data-text")
    assert "operator" in page.locator(".printed").inner_text()
    v.check("print")

    # --- the dashboard's wanted list has him, with the FIR
    page = v.goto("/")
    assert page.locator(f"#wanted a[href='/persons/{person_id}']").count() == 1
    v.check("dashboard-wanted")

    # --- an arrest recorded on the case shows in the person's history
    page = v.goto(case_url)
    page.locator("details summary").first.click()
    page.locator("form[action$='/arrest'] input[type=date]").first.fill("2025-03-05")
    page.locator("form[action$='/arrest'] button").first.click()
    page.wait_for_load_state()
    assert page.locator(".error").count() == 0, page.locator(".error").all_inner_texts()
    page = v.goto(f"/persons/{person_id}")
    assert _t(lang, "Arrested on", "تاریخ گرفتاری") in page.locator(".timeline").inner_text()

    # --- bulk import: dry run, row by row
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["cnic", "name", "father_name", "name_urdu", "father_name_urdu", "gender", "date_of_birth",
                "district", "police_station", "caste"])  # fmt: skip
    w.writerow([f"54401-00000{n:02d}-3", "Bashir", "Karim", "بشیر", "کریم", "M", "1980-01-01", "Quetta",
                "Cantt", "Kakar"])  # fmt: skip
    w.writerow(["123", "Nadir", "", "", "", "Q", "", "Nowhere", "", ""])
    sheet = tmp_path / "register.csv"
    sheet.write_text(buf.getvalue(), encoding="utf-8")
    persons = _count(web_server, Person)
    page = v.goto("/import")
    page.set_input_files("#f-file", str(sheet))
    v.submit("main form button[type=submit]")
    assert page.locator("tr.bad").count() >= 1
    assert _count(web_server, Person) == persons
    v.check("import")
    with page.expect_download() as got:  # the template the page's guide offers
        page.locator("a[href='/import/template.csv']").click()
    assert got.value.suggested_filename == "register-template.csv"
    assert Path(got.value.path()).read_text(encoding="utf-8").startswith("\ufeffcnic,name,father_name,")
    v.sign_out()
    v.close()


@pytest.mark.parametrize(("lang", "size"), COMBOS)
def test_audit_viewer_and_refusals(browser, web_server, lang, size):
    v = Visit(browser, web_server, lang, size)
    v.sign_in("auditor")
    page = v.goto("/audit")
    assert page.locator("tbody tr").count() > 0
    v.submit("form[action='/audit'] button >> nth=0")
    assert page.locator("p.ok[role=status]").is_visible()
    v.check("audit")
    page.fill("#f-username", "auditor")
    v.submit("form[role=search] button")
    assert page.locator("tbody tr").count() > 0
    assert set(page.locator("tbody tr td:nth-child(3)").all_inner_texts()) == {"auditor"}

    # a user without the permission gets the refusal page, in the user's language
    resp = page.goto("/persons/new")
    assert resp.status == 403
    assert _t(lang, "Not allowed", "اجازت نہیں") in page.locator("h1").inner_text()
    v.check("refused")
    assert page.goto("/fingerprints/1/thumb").status == 403  # no fingerprint pictures for auditors
    # a forged CSRF token: refused, nothing done, no trace
    resp = page.request.post(f"{web_server.url}/logout", form={"csrf_token": "forged"})
    assert resp.status == 403 and "Traceback" not in resp.text()
    assert v.goto("/audit").url.endswith("/audit")  # still signed in
    # an unknown page
    resp = page.goto("/no-such-page")
    assert resp.status == 404
    # an ended session: back to the sign-in page with a notice
    v.context.clear_cookies()
    page.goto(f"/lang/{lang}?next=/")
    v.context.add_cookies([{"name": "crms_session", "value": "stale", "url": web_server.url}])
    page.goto("/audit")
    assert "/login" in page.url and page.locator(".notice").is_visible()
    v.check("session-ended")
    v.close()


def test_pwa_offline_page_and_light_lookup(browser, web_server):
    v = Visit(browser, web_server, "en", "phone")
    page = v.page
    manifest = page.request.get(f"{web_server.url}/manifest.webmanifest")
    assert manifest.ok and manifest.json()["start_url"] == "/"
    v.sign_in("operator")
    # keyboard only: the first Tab reaches the skip link, drawn with a visible focus outline; the lookup
    # field is labelled, takes the focus, and Enter submits
    page.goto("/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.goto("/lookup")
    assert page.evaluate("document.activeElement.id") == "f-cnic"  # autofocus at the check post
    page.keyboard.type("54400-7777777-1")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"cnic=54400"))
    assert page.locator(".answer [role=status]").is_visible()  # no such person
    page.goto("/lookup")
    page.evaluate("async () => { await navigator.serviceWorker.ready; }")
    page.reload()
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    v.context.new_cdp_session(page).send("Network.clearBrowserCache")  # only the worker's cache is left
    v.context.set_offline(True)
    page.goto("/lookup?cnic=1")
    assert page.locator("h1").inner_text() == "No connection"
    # the stylesheet, asked for as /static/app.css?v=<digest>, came from the worker's cache
    loaded = (
        "(s) => { try { return s.href.includes('app.css?v=') && s.cssRules.length > 0 } "
        "catch { return false } }"
    )
    assert page.evaluate(f"[...document.styleSheets].some({loaded})")
    v.check("offline")
    v.context.set_offline(False)
    v.close()


@pytest.mark.parametrize(("lang", "size"), COMBOS)
def test_merge_and_conviction(browser, web_server, lang, size):
    """A supervisor merges two records of one man (a bad number is refused naming the field, nothing
    merged) and records a conviction on his case."""
    from crms.access.principal import Principal
    from crms.records import services as svc
    from crms.records import services_cases as cases

    sup_id, _ = web_server.users["supervisor"]
    who = Principal(user_id=sup_id, username="supervisor", role="supervisor", channel="web")
    n = 20 + COMBOS.index((lang, size))  # one FIR per language and size
    with web_server.db.transaction() as session:
        a = svc.register_person(session, who, {"given_name_en": "Gul", "family_name_en": "Zaman"}).person.id
        b = svc.register_person(session, who, {"given_name_ur": "گل", "family_name_ur": "زمان"}).person.id
        case = cases.add_case(
            session,
            who,
            {
                "police_station": "Cantt",
                "district": "Quetta",
                "fir_number": n,
                "registered_on": "2024-02-02",
                "year": 2024,
                "sections": "302 PPC",
            },
        )
        link = cases.link_person(session, who, case.id, {"person_id": b, "role": "accused"})
        cases.record_arrest(session, who, link.id, {"arrested_on": "2024-02-03"})
        for status in ("challan_complete", "under_trial"):  # a conviction needs the case in court
            cases.change_case_status(session, who, case.id, {"status": status})
        case_id, link_id = case.id, link.id
    v = Visit(browser, web_server, lang, size)
    v.sign_in("supervisor")
    page = v.goto("/merge")
    v.check("merge")
    page.fill("#f-survivor_id", str(a))
    page.fill("#f-merged_id", "abc")
    page.fill("#f-reason", "same CNIC seen at check post")
    page.click("main form button[type=submit]")
    assert (
        _t(lang, "Record to merge into it", "اس میں ضم ہونے والا ریکارڈ")
        in page.locator("#e-merged_id").inner_text()
    )
    page.fill("#f-merged_id", str(b))
    page.click("main form button[type=submit]")
    page.wait_for_url(f"**/persons/{a}")
    assert "زمان" in page.locator("h1").inner_text() or page.locator(".timeline li").count() == 1
    page = v.goto(f"/persons/{b}")
    assert page.locator(".notice").is_visible()  # the merged number answers with the surviving record
    # a conviction on the case, through the case page
    page = v.goto(f"/cases/{case_id}")
    page.locator("details summary").first.click()
    form = page.locator(f"form[action='/cases/{case_id}/links/{link_id}/conviction']")
    form.locator("input[name=court]").fill("ATC Quetta")
    form.locator("input[name=convicted_on]").fill("2025-01-10")
    form.locator("input[name=sentence]").fill("10 years RI")
    form.locator("button").click()
    page.wait_for_load_state()
    assert page.locator(".error").count() == 0, page.locator(".error").all_inner_texts()
    page = v.goto(f"/persons/{a}")
    assert "ATC Quetta" in page.locator(".timeline").inner_text()
    v.check("person-convicted")
    v.close()


@pytest.mark.parametrize(("lang", "size"), COMBOS)
def test_language_setting_missing_fingers_and_photos(browser, web_server, lang, size, tmp_path):
    """The one-tap switch, signed in, stores the language on the account and the next sign-in (in another
    browser) uses it; the tenprint page records fingers that cannot be printed; the person page takes a
    photo (a bad file is refused naming the field) and shows it through the audited image route."""
    from PIL import Image

    from crms.access.models import AuditEntry, User
    from crms.access.users import create_user, principal_for
    from crms.faces.models import PersonPhoto
    from crms.records.services import register_person

    other = "en" if lang == "ur" else "ur"
    name = f"op_prefs_{lang}_{size}"
    with web_server.db.transaction() as s:
        user = create_user(s, name, "cro_operator", unit="BA", password=PASSWORD)
        who = principal_for(user, channel="web")
        person_id = register_person(s, who, {"given_name_en": "Nasir", "parentage_relation": "s/o",
                                             "parentage_name_en": "Ali", "gender": "M", "birth_year": 1985,
                                             "unit": "BA"}).person.id  # fmt: skip

    # --- language: chosen in the header while signed in, kept on the account, used at the next sign-in
    v = Visit(browser, web_server, other, size)
    v.sign_in(name)
    v.page.click(f"header a[hreflang={lang}]")
    v.page.wait_for_load_state()
    assert v.page.locator("html").get_attribute("lang") == lang
    v.lang = lang
    with web_server.db.transaction() as s:
        assert s.scalar(select(User.language).where(User.username == name)) == lang
    second = Visit(browser, web_server, other, size)  # another browser, still set to the other language
    second.sign_in(name)
    assert second.page.locator("html").get_attribute("lang") == lang
    second.close()

    # --- tenprint: two fingers that cannot be printed
    page = v.goto(f"/persons/{person_id}/fingerprints")
    page.select_option("#f-state_3", "amputated")
    page.fill("#f-note_3", "lost in 2019")
    page.select_option("#f-state_10", "bandaged")
    v.submit("main form button[type=submit]")
    assert page.locator(".error").count() == 0, page.locator(".error").all_inner_texts()
    assert page.locator(".finger [data-reason=amputated]").inner_text() == _t(lang, "amputated", "کٹی ہوئی")
    assert page.locator(".finger [data-status=marked]").count() == 2
    v.check("tenprint-marks")

    # --- the person page: the marks finger by finger, a refused upload, then a photo
    page = v.goto(f"/persons/{person_id}")
    assert page.locator("td[data-state=marked]").count() == 2
    assert _t(lang, "bandaged", "پٹی بندھی ہوئی") in page.locator("td[data-state=marked]").nth(1).inner_text()
    photos = _count(web_server, PersonPhoto)
    bad = tmp_path / "notes.txt"
    bad.write_text("not a photo")
    page.locator("details#photo summary").click()
    page.set_input_files("#f-photo", str(bad))
    v.submit("form[action$='/photos'] button[type=submit]")
    assert page.locator("#e-photo").is_visible()
    assert _t(lang, "Photo", "تصویر") in page.locator("#e-photo").inner_text()
    assert _count(web_server, PersonPhoto) == photos
    photo = tmp_path / "front.jpg"
    Image.new("RGB", (240, 320), (120, 110, 100)).save(photo, "JPEG")
    assert page.locator("#f-photo").is_visible()  # the form comes back open, next to its error
    page.select_option("#f-photo_kind", "front")
    page.set_input_files("#f-photo", str(photo))
    v.submit("form[action$='/photos'] button[type=submit]")
    assert page.locator(".error").count() == 0, page.locator(".error").all_inner_texts()
    page.wait_for_function("() => document.querySelector('#photos img').naturalWidth === 240")
    assert _t(lang, "front view", "سامنے کا رخ") in page.locator("#photos figcaption").inner_text()
    with web_server.db.transaction() as s:
        assert s.scalar(select(func.count()).where(AuditEntry.action == "photo.image")) >= 1
    v.check("person-photo")
    v.close()
