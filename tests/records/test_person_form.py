"""The person form as an officer fills it in, on SQLite and PostgreSQL: the year of birth (where the date
is not known), the nationality and the notes are entered there (the page showed them, no form took them);
numbers typed with an Urdu keyboard's digits are read as numbers in every form; a digit that is not a
decimal one (``²``) is refused, not a 500."""

from __future__ import annotations

import re

from ._support import error_at, signed_in

CSRF = r'name="csrf_token" value="([^"]+)"'
INPUTS = r'<input[^>]* name="(\w+)"[^>]* value="([^"]*)"'


def test_year_of_birth_nationality_and_notes_are_entered_and_corrected_on_the_form(app, db):
    with signed_in(app, db, "cro_operator") as (c, api):
        page = c.get("/persons/new").text
        assert 'name="birth_year"' in page and 'name="notes"' in page
        assert re.search(r'name="nationality"[^>]* value="PK"', page)  # the usual one, filled in
        token = re.search(CSRF, page).group(1)
        form = {"csrf_token": token, "given_name_en": "Gul Khan", "birth_year": "۱۹۸۸", "nationality": "af",
                "notes": "Crossed at Chaman; speaks Pashto", "gender": "M"}  # fmt: skip
        r = c.post("/persons/new", data=form)
        assert r.status_code == 303, r.text[:500]
        pid = int(r.headers["location"].rsplit("/", 1)[1])
        record = c.get(f"/api/v1/persons/{pid}", headers=api).json()
        assert (record["birth_year"], record["nationality"]) == (1988, "AF")
        assert record["notes"] == "Crossed at Chaman; speaks Pashto"

        page = c.get(f"/persons/{pid}/edit").text
        values = dict(re.findall(INPUTS, page))
        assert (values["birth_year"], values["nationality"]) == ("1988", "AF")
        assert "Crossed at Chaman; speaks Pashto</textarea>" in page
        edit = {**values, "birth_year": "", "date_of_birth": "1988-06-01", "notes": "", "gender": "M"}
        r = c.post(f"/persons/{pid}/edit", data=edit)
        assert r.status_code == 303, r.text[:500]
        record = c.get(f"/api/v1/persons/{pid}", headers=api).json()
        assert (record["date_of_birth"], record["notes"], record["version"]) == ("1988-06-01", None, 2)
        r = c.post(f"/persons/{pid}/edit", data={**edit, "nationality": "", "version": "2"})
        assert r.status_code == 422 and 'id="e-nationality"' in r.text, r.text[:500]


def test_urdu_digits_are_numbers_in_the_forms_and_other_digits_are_refused(app, db):
    with signed_in(app, db, "sho", "BA/QTA/QUETTA") as (c, api):
        token = re.search(CSRF, c.get("/cases/new").text).group(1)
        form = {"csrf_token": token, "police_station": "QUETTA-CANTT", "fir_number": "۱۲۳",
                "registered_on": "۲۰۲۴-۰۳-۱۴", "sections": "392 PPC"}  # fmt: skip
        r = c.post("/cases/new", data=form)
        assert r.status_code == 303, r.text[:500]
        case = c.get(r.headers["location"].replace("/cases/", "/api/v1/cases/"), headers=api).json()
        assert (case["fir_number"], case["registered_on"]) == (123, "2024-03-14")
        assert c.get("/cases", params={"year": "۲۰۲۴"}).status_code == 200
        for query in ({"offset": "²"}, {"year": "²⁰²⁴"}):
            r = c.get("/cases", params=query)
            assert r.status_code == 422, (query, r.status_code)
    with signed_in(app, db, "administrator") as (c, api):
        r = c.get("/api/v1/users/²", headers=api)
        assert r.status_code == 422, r.text


def test_a_name_with_a_symbol_or_emoji_is_refused_and_urdu_joiners_are_kept(app, db):
    with signed_in(app, db, "cro_operator") as (c, api):
        for field, name in (("given_name_en", "Ali 😀"), ("family_name_en", "Kakar+"), ("caste", "Bugti ©")):
            r = c.post("/api/v1/persons", json={"given_name_en": "Ali", field: name}, headers=api)
            assert r.status_code == 422 and r.json()["field"] == field, r.text
            assert r.json()["detail"].startswith(f"{field}: a name may not contain"), r.text
        r = c.post(
            "/api/v1/persons", json={"given_name_ur": "نورِ\u200cالٰہی", "caste": "O'Brien-Khan"}, headers=api
        )
        assert r.status_code == 201 and r.json()["person"]["given_name_ur"] == "نورِ\u200cالٰہی", r.text


def test_a_name_in_the_other_script_is_refused_naming_where_it_goes(app, db):
    """An officer types the name in Urdu into the English box (or the other way round): the refusal was
    English on the Urdu page too and named an API field ("use the _ur field"). Now it has a kind, names the
    other spelling's field (its label on the pages), and the import names the column."""
    with signed_in(app, db, "cro_operator") as (c, api):
        r = c.post("/api/v1/persons", json={"given_name_en": "عبدالغنی"}, headers=api)
        assert r.status_code == 422, r.text
        (item,) = r.json()["errors"]
        assert (item["field"], item["type"], item["values"]) == (
            "given_name_en", "name_script_arabic", {"other": "given_name_ur"}
        )  # fmt: skip
        assert "write the Urdu spelling in given_name_ur" in item["message"]
        r = c.post("/api/v1/persons", json={"given_name_ur": "Ali", "parentage_name_ur": "Gul"}, headers=api)
        items = {i["field"]: i for i in r.json()["errors"]}
        assert items["parentage_name_ur"]["type"] == "name_script_latin"
        assert items["parentage_name_ur"]["values"] == {"other": "parentage_name_en"}

        c.cookies.set("crms_lang", "ur")
        token = re.search(CSRF, c.get("/persons/new").text).group(1)
        r = c.post("/persons/new", data={"csrf_token": token, "given_name_en": "عبدالغنی", "gender": "M"})
        assert r.status_code == 422, r.text[:300]
        said = error_at(r.text, "given_name_en")
        assert "یہ نام انگریزی حروف میں لکھیں: اس کا اردو املا “نام (اردو)” میں جاتا ہے" in said, said
        shown = r.text[r.text.index('id="e-given_name_en"') :]
        assert "given_name_ur" not in said and 'lang="en"' not in shown[: shown.index("</p>")]

        # an alias typed in Urdu with the form's first script (English) chosen: choose Urdu, in Urdu
        pid = c.post("/api/v1/persons", json={"given_name_en": "Abdul Ghani"}, headers=api).json()["person"][
            "id"
        ]
        r = c.post(f"/api/v1/persons/{pid}/aliases", json={"name": "غنی"}, headers=api)
        (item,) = r.json()["errors"]
        assert (item["type"], item["values"]) == ("alias_script_arabic", {"script": "urdu"}), item
        assert item["message"].endswith("use script 'urdu'")  # the API's words as they were
        token = re.search(CSRF, c.get(f"/persons/{pid}").text).group(1)
        r = c.post(f"/persons/{pid}/add/alias", data={"csrf_token": token, "script": "latin", "name": "غنی"})
        assert r.status_code == 422, r.text[:300]
        assert "یہ عرفی نام اردو حروف میں ہے: “اردو رسم الخط” چنیں" in error_at(r.text, "name")


def test_a_country_code_and_a_birth_before_1900_are_refused_in_the_pages_language(app, db):
    """Two refusals of the person form that had no kind, English on the Urdu page: a country written out
    ("Pakistan") where the form wants its code, and a date of birth before 1900."""
    with signed_in(app, db, "cro_operator") as (c, api):
        r = c.post("/api/v1/persons", json={"given_name_en": "Gul", "nationality": "Pakistan"}, headers=api)
        (item,) = r.json()["errors"]
        assert (item["type"], item["values"]) == ("country_code", {"value": "Pakistan"}), item
        assert item["message"] == "a two-letter country code such as PK or AF is expected, not 'Pakistan'"
        r = c.post(
            "/api/v1/persons", json={"given_name_en": "Gul", "date_of_birth": "1899-12-31"}, headers=api
        )
        (item,) = r.json()["errors"]
        assert (item["type"], item["values"]) == ("date_before_1900", {"what": "date_of_birth"}), item
        assert item["message"] == "date_of_birth before 1900"

        c.cookies.set("crms_lang", "ur")
        token = re.search(CSRF, c.get("/persons/new").text).group(1)
        form = {"csrf_token": token, "given_name_en": "Gul", "gender": "M", "nationality": "Pakistan",
                "date_of_birth": "1899-12-31"}  # fmt: skip
        r = c.post("/persons/new", data=form)
        assert r.status_code == 422, r.text[:300]
        assert "“Pakistan” ملک کا کوڈ نہیں: دو حروف لکھیں، جیسے PK یا AF" in error_at(r.text, "nationality")
        assert "یہ تاریخ 1900 سے پہلے کی ہے" in error_at(r.text, "date_of_birth")
