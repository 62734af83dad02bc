"""Person services on SQLite and PostgreSQL: registration, duplicate refusal and report, full record, update,
merge (redirect, history), permissions and jurisdiction, audit, rollback."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from crms.errors import Conflict, PermissionDenied, ValidationError
from crms.records import services as svc
from crms.records.models import IdentityDocument, Person

from ._support import audit_entries, person_data

CNIC = "54400-1234567-3"


def _register(db, who, **kw):
    with db.transaction() as session:
        return svc.register_person(session, who, person_data(**kw))


def _count(db, model) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_register_person_with_everything(rdb, principal):
    op = principal("cro_operator", "BA/QTA/QUETTA")
    result = _register(
        rdb,
        op,
        documents=[
            {"doc_type": "CNIC", "number": "۵۴۴۰۰-۱۲۳۴۵۶۷-۳"},
            {"doc_type": "PASSPORT", "number": "ab 123456"},
        ],
        aliases=[{"name": "Raufa", "script": "latin"}, {"name": "رؤفا", "script": "urdu"}],
        addresses=[
            {"kind": "permanent", "district": "Pishin", "text": "Village Khanozai"},
            {"kind": "present", "district": "Quetta", "police_station": "Cantt", "text": "House 4, Street 9"},
        ],
        phones=["0300 1234567", "0300-1234567"],
        descriptions=[
            {
                "observed_on": "2023-06-01",
                "height_cm": 172,
                "build": "medium",
                "complexion": "wheatish",
                "languages": ["Pashto", "Urdu"],
                "marks": [{"kind": "scar", "body_location": "left forearm", "text": "3 cm cut"}],
            }
        ],
    )
    assert result.warnings == [] and result.possible_duplicates == []
    pid = result.person.id
    with rdb.transaction() as session:
        record = svc.get_person(session, op, pid)
    assert record["given_name_ur"] == "عبدالرؤف" and record["parentage_relation"] == "s/o"
    assert record["unit"] == "BA/QTA/QUETTA" and record["created_by"] == op.user_id
    assert [(d["doc_type"], d["number"]) for d in record["documents"]] == [
        ("CNIC", "5440012345673"),
        ("PASSPORT", "AB123456"),
    ]
    assert record["documents"][0]["formatted"] == CNIC
    assert [a["script"] for a in record["aliases"]] == ["latin", "urdu"]
    assert record["addresses"][1] == {
        "id": record["addresses"][1]["id"],
        "kind": "present",
        "district": "QUETTA",
        "police_station": "QUETTA-CANTT",
        "text": "House 4, Street 9",
    }
    assert [p["e164"] for p in record["phones"]] == ["+923001234567"]  # the same number once
    assert record["descriptions"][0]["marks"][0]["body_location"] == "left forearm"
    assert record["descriptions"][0]["languages"] == ["Pashto", "Urdu"]
    actions = [e.action for e in audit_entries(rdb, target_id=str(pid))]
    assert actions == ["person.create", "person.read"]


def test_a_person_may_have_no_document_and_only_an_urdu_name(rdb, principal):
    op = principal()
    result = _register(rdb, op, given_name_en=None, family_name_en=None, parentage_name_en=None)
    assert result.person.display_name == "عبدالرؤف کاکڑ"


def test_duplicate_identity_document_is_refused_naming_the_field(rdb, principal):
    op = principal()
    first = _register(rdb, op, documents=[{"doc_type": "CNIC", "number": CNIC}])
    with pytest.raises(Conflict) as err:
        _register(
            rdb,
            op,
            given_name_en="Someone",
            documents=[
                {"doc_type": "PASSPORT", "number": "X1234567"},
                {"doc_type": "CNIC", "number": "5440012345673"},
            ],
        )
    assert err.value.field == "documents.1.number"
    assert f"person {first.person.id}" in err.value.message
    assert _count(rdb, Person) == 1 and _count(rdb, IdentityDocument) == 1  # nothing half-written
    # Same number under another type is a different document.
    _register(rdb, op, given_name_en="Other", documents=[{"doc_type": "NICOP", "number": CNIC}])
    assert _count(rdb, IdentityDocument) == 2


def test_likely_duplicates_are_reported_not_refused(rdb, principal):
    op = principal()
    first = _register(
        rdb,
        op,
        given_name_en="Muhammad Akram",
        family_name_en="Khan",
        parentage_name_en="Gul Khan",
        birth_year=1985,
    )
    similar = _register(
        rdb,
        op,
        given_name_en="Mohammad Akram",
        family_name_en="Khan",
        parentage_name_en="Gul Khaan",
        birth_year=1986,
    )
    assert [d["person_id"] for d in similar.possible_duplicates] == [first.person.id]
    assert "possible duplicate of person" in similar.warnings[0]
    # Different father, or far-off birth year, or another name: not reported.
    other_father = _register(
        rdb,
        op,
        given_name_en="Muhammad Akram",
        family_name_en="Khan",
        parentage_name_en="Sher Ali",
        birth_year=1985,
    )
    assert other_father.possible_duplicates == []
    older = _register(
        rdb,
        op,
        given_name_en="Muhammad Akram",
        family_name_en="Khan",
        parentage_name_en="Gul Khan",
        birth_year=1960,
    )
    assert older.possible_duplicates == []
    assert (
        _register(
            rdb, op, given_name_en="Naseebullah", parentage_name_en="Gul Khan", birth_year=1985
        ).possible_duplicates
        == []
    )


def test_cnic_gender_mismatch_and_final_zero_are_warnings(rdb, principal):
    result = _register(
        rdb, principal(), gender="F", documents=[{"doc_type": "CNIC", "number": "54400-1234567-0"}]
    )
    assert any("last digit is 0" in w for w in result.warnings)
    result = _register(
        rdb,
        principal(),
        given_name_en="Bibi",
        gender="F",
        documents=[{"doc_type": "CNIC", "number": "54400-1234567-1"}],
    )
    assert any("odd digit" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"given_name_en": None, "given_name_ur": None}, "given_name_en"),
        ({"date_of_birth": "2999-01-01"}, "date_of_birth"),
        ({"birth_year": 1990, "date_of_birth": "1991-02-03"}, "birth_year"),
        ({"given_name_en": "x" * 101}, "given_name_en"),
        ({"given_name_ur": "Abdul"}, "given_name_ur"),
        ({"given_name_en": "عبد"}, "given_name_en"),
        ({"gender": "male"}, "gender"),
        ({"parentage_relation": None}, "parentage_relation"),
        ({"documents": [{"doc_type": "CNIC", "number": "12345"}]}, "documents.0.number"),
        ({"documents": [{"doc_type": "DRIVING", "number": "12345"}]}, "documents.0.doc_type"),
        ({"addresses": [{"kind": "present", "district": "Atlantis"}]}, "addresses.0.district"),
        (
            {"addresses": [{"kind": "present", "district": "Quetta", "police_station": "Turbat"}]},
            "addresses.0.police_station",
        ),
        ({"phones": ["12"]}, "phones.0"),
        ({"descriptions": [{"observed_on": "2024-01-01", "height_cm": 20}]}, "descriptions.0.height_cm"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(rdb, principal, changes, field):
    with pytest.raises(ValidationError) as err:
        _register(rdb, principal(), **changes)
    assert err.value.field == field, err.value.message
    assert _count(rdb, Person) == 0


def test_permissions_and_jurisdiction(rdb, principal):
    quetta = principal("cro_operator", "BA/QTA/QUETTA")
    with pytest.raises(PermissionDenied):
        _register(rdb, principal("auditor"))
    with pytest.raises(ValidationError) as err:
        _register(rdb, quetta, unit="BA/MKN/KECH")
    assert err.value.field == "unit"
    pid = _register(rdb, quetta).person.id
    kech = principal("cro_operator", "BA/MKN/KECH")
    with rdb.transaction() as session, pytest.raises(PermissionDenied):
        svc.update_person(session, kech, pid, {"caste": "Baloch"})
    with rdb.transaction() as session:  # reads are province-wide for the role
        assert svc.get_person(session, kech, pid)["id"] == pid
    with rdb.transaction() as session, pytest.raises(PermissionDenied):
        svc.get_person(session, principal("auditor"), pid)


def test_update_person_records_who_and_when(rdb, principal):
    op = principal()
    pid = _register(rdb, op).person.id
    other = principal("supervisor")
    with rdb.transaction() as session:
        person = svc.update_person(session, other, pid, {"caste": "Achakzai", "date_of_birth": "1988-05-02"})
        assert (
            person.birth_year == 1988
            and person.updated_by == other.user_id
            and person.created_by == op.user_id
        )
    with rdb.transaction() as session:
        svc.update_person(session, other, pid, {"notes": None})
    with rdb.transaction() as session, pytest.raises(ValidationError) as err:
        svc.update_person(session, other, pid, {"gender": None})
    assert err.value.field == "gender"
    assert [e.action for e in audit_entries(rdb, target_id=str(pid))].count("person.update") == 2
    with rdb.transaction() as session:
        history = svc.get_person(session, op, pid)["changes"]
    assert [c["action"] for c in history] == ["update"]  # the second update changed nothing (notes was empty)
    assert history[0]["changes"] == {
        "caste": ["Kakar", "Achakzai"],
        "date_of_birth": [None, "1988-05-02"],
    }
    assert history[0]["changed_by"] == other.user_id


def test_add_document_alias_address_phone_description(rdb, principal):
    op = principal()
    pid = _register(rdb, op).person.id
    with rdb.transaction() as session:
        doc, warnings = svc.add_document(session, op, pid, {"doc_type": "CNIC", "number": CNIC})
        assert doc.number == "5440012345673" and warnings == []
        svc.add_alias(session, op, pid, {"name": "Rauf Jan"})
        svc.add_address(session, op, pid, {"kind": "present", "district": "Kech"})
        svc.add_phone(session, op, pid, "0333 7654321")
        svc.add_description(session, op, pid, {"observed_on": "2024-02-02", "beard": "full"})
    with rdb.transaction() as session, pytest.raises(Conflict) as err:
        svc.add_document(session, op, pid, {"doc_type": "CNIC", "number": "5440012345673"})
    assert err.value.field == "number"
    with rdb.transaction() as session:
        record = svc.get_person(session, op, pid)
    assert len(record["documents"]) == 1 and record["aliases"][0]["name"] == "Rauf Jan"
    assert record["addresses"][0]["district"] == "KECH" and record["phones"][0]["e164"] == "+923337654321"


def test_merge_keeps_history_and_redirects(rdb, principal):
    op = principal()
    keep = _register(rdb, op, documents=[{"doc_type": "CNIC", "number": CNIC}]).person.id
    dup = _register(
        rdb,
        op,
        given_name_en="Abdur Rauf",
        caste=None,
        date_of_birth="1988-01-09",
        documents=[{"doc_type": "PASSPORT", "number": "AB9999999"}],
        phones=["03001112223"],
    ).person.id
    with rdb.transaction() as session, pytest.raises(PermissionDenied):
        svc.merge_persons(session, op, {"survivor_id": keep, "merged_id": dup, "reason": "same man"})
    sup = principal("supervisor")
    with rdb.transaction() as session:
        svc.merge_persons(session, sup, {"survivor_id": keep, "merged_id": dup, "reason": "same CNIC photo"})
    with rdb.transaction() as session:
        record = svc.get_person(session, op, dup)  # the merged id redirects
        merged = session.get(Person, dup)
        assert merged.merged_into_id == keep and merged.merged_at is not None
    assert record["id"] == keep and record["redirected_from"] == dup
    assert {d["doc_type"] for d in record["documents"]} == {"CNIC", "PASSPORT"}
    assert record["phones"][0]["e164"] == "+923001112223"
    assert "Abdur Rauf Kakar" in [a["name"] for a in record["aliases"]]
    assert record["date_of_birth"] == "1988-01-09"  # blank filled from the merged record
    assert record["changes"][-1]["action"] == "merge"
    assert record["changes"][-1]["changes"]["date_of_birth"] == [None, "1988-01-09"]
    assert record["changes"][-1]["changes"]["merged_id"] == [None, dup]
    assert (
        record["merged_from"][0]["person_id"] == dup
        and record["merged_from"][0]["reason"] == "same CNIC photo"
    )
    with rdb.transaction() as session:
        assert svc.list_persons(session, op, reason="register check")["total"] == 1
    with rdb.transaction() as session, pytest.raises(Conflict) as err:
        svc.update_person(session, op, dup, {"caste": "x"})
    assert err.value.field == "person_id"
    with rdb.transaction() as session, pytest.raises(ValidationError):
        svc.merge_persons(session, sup, {"survivor_id": keep, "merged_id": keep, "reason": "self"})
    with rdb.transaction() as session, pytest.raises(Conflict) as err:
        svc.merge_persons(session, sup, {"survivor_id": keep, "merged_id": dup, "reason": "again"})
    assert err.value.field == "merged_id"


def test_merge_drops_the_entries_the_survivor_already_has(rdb, principal):
    """A phone, an alias or an address of the merged record that the survivor already has (the same number
    as stored, the same name in the same script whatever its case, the same address fields) is not moved a
    second time: the survivor's is kept, the merged record's dropped, and the merge's history, its PersonMerge
    row and its audit entry say what was dropped."""
    from crms.records.models import Address, PersonAlias, PersonMerge, PhoneNumber

    op = principal()
    home = {"kind": "permanent", "district": "Pishin", "text": "Village Khanozai"}
    keep = _register(
        rdb, op, phones=["+923001234567"], aliases=[{"name": "Raufa"}], addresses=[home]
    ).person.id
    dup = _register(
        rdb,
        op,
        given_name_en="Abdur Rauf",
        phones=["0300-1234567", "0333 7654321"],
        aliases=[{"name": "RAUFA"}, {"name": "رؤفا", "script": "urdu"}],
        addresses=[home, {**home, "kind": "present"}],
    ).person.id
    sup = principal("supervisor")
    with rdb.transaction() as session:
        svc.merge_persons(session, sup, {"survivor_id": keep, "merged_id": dup, "reason": "same man"})
    with rdb.transaction() as session:
        record = svc.get_person(session, op, keep)
        moved = session.scalar(select(PersonMerge.moved).where(PersonMerge.merged_id == dup))
        left = [session.scalar(select(func.count()).where(m.person_id == dup)) for m in (
            PhoneNumber, PersonAlias, Address)]  # fmt: skip
    assert [p["e164"] for p in record["phones"]] == ["+923001234567", "+923337654321"]
    assert sorted((a["name"], a["script"]) for a in record["aliases"]) == [
        ("Abdur Rauf Kakar", "latin"),
        ("Raufa", "latin"),
        ("رؤفا", "urdu"),
    ]
    assert [a["kind"] for a in record["addresses"]] == ["permanent", "present"]
    assert left == [0, 0, 0]  # the duplicates are gone, not left on the redirect
    merge = record["changes"][-1]
    assert merge["action"] == "merge"
    assert merge["changes"]["dropped_phones"] == ["+923001234567", None]
    assert merge["changes"]["dropped_aliases"] == ["RAUFA (latin)", None]
    assert merge["changes"]["dropped_addresses"] == ["permanent Village Khanozai PISHIN", None]
    assert moved["dropped"] == {
        "phones": ["+923001234567"],
        "aliases": ["RAUFA (latin)"],
        "addresses": ["permanent Village Khanozai PISHIN"],
    }
    assert len(moved["phones"]) == 1 and len(moved["aliases"]) == 1 and len(moved["addresses"]) == 1
    (entry,) = audit_entries(rdb, action="person.merge")
    assert "+923001234567" in entry.detail and "RAUFA (latin)" in entry.detail


def test_list_pagination(rdb, principal):
    op = principal()
    for i in range(5):
        _register(rdb, op, given_name_en=f"Person{chr(65 + i)}")
    with rdb.transaction() as session:
        page = svc.list_persons(session, op, limit=2, offset=2, reason="register check")
        assert page["total"] == 5 and len(page["items"]) == 2
        with pytest.raises(ValidationError) as err:
            svc.list_persons(session, op, limit=0, reason="register check")
        assert err.value.field == "limit"
        assert svc.get_person(session, op, 999999) is None  # a miss (audited)


@pytest.mark.parametrize(
    "schema, field, base",
    [
        ("DescriptionIn", "observed_on", {}),
        ("PersonCreate", "date_of_birth", {"given_name_en": "Aslam"}),
        ("CaseUpdate", "occurred_on", {}),
        ("ArrestIn", "arrested_on", {}),
        ("ConvictionIn", "convicted_on", {"court": "ATC Quetta", "sentence": "5 years"}),
    ],
)
@pytest.mark.parametrize("number", [0, 1_700_000_000, 2.5, True])
def test_a_date_given_as_a_number_is_refused_by_name(schema, field, base, number):
    """Before: ``"observed_on": 0`` over the API was stored as 1970-01-01 (Pydantic reads a number as seconds
    since 1970; found by schemathesis). Every date of a record is written YYYY-MM-DD."""
    from crms.records import schemas

    model = getattr(schemas, schema)
    with pytest.raises(ValidationError, match="YYYY-MM-DD") as err:
        schemas.coerce(model, {**base, field: number})
    assert err.value.field == field
    assert getattr(schemas.coerce(model, {**base, field: "2020-02-29"}), field).isoformat() == "2020-02-29"


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("14/03/2024", "write 2024-03-14 for '14/03/2024'"),  # as an officer writes it, day first
        ("14-Mar-2024", "write 2024-03-14 for '14-Mar-2024'"),
        ("2024/03/14", "write 2024-03-14 for '2024/03/14'"),
        ("1710374400", "not '1710374400'"),  # Pydantic read a number in a string as seconds: 2024-03-14
        ("2024", "not '2024'"),
        ("03/14/2024", "not '03/14/2024'"),  # no day: day 3 of month 14
        ("yesterday", "not 'yesterday'"),
    ],
)
def test_a_date_written_otherwise_is_refused_saying_how_to_write_it(written, said):
    """A record's date (API, CLI) is YYYY-MM-DD and nothing else: which number is the day is never guessed.
    A date typed as an officer writes it (14/03/2024) was refused with Pydantic's "invalid character in
    year", and a number in a string was taken as seconds since 1970. Now the refusal names what was given and,
    where it reads day first as a day, that day written YYYY-MM-DD; its kind is ``date_parsing``."""
    from crms.records import schemas

    with pytest.raises(ValidationError) as err:
        schemas.coerce(schemas.DescriptionIn, {"observed_on": written})
    assert err.value.field == "observed_on" and said in err.value.message, err.value.message
    assert "a date is written YYYY-MM-DD" in err.value.message
    assert err.value.details[0]["type"] == "date_parsing"
    for kept in ("2024-03-14", " 2024-03-14 ", "2024-03-14T00:00:00", "2024-03-14T00:00:00Z"):
        assert schemas.coerce(schemas.DescriptionIn, {"observed_on": kept}).observed_on == date(2024, 3, 14)


@pytest.mark.parametrize(("given", "kept"), [("af", "AF"), (" pk ", "PK"), ("AFG", None), ("1A", None)])
def test_a_country_code_is_taken_in_either_case_and_a_wrong_one_named(rdb, principal, given, kept):
    """``af`` was refused with a regular expression for a message: the pattern checked the letters before
    upper-casing them."""
    op = principal()
    data = person_data(nationality=given, documents=[{"doc_type": "PASSPORT", "number": "AB1234567"}])
    data["documents"][0]["issuing_country"] = given
    if kept is None:
        with pytest.raises(ValidationError) as err, rdb.transaction() as session:
            svc.register_person(session, op, data)
        assert err.value.field in ("nationality", "documents.0.issuing_country")
        assert "a two-letter country code such as PK or AF" in err.value.message
        return
    with rdb.transaction() as session:
        pid = svc.register_person(session, op, data).person.id
        record = svc.get_person(session, op, pid)
    assert record["nationality"] == kept and record["documents"][0]["issuing_country"] == kept
