"""Units name jurisdictions that exist: accounts and records refuse a path the reference data does not hold
(a typo would put them where no officer's jurisdiction reaches), with the nearest paths as suggestions."""

from __future__ import annotations

from datetime import date

import pytest

from crms.errors import ValidationError


@pytest.fixture
def registry():
    """The reference data registered as the accounts' registry, as the composition roots do."""
    from crms.access.units import register_unit_registry, unregister_unit_registry
    from crms.records.reference.lookups import current_units

    register_unit_registry(current_units)
    yield current_units
    unregister_unit_registry(current_units)


def test_the_registry_holds_the_province_its_divisions_districts_and_stations(db):
    from crms.records.reference.lookups import current_units

    with db.transaction() as s:
        units = current_units(s)
    assert units["BA"] == "Balochistan"
    assert units["BA/QTA"] == "Quetta division"
    assert units["BA/QTA/QUETTA"] == "Quetta district"
    assert units["BA/QTA/QUETTA/QUETTA-CANTT"] == "Cantonment police station"
    assert len(units) > 100


@pytest.mark.parametrize(
    ("typed", "path"),
    [("BA", "BA"), ("ba/qta", "BA/QTA"), (" /BA/QTA/QUETTA/ ", "BA/QTA/QUETTA"), ("BA/MKN/KECH",) * 2],
)
def test_a_unit_that_exists_is_taken_normalised(db, typed, path):
    from crms.access.units import check_unit
    from crms.records.reference.lookups import current_units

    with db.transaction() as s:
        assert check_unit(s, typed, known=current_units) == path


def test_a_typo_is_refused_with_the_nearest_paths(db):
    from crms.access.units import check_unit
    from crms.records.reference.lookups import current_units

    with db.transaction() as s, pytest.raises(ValidationError) as e:
        check_unit(s, "BA/QTA/QUETA", known=current_units)
    assert e.value.field == "unit"
    assert "unknown unit BA/QTA/QUETA" in e.value.message and "BA/QTA/QUETTA?" in e.value.message


def test_a_unit_inside_a_known_one_lists_its_siblings(db):
    from crms.access.units import check_unit
    from crms.records.reference.lookups import current_units

    with db.transaction() as s, pytest.raises(ValidationError) as e:
        check_unit(s, "BA/QTA/QUETTA/NOWHERE-XYZ", known=current_units)
    assert "no such unit in BA/QTA/QUETTA; its units are BA/QTA/QUETTA/" in e.value.message


def test_a_malformed_path_is_refused_before_the_registry(db):
    from crms.access.units import check_unit
    from crms.records.reference.lookups import current_units

    with db.transaction() as s, pytest.raises(ValidationError) as e:
        check_unit(s, "Quetta Cantt", known=current_units, field="unit_path")
    assert e.value.field == "unit_path" and "province first" in e.value.message


def test_a_closed_station_names_no_unit(db):
    from crms.access.units import check_unit
    from crms.records.reference.lookups import current_units
    from crms.records.reference.models import PoliceStation

    with db.transaction() as s:
        s.get(PoliceStation, "QUETTA-CANTT").valid_to = date(2020, 1, 1)
    with db.transaction() as s, pytest.raises(ValidationError, match="unknown unit BA/QTA/QUETTA/QUETTA-CA"):
        check_unit(s, "BA/QTA/QUETTA/QUETTA-CANTT", known=current_units)


def test_without_a_registry_any_well_formed_path_is_taken(db, monkeypatch):
    from crms.access import units
    from crms.access.units import check_unit, known_units

    monkeypatch.setattr(units, "_REGISTRIES", [])  # as if no composition root had run in this process
    with db.transaction() as s:
        assert known_units(s) is None
        assert check_unit(s, "BA/NOPE") == "BA/NOPE"


def test_an_account_for_an_unknown_unit_is_refused_and_not_written(db, registry):
    from sqlalchemy import select

    from crms.access.models import User
    from crms.access.users import create_user

    with db.transaction() as s, pytest.raises(ValidationError, match="unknown unit BA/NOPE") as e:
        create_user(s, "op_nope", "cro_operator", unit="BA/NOPE")
    assert e.value.field == "unit"
    with db.transaction() as s:
        assert s.scalar(select(User).where(User.username == "op_nope")) is None
        assert create_user(s, "op_quetta", "cro_operator", unit="ba/qta/quetta").unit == "BA/QTA/QUETTA"


def test_the_api_refuses_an_unknown_unit_for_a_new_account_and_a_move(db, sclient, make_user):
    """The API app registers the reference data itself (its composition root)."""
    _, admin = make_user("administrator", unit="BA/QTA")
    body = {"username": "op_typo", "role": "cro_operator", "unit": "BA/QTA/QUETA"}
    r = sclient.post("/api/v1/users", headers=admin, json=body)
    assert r.status_code == 422, r.text
    assert "BA/QTA/QUETTA" in r.text and "unit" in r.text
    r = sclient.post("/api/v1/users", headers=admin, json={**body, "unit": "BA/QTA/QUETTA"})
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    r = sclient.patch(f"/api/v1/users/{uid}", headers=admin, json={"unit": "BA/QTA/PISHIN/NOPE"})
    assert r.status_code == 422 and "no such unit in BA/QTA/PISHIN" in r.text
    # Outside the administrator's own unit: still refused as a matter of jurisdiction, not of spelling.
    r = sclient.patch(f"/api/v1/users/{uid}", headers=admin, json={"unit": "BA/NOPE"})
    assert r.status_code == 403


def test_a_person_for_an_unknown_unit_is_refused_without_a_registry_registered(db, tmp_path):
    """Records check their own reference data: no composition root is needed."""
    from sqlalchemy import func, select

    from crms.access.audit import bind_data_dir
    from crms.access.users import create_user, principal_for
    from crms.records import services as svc
    from crms.records.models import Person

    bind_data_dir(db, tmp_path / "data")
    with db.transaction() as s:
        op = principal_for(create_user(s, "op_units", "cro_operator", unit="BA"), channel="api")
    data = {"given_name_en": "Abdul Rauf", "family_name_en": "Kakar", "gender": "M", "unit": "BA/QTA/QUETA"}
    with db.transaction() as s, pytest.raises(ValidationError, match="did you mean BA/QTA/QUETTA") as e:
        svc.register_person(s, op, data)
    assert e.value.field == "unit"
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Person)) == 0
        person = svc.register_person(s, op, {**data, "unit": "BA/QTA/QUETTA"}).person
        assert person.unit_path == "BA/QTA/QUETTA"


def test_the_users_page_offers_the_units_within_and_says_a_typo_in_urdu(app, db):
    import re

    from tests.records._support import signed_in

    with signed_in(app, db, "administrator", unit="BA/QTA") as (c, _):
        page = c.get("/users").text
        datalist = page.split('id="unit-list"')[1].split("</datalist>")[0]
        offered = re.findall(r'<option value="(BA[^"]*)">', datalist)
        assert "BA/QTA/QUETTA/QUETTA-CANTT" in offered and "BA/QTA" in offered
        assert all(u.startswith("BA/QTA") for u in offered)  # none outside the administrator's unit
        c.cookies.set("crms_lang", "ur")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        form = {"csrf_token": token, "username": "op_typo", "role": "cro_operator", "unit": "BA/QTA/QUETA"}
        r = c.post("/users", data=form)
        assert r.status_code == 422, r.text[:300]
        shown = re.search(r'<p class="error" id="e-unit" role="alert">(.*?)</p>', r.text, re.S).group(1)
        assert "یونٹ BA/QTA/QUETA موجود نہیں؛ کیا آپ کا مطلب BA/QTA/QUETTA تھا؟" in shown
        assert 'lang="en"' not in shown
