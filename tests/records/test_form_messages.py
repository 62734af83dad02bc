"""Form errors in the officer's words and language: the services keep Pydantic's kind of error (and its
limit) in each detail; the pages say the common kinds through the catalogue (Urdu pages in Urdu, without
the English span), and keep a service's own English message in its span, the field named once."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest

from crms.timeutil import today

from ._support import case_data, person_data, signed_in

CSRF = r'name="csrf_token" value="([^"]+)"'
LONG = "A" * 101


def _error(html: str, field: str) -> str:
    """The text of a field's error paragraph (tags removed)."""
    m = re.search(rf'<p class="error" id="e-{field}" role="alert">(.*?)</p>', html, re.S)
    assert m, f"no error shown at {field}"
    return m.group(1)


# ------------------------------------------------------------------------------------------ the services


def test_errors_of_keeps_the_kind_and_the_limit_and_the_message():
    from crms.errors import ValidationError
    from crms.records.schemas import CaseCreate, PersonCreate, coerce

    future = (today() + timedelta(days=3)).isoformat()
    with pytest.raises(ValidationError) as err:
        coerce(PersonCreate, {"given_name_en": LONG, "date_of_birth": future, "birth_year": "19x0"})
    by_field = {d["field"]: d for d in err.value.details}
    assert by_field["given_name_en"] == {
        "field": "given_name_en",
        "message": "String should have at most 100 characters",
        "type": "string_too_long",
        "limit": 100,
    }
    assert by_field["date_of_birth"]["type"] == "date_in_future"
    assert by_field["date_of_birth"]["message"] == "date_of_birth is in the future"  # as API clients had it
    assert by_field["birth_year"]["type"] == "int_parsing" and "limit" not in by_field["birth_year"]
    assert err.value.message == "given_name_en: String should have at most 100 characters"

    with pytest.raises(ValidationError) as err:
        coerce(CaseCreate, case_data(police_station=None, fir_number=0, registered_on="14/03/2024"))
    kinds = {d["field"]: (d["type"], d.get("limit")) for d in err.value.details}
    assert kinds["police_station"] == ("string_type", None)
    assert kinds["fir_number"] == ("greater_than_equal", 1)
    assert kinds["registered_on"][0] == "date_parsing"  # written day first: refused, never guessed
    with pytest.raises(ValidationError) as err:
        coerce(CaseCreate, {k: v for k, v in case_data().items() if k != "sections"})
    assert err.value.details == [{"field": "sections", "message": "Field required", "type": "missing"}]


def test_the_api_answers_field_and_message_and_now_the_kind(client, make_user):
    _, op = make_user("cro_operator")
    r = client.post("/api/v1/persons", json=person_data(given_name_en=LONG), headers=op)
    assert r.status_code == 422, r.text
    (item,) = r.json()["errors"]
    assert item["field"] == "given_name_en" and item["message"] == "String should have at most 100 characters"
    assert item["type"] == "string_too_long" and item["limit"] == 100
    r = client.get("/api/v1/persons/0", headers=op)  # FastAPI's own validation of a path parameter
    assert r.status_code == 422 and r.json()["errors"][0]["type"] == "greater_than_equal", r.text
    items = client.get("/api/openapi.json").json()["components"]["schemas"]["Problem"]["properties"]
    declared = items["errors"]["items"]["properties"]
    assert set(declared) >= {"field", "message", "type", "limit"}
    assert declared["type"]["description"] and declared["limit"]["description"]


# ------------------------------------------------------------------------------------------ the pages


def _post_case(c, **entries):
    token = re.search(CSRF, c.get("/cases/new").text).group(1)
    return c.post("/cases/new", data={"csrf_token": token, **entries})


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_refused_form_says_the_errors_plainly_in_urdu_and_in_english(app, db):
    entries = {"district": LONG, "fir_number": "12a", "registered_on": "2024-03-14", "sections": "392 PPC"}
    with signed_in(app, db, "sho", unit="BA/QTA/QUETTA") as (c, _):
        c.cookies.set("crms_lang", "ur")
        r = _post_case(c, **entries)  # no police station, an overlong district, a FIR number with a letter
        assert r.status_code == 422, r.text[:300]
        page = r.text
        assert "String should have" not in page and "Field required" not in page
        assert "Input should be" not in page and "police_station" not in page.split("<form")[0]
        required = _error(page, "police_station")
        assert "لازمی ہے" in required and 'lang="en"' not in required
        assert "زیادہ سے زیادہ 100 حروف" in _error(page, "district")
        assert "پورا عدد" in _error(page, "fir_number")
        summary = page[page.index('<p class="error" role="alert">') :].split("</p>")[0]
        assert "تھانہ" in summary and "لازمی ہے" in summary  # the summary names fields by their labels

        c.cookies.set("crms_lang", "en")
        page = _post_case(c, **entries).text
        assert "Required" in _error(page, "police_station")
        assert "At most 100 characters" in _error(page, "district")
        assert "A whole number is expected" in _error(page, "fir_number")
        assert "String should have" not in page and "Field required" not in page

        # a FIR registered before 1947: the service's `year` (from Registered on) is shown at Registered on
        r = _post_case(c, **case_data(registered_on="1800-01-01", year=None, fir_number="5"))
        assert r.status_code == 422 and "At least 1947" in _error(r.text, "registered_on"), r.text[:400]
        r = _post_case(c, **case_data(registered_on=(today() + timedelta(days=2)).isoformat()))
        assert "This date is in the future" in _error(r.text, "registered_on")
        assert "registered_on" not in _error(r.text, "registered_on")


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_an_overlong_name_on_the_person_form_in_urdu(app, db):
    with signed_in(app, db, "cro_operator") as (c, _):
        c.cookies.set("crms_lang", "ur")
        token = re.search(CSRF, c.get("/persons/new").text).group(1)
        r = c.post("/persons/new", data={"csrf_token": token, "given_name_en": LONG, "gender": "M"})
        assert r.status_code == 422, r.text[:300]
        shown = _error(r.text, "given_name_en")
        assert "زیادہ سے زیادہ 100 حروف" in shown and "String should" not in shown
        assert 'lang="en"' not in shown


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_service_message_stays_english_in_its_span_and_filters_have_labels(app, db):
    with signed_in(app, db, "auditor") as (c, _):
        c.cookies.set("crms_lang", "ur")
        r = c.get("/audit?outcome=sideways")
        assert r.status_code == 422, r.text[:300]
        shown = _error(r.text, "outcome")
        assert '<span lang="en" dir="ltr">outcome must be one of ok, ' in shown


def test_a_rule_of_dates_is_said_in_urdu_with_the_other_fields_label(app, db):
    """A rule's own kind (``after_other_date``) and its values: the other field is named by its label."""
    with signed_in(app, db, "auditor") as (c, _):
        c.cookies.set("crms_lang", "ur")
        r = c.get("/audit?since=2026-12-10&until=2026-12-01")
        assert r.status_code == 422, r.text[:300]
        shown = _error(r.text, "since")
        assert "سے" in shown.split("—")[0] and "since —" not in shown  # the filter's label, "From"
        assert "یہ تاریخ “تک” کے بعد کی ہے" in shown and 'lang="en"' not in shown
        c.cookies.set("crms_lang", "en")
        shown = _error(c.get("/audit?since=2026-12-10&until=2026-12-01").text, "since")
        assert "This date is after “To”" in shown
        r = c.get("/api/v1/audit?since=2026-12-10&until=2026-12-01")
        (item,) = r.json()["errors"]
        assert item["type"] == "after_other_date" and item["values"] == {"what": "since", "other": "until"}
        assert item["message"] == "since is after until"


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_symbol_in_a_name_is_said_in_urdu_naming_it(app, db):
    with signed_in(app, db, "cro_operator") as (c, _):
        c.cookies.set("crms_lang", "ur")
        token = re.search(CSRF, c.get("/persons/new").text).group(1)
        data = {"csrf_token": token, "given_name_en": "Rauf 😀", "gender": "M"}
        r = c.post("/persons/new", data=data)
        assert r.status_code == 422, r.text[:300]
        shown = _error(r.text, "given_name_en")
        assert "نام میں '😀' نہیں ہو سکتا" in html.unescape(shown) and 'lang="en"' not in shown


def test_a_message_that_names_its_field_is_not_prefixed_twice():
    from crms.web.app import unprefixed

    assert unprefixed("probe_1", "probe 1: probe 1: not a supported image") == "not a supported image"
    assert unprefixed("date_of_birth", "date_of_birth: before 1900") == "before 1900"
    assert unprefixed("reason", "reason must be at least 10 characters") == (
        "reason must be at least 10 characters"
    )


def test_every_message_of_the_pages_has_an_urdu_translation():
    """The catalogue holds every message the templates and the web code mark, and every literal message a
    service raises (babel.cfg's mapping, crms.web.service_messages), each translated."""
    from pathlib import Path

    from babel.messages.extract import extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg
    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parents[2]
    with (root / "crms/web/locale/ur/LC_MESSAGES/messages.po").open("rb") as fh:
        catalog = read_po(fh, locale="ur")
    with (root / "crms/web/babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found = {
        msg if isinstance(msg, str) else msg[0]
        for _f, _l, msg, _c, _x in extract_from_dir(
            root, method_map, options_map, keywords={"_": None, "N_": None}
        )
    }
    assert {"Required", "PIN must be 4-8 digits", "invalid username or password"} <= found
    assert not any(m.startswith("use 'Authorization") for m in found)  # the API's own: English only
    missing = sorted(m for m in found if not (catalog.get(m) and catalog.get(m).string))
    assert not missing, missing
    for msgid in ("Required", "At most %(n)s characters", "A date is expected, as YYYY-MM-DD"):
        assert "%(n)s" in catalog.get(msgid).string or "%(n)s" not in msgid


def test_the_catalogue_takes_a_services_literal_messages_not_those_built_from_values():
    from crms.web.service_messages import raised_messages

    source = """
def rule(pin, n):
    if not pin:
        raise ValidationError("PIN must be 4-8 digits", field="pin")
    if n:
        raise Conflict(f"candidate {n} is already decided")
    errors.NotFound("person %s not found" % n)
    raise PermissionDenied("a reason " + "is required")
    raise ValueError("not a service's error")
    raise ImageError(f"{name}: the file is empty")
    raise ImageError(f"{name}: {size} bytes is too many")
    return ImageError("image too large")
"""
    assert [m for _line, m in raised_messages(source)] == [
        "PIN must be 4-8 digits",
        "the file is empty",
        "image too large",
    ]


def test_the_extractor_knows_every_error_the_services_raise():
    """Every subclass of crms.errors.CrmsError in the package is one the extractor looks for."""
    import ast
    from pathlib import Path

    from crms.web.service_messages import ERRORS

    known, classes = {"CrmsError"}, []
    for path in (Path(__file__).resolve().parents[2] / "crms").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = {b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "") for b in node.bases}
                classes.append((node.name, bases))
    grown = True
    while grown:
        grown = False
        for name, bases in classes:
            if name not in known and bases & known:
                known.add(name)
                grown = True
    assert known - {"RowError"} == ERRORS, known ^ ERRORS


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_services_own_rule_is_said_in_urdu_on_the_page(app, db):
    with signed_in(app, db, "administrator") as (c, _):
        c.cookies.set("crms_lang", "ur")
        token = re.search(CSRF, c.get("/users").text).group(1)
        form = {"csrf_token": token, "username": "sms_u", "role": "sms_officer", "unit": "BA/QTA",
                "phone": "0300 1234567", "pin": "12"}  # fmt: skip
        r = c.post("/users", data=form)
        assert r.status_code == 422, r.text[:300]
        shown = _error(r.text, "pin")
        assert "پن 4 سے 8 ہندسوں کا ہونا چاہیے" in shown and 'lang="en"' not in shown
        c.cookies.set("crms_lang", "en")
        shown = _error(c.post("/users", data=form).text, "pin")
        assert "PIN must be 4-8 digits" in shown


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_wrong_password_is_said_in_urdu_on_the_sign_in_page(app, db):
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        c.cookies.set("crms_lang", "ur")
        token = re.search(CSRF, c.get("/login").text).group(1)
        r = c.post("/login", data={"csrf_token": token, "username": "nobody", "password": "not it at all"})
        assert r.status_code == 401, r.text[:300]
        assert "صارف نام یا پاس ورڈ غلط ہے" in r.text and "invalid username or password" not in r.text


def test_every_kind_of_rule_has_its_words_on_the_pages():
    from crms.errors import RULE_KINDS
    from crms.web.app import PLAIN_MESSAGES

    assert RULE_KINDS <= PLAIN_MESSAGES.keys(), sorted(RULE_KINDS - PLAIN_MESSAGES.keys())


def test_a_kinds_words_on_the_pages_name_only_the_values_it_declares():
    from crms.errors import RULE_VALUES
    from crms.web.app import PLAIN_MESSAGES

    for kind, names in RULE_VALUES.items():
        said = set(re.findall(r"%\((\w+)\)s", PLAIN_MESSAGES[kind]))
        assert said <= set(names), (kind, sorted(said - set(names)))


def test_every_rule_error_in_the_code_sends_only_the_values_its_kind_declares():
    """What the API's problem schema says of ``values`` (from crms.errors.RULE_VALUES) is what the services
    send: each call of ``rule_error`` (or ``image_error``) with a kind written out, and each detail written as
    a dict of ``type`` and ``values``, names only its kind's declared values."""
    import ast
    from pathlib import Path

    import crms
    from crms.errors import RULE_VALUES

    checked = 0
    for path in Path(crms.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            kind, names = None, set()
            if isinstance(node, ast.Call):
                f = node.func
                func = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                at = {"rule_error": 1, "image_error": 0}.get(func)
                if at is not None and len(node.args) > at and isinstance(node.args[at], ast.Constant):
                    kind = node.args[at].value
                    names = {k.arg for k in node.keywords if k.arg not in (None, "error")}
            elif isinstance(node, ast.Dict):
                items = {k.value: v for k, v in zip(node.keys, node.values, strict=True)
                         if isinstance(k, ast.Constant)}  # fmt: skip
                if isinstance(items.get("type"), ast.Constant) and isinstance(items.get("values"), ast.Dict):
                    kind = items["type"].value
                    names = {k.value for k in items["values"].keys if isinstance(k, ast.Constant)}
            if kind is not None:
                assert kind in RULE_VALUES, (path.name, node.lineno, kind)
                assert names <= set(RULE_VALUES[kind]), (path.name, node.lineno, kind, names)
                checked += 1
    assert checked > 50  # the calls were found
