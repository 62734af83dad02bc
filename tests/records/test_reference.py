"""Reference data on both storage backends: loader, lookups, validity dates, parser validation, editing."""

from __future__ import annotations

import csv
import shutil
from datetime import date

import pytest
from sqlalchemy import func, select

from crms.access.models import AuditEntry
from crms.access.principal import Principal
from crms.errors import NotFound, PermissionDenied, ValidationError
from crms.records.reference import (
    District,
    Division,
    Offence,
    PoliceStation,
    ReferenceDataError,
    ReferenceIndex,
    Statute,
    StatuteSection,
    get_district,
    get_police_station,
    load_reference_data,
    parse_offences,
    read_reference_data,
    unit_path,
)
from crms.records.reference import service as svc
from crms.records.reference.loader import DATA_DIR

ADMIN = Principal(user_id=None, username="admin1", role="administrator", unit="BA")
OPERATOR = Principal(user_id=None, username="op1", role="cro_operator", unit="BA/QTA/QUETTA")


def _counts(session) -> dict[str, int]:
    return {
        m.__tablename__: session.scalar(select(func.count()).select_from(m))
        for m in (Division, District, PoliceStation, Statute, StatuteSection)
    }


def test_loaded_and_idempotent(db):
    data = read_reference_data()
    with db.transaction() as session:
        assert _counts(session) == {
            "divisions": len(data.divisions),
            "districts": len(data.districts),
            "police_stations": len(data.police_stations),
            "statutes": len(data.statutes),
            "statute_sections": len(data.statute_sections),
        }
        before = _counts(session)
        result = load_reference_data(session)
    assert (result["inserted"], result["updated"]) == (0, 0)
    assert result["version"] == data.version
    with db.transaction() as session:
        assert _counts(session) == before


def test_coverage_of_the_data():
    data = read_reference_data()
    assert {d["code"] for d in data.divisions} >= {"QTA", "KLT", "MKN", "NSD", "SBI", "ZHB", "RKN", "LRL"}
    assert 36 <= len(data.districts) <= 40
    assert {"CHAMAN", "HUB", "DUKI", "SOHBATPUR", "USTA-MUHAMMAD", "SURAB"} <= {
        d["code"] for d in data.districts
    }
    quetta = {s["code"] for s in data.police_stations if s["district_code"] == "QUETTA"}
    assert len(quetta) >= 15
    every = {s["district_code"] for s in data.police_stations if not s["valid_to"]}
    assert every == {d["code"] for d in data.districts if not d["valid_to"]}  # each district has a station
    ppc = {s["section"] for s in data.statute_sections if s["statute_code"] == "PPC"}
    assert {"34", "120-B", "302", "337-A", "365-A", "381-A", "392", "489-F", "496-A", "511"} <= ppc
    for row in data.districts + data.police_stations:  # Urdu names in Urdu script
        assert any("\u0600" <= ch <= "\u06ff" for ch in row["name_ur"]), row["code"]


def test_reload_restores_file_values_but_keeps_admin_edits(db):
    with db.transaction() as session:
        session.get(District, "QUETTA").name_en = "Quetta (typo)"
        session.get(District, "PISHIN").name_en = "Pishin edited"
        session.get(District, "PISHIN").edited_at = date(2026, 1, 1)
    with db.transaction() as session:
        result = load_reference_data(session)
    assert result["updated"] == 1 and result["kept_edited"] == 1
    with db.transaction() as session:
        assert session.get(District, "QUETTA").name_en == "Quetta"
        assert session.get(District, "PISHIN").name_en == "Pishin edited"


def _copy_data(tmp_path):
    target = tmp_path / "refdata"
    shutil.copytree(DATA_DIR, target)
    return target


def _edit_csv(path, fn):
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    fn(rows)
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)


@pytest.mark.parametrize(
    ("file", "mutate", "field", "message"),
    [
        (
            "districts.csv",
            lambda r: r[3].__setitem__(4, "2021-13-01"),
            "districts.csv:4:valid_from",
            "not a date",
        ),
        (
            "districts.csv",
            lambda r: r[2].__setitem__(3, "NOWHERE"),
            "districts.csv:3:division_code",
            "not defined",
        ),
        ("police_stations.csv", lambda r: r[5].__setitem__(4, "army"), "police_stations.csv:6:kind", "army"),
        ("police_stations.csv", lambda r: r.append(list(r[1])), "police_stations.csv", "duplicate"),
        (
            "statute_sections.csv",
            lambda r: r[1].__setitem__(1, "30x2"),
            "statute_sections.csv:2:section",
            "30x2",
        ),
        ("divisions.csv", lambda r: r[0].__setitem__(1, "name"), "divisions.csv:1", "header"),
        ("divisions.csv", lambda r: r[1].__setitem__(2, ""), "divisions.csv:2:name_ur", "empty"),
    ],
)
def test_malformed_file_is_refused_and_nothing_written(db, tmp_path, file, mutate, field, message):
    data_dir = _copy_data(tmp_path)
    # A valid new division first: it must not be written when a later file is bad.
    _edit_csv(data_dir / "divisions.csv", lambda r: r.append(["TST", "Test", "ٹیسٹ", "", "", ""]))
    _edit_csv(data_dir / file, mutate)
    with pytest.raises(ReferenceDataError) as err:
        with db.transaction() as session:
            load_reference_data(session, data_dir)
    assert err.value.field.startswith(field)
    assert message in err.value.message
    with db.transaction() as session:
        assert session.get(Division, "TST") is None


def test_file_not_utf8_is_refused(tmp_path):
    data_dir = _copy_data(tmp_path)
    (data_dir / "statutes.csv").write_bytes("code,title,year,notes\nPPC,Pak\xe9,1860,\n".encode("latin-1"))
    with pytest.raises(ReferenceDataError, match="not UTF-8") as err:
        read_reference_data(data_dir)
    assert err.value.field == "statutes.csv"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("QUETTA", "QUETTA"),
        ("quetta", "QUETTA"),
        ("Killa Abdullah", "KILLA-ABDULLAH"),
        ("killa-abdullah", "KILLA-ABDULLAH"),
        ("Qila Abdullah", "KILLA-ABDULLAH"),
        ("Turbat", "KECH"),
        ("Shaheed Sikandarabad", "SURAB"),
        ("قلات", "KALAT"),
        ("  usta muhammad ", "USTA-MUHAMMAD"),
    ],
)
def test_get_district(db, text, code):
    with db.transaction() as session:
        assert get_district(session, text).code == code


@pytest.mark.parametrize("text", ["Gotham", "", "QUETTAA"])
def test_unknown_district_is_a_named_error(db, text):
    with db.transaction() as session, pytest.raises(ValidationError) as err:
        get_district(session, text)
    assert err.value.field == "district"


def test_get_police_station(db):
    with db.transaction() as session:
        assert get_police_station(session, "QUETTA-CANTT").code == "QUETTA-CANTT"
        assert get_police_station(session, "satellite town").code == "QUETTA-SATELLITE-TOWN"
        assert get_police_station(session, "PS Satellite Town").code == "QUETTA-SATELLITE-TOWN"
        assert get_police_station(session, "Cantt", district="Quetta").code == "QUETTA-CANTT"
        assert get_police_station(session, "cantt", district="QUETTA").code == "QUETTA-CANTT"
        assert get_police_station(session, "City", district="Kech").code == "KECH-CITY"
        assert get_police_station(session, "سیٹلائٹ ٹاؤن").code == "QUETTA-SATELLITE-TOWN"
        # "Kuchlak" names the police station and the merged Levies thana: the one existing on the date wins.
        assert get_police_station(session, "Kuchlak").code == "QUETTA-KUCHLAK"
        assert get_police_station(session, "Levies Thana Kuchlak").code == "QUETTA-LEVIES-KUCHLAK"
        assert get_police_station(session, "Panjpai").code == "QUETTA-PANJPAI"
        assert get_police_station(session, "Panjpai", on=date(2020, 3, 1)).code == "QUETTA-LEVIES-PANJPAI"
        assert get_police_station(session, "Kuchlak", on=date(2020, 3, 1)).code == "QUETTA-KUCHLAK"
        assert get_police_station(session, "Thana Panjpai").code == "QUETTA-PANJPAI"
        assert get_police_station(session, "QUETTA-LEVIES-KUCHLAK").kind == "levies"
        for bad, district in [
            ("Nowhere", None),
            ("Satellite Town", "Kalat"),
            ("QUETTA-CANTT", "Pishin"),
            ("", None),
        ]:
            with pytest.raises(ValidationError) as err:
                get_police_station(session, bad, district=district)
            assert err.value.field == "police_station"
        with pytest.raises(ValidationError) as err:
            get_police_station(session, "Cantt", district="Atlantis")
        assert err.value.field == "district"


def test_reference_index_matches_session_lookups(db):
    with db.transaction() as session:
        index = ReferenceIndex.from_session(session)
        assert index.district("turbat").code == "KECH"
        assert index.police_station("Saddar Turbat", "Kech").code == "KECH-SADDAR"
        # Two current stations of one name in different districts: the district must be given.
        index.add_station(
            PoliceStation(
                code="PISHIN-SATELLITE-TOWN",
                name_en="Satellite Town",
                name_ur="سیٹلائٹ ٹاؤن",
                district_code="PISHIN",
                kind="police",
                unit_path="BA/QTA/PISHIN/PISHIN-SATELLITE-TOWN",
            )
        )
        with pytest.raises(ValidationError, match="ambiguous") as err:
            index.police_station("Satellite Town")
        assert err.value.field == "police_station"
        assert index.police_station("Satellite Town", "Pishin").code == "PISHIN-SATELLITE-TOWN"
        assert index.police_station("Satellite Town", "Quetta").code == "QUETTA-SATELLITE-TOWN"
        assert index.police_station("City", "Quetta").code == "QUETTA-CITY"


def test_validity_dates_and_merged_levies(db):
    with db.transaction() as session:
        levies = session.get(PoliceStation, "QUETTA-LEVIES-KUCHLAK")
        assert levies.merged_into_code == "QUETTA-KUCHLAK"
        assert not levies.is_current()
        assert levies.is_current(date(2015, 6, 1))
        current = {s.code for s in svc.list_police_stations(session, district="QUETTA")}
        everything = {
            s.code for s in svc.list_police_stations(session, district="QUETTA", include_historical=True)
        }
        assert "QUETTA-LEVIES-KUCHLAK" not in current
        assert "QUETTA-LEVIES-KUCHLAK" in everything
        assert current < everything
        # Every Levies thana has been merged into the police (2025); each points at its police station.
        levies = svc.list_police_stations(session, kind="levies", include_historical=True)
        assert len(levies) >= 5 and svc.list_police_stations(session, kind="levies") == []
        for thana in levies:
            if thana.merged_into_code:
                assert session.get(PoliceStation, thana.merged_into_code).kind == "police"
                assert session.get(PoliceStation, thana.merged_into_code).is_current()
        # A district abolished and merged back: historical, with its successor.
        lehri = session.get(District, "LEHRI")
        assert (
            lehri.successor_code == "SIBI" and not lehri.is_current() and lehri.is_current(date(2015, 1, 1))
        )
        sibi_division = {d.code for d in svc.list_districts(session, division="SBI")}
        assert "LEHRI" not in sibi_division
        assert "LEHRI" in {
            d.code for d in svc.list_districts(session, division="SBI", include_historical=True)
        }
        chaman = session.get(District, "CHAMAN")
        assert not chaman.is_current(date(2020, 6, 1)) and chaman.is_current()
        assert {d.code for d in svc.list_districts(session, division="LRL")} == {
            "LORALAI",
            "BARKHAN",
            "MUSAKHEL",
            "DUKI",
        }
        with pytest.raises(ValidationError) as err:
            svc.list_districts(session, division="XXX")
        assert err.value.field == "division"


def test_unit_path(db):
    with db.transaction() as session:
        quetta = get_district(session, "Quetta")
        cantt = get_police_station(session, "Cantt", quetta)
        assert unit_path(quetta) == "BA/QTA/QUETTA"
        assert unit_path(quetta, cantt) == "BA/QTA/QUETTA/QUETTA-CANTT"
        assert cantt.unit_path == unit_path(quetta, cantt)
        assert unit_path("DUKI") == "BA/LRL/DUKI"
        for station in session.scalars(select(PoliceStation)):
            district = session.get(District, station.district_code)
            assert station.unit_path == f"BA/{district.division_code}/{district.code}/{station.code}"
    with pytest.raises(ValidationError):
        unit_path("ATLANTIS")


def test_parse_offences_validates_against_the_tables(db):
    with db.transaction() as session:
        assert parse_offences("392/411/34 PPC", session) == [
            Offence("PPC", "392"),
            Offence("PPC", "411"),
            Offence("PPC", "34"),
        ]
        assert parse_offences("9-C CNSA 1997", session) == [Offence("CNSA", "9", "c")]
        with pytest.raises(ValidationError) as err:
            parse_offences("302/999 PPC & 11-Q ATA", session)
        assert err.value.field == "sections"
        assert "PPC 999" in err.value.message and "ATA 11-Q" in err.value.message
        assert "302" not in err.value.message.split("unknown section")[1].split(" in ")[0]


def test_admin_edits_reference_data(db):
    with db.transaction() as session:
        row = svc.update_reference(
            session,
            ADMIN,
            "police_station",
            "QUETTA-NEW-TOWN",
            {
                "name_en": "New Town",
                "name_ur": "نیو ٹاؤن",
                "district_code": "quetta",
                "valid_from": "2026-01-01",
            },
        )
        assert row.unit_path == "BA/QTA/QUETTA/QUETTA-NEW-TOWN" and row.kind == "police"
        svc.update_reference(
            session,
            ADMIN,
            "section",
            "PPC",
            {"title": "Wrongful confinement for three or more days"},
            section="343",
        )
        svc.update_reference(session, ADMIN, "district", "QUETTA", {"aliases": "Shal|Shaal|Kwatah"})
    with db.transaction() as session:
        assert get_police_station(session, "new town").code == "QUETTA-NEW-TOWN"
        assert get_district(session, "Kwatah").code == "QUETTA"
        assert parse_offences("343 PPC", session) == [Offence("PPC", "343")]
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.like("reference.%"))
        ).all()
        assert sorted(actions) == ["reference.create", "reference.create", "reference.update"]
        load_reference_data(session)  # the file loader leaves the admin's edit alone
        assert session.get(District, "QUETTA").aliases == "Shal|Shaal|Kwatah"


def test_moving_a_district_to_another_division_moves_its_stations(db):
    with db.transaction() as session:
        svc.update_reference(session, ADMIN, "district", "DUKI", {"division_code": "ZHB"})
    with db.transaction() as session:
        assert unit_path(session.get(District, "DUKI")) == "BA/ZHB/DUKI"
        assert session.get(PoliceStation, "DUKI-CITY").unit_path == "BA/ZHB/DUKI/DUKI-CITY"


@pytest.mark.parametrize(
    ("kind", "code", "changes", "field"),
    [
        ("district", "QUETTA", {"division_code": "XXX"}, "division_code"),
        ("district", "QUETTA", {"valid_from": "2020-01-01", "valid_to": "2019-01-01"}, "valid_to"),
        ("district", "QUETTA", {"valid_from": "01/01/2020"}, "valid_from"),
        ("district", "QUETTA", {"name_en": ""}, "name_en"),
        ("district", "QUETTA", {"name_en": "x" * 101}, "name_en"),
        ("district", "QUETTA", {"code": "QTA2"}, "code"),
        ("district", "NEW-ONE", {"name_en": "New"}, "name_ur"),
        ("district", "bad code!", {"name_en": "New"}, "code"),
        ("police_station", "QUETTA-CANTT", {"kind": "army"}, "kind"),
        ("police_station", "QUETTA-CANTT", {"merged_into_code": "QUETTA-CITY"}, "valid_to"),
        (
            "police_station",
            "QUETTA-CANTT",
            {"merged_into_code": "QUETTA-CANTT", "valid_to": "2025-01-01"},
            "merged_into_code",
        ),
        ("statute", "PPC", {"year": 3000}, "year"),
        ("planet", "X", {"name_en": "x"}, "kind"),
        ("district", "QUETTA", {}, "body"),
    ],
)
def test_bad_edits_are_refused_and_nothing_written(db, kind, code, changes, field):
    with pytest.raises(ValidationError) as err:
        with db.transaction() as session:
            svc.update_reference(session, ADMIN, kind, code, changes)
    assert err.value.field == field
    with db.transaction() as session:
        assert session.get(District, "QUETTA").name_en == "Quetta"
        assert session.get(District, "QUETTA").edited_at is None
        assert session.get(PoliceStation, "QUETTA-CANTT").merged_into_code is None
        assert (
            session.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.action.like("reference.%"))
            )
            == 0
        )


def test_only_reference_editors_may_edit(db):
    with db.transaction() as session, pytest.raises(PermissionDenied):
        svc.update_reference(session, OPERATOR, "district", "QUETTA", {"name_en": "Q"})
    with db.transaction() as session, pytest.raises(NotFound):
        svc.update_reference(session, ADMIN, "section", "NOPE", {"title": "x"}, section="1")
