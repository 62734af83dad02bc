"""Case services on SQLite and PostgreSQL: FIR key uniqueness, parsed offences, status transitions with
history, person-in-case statuses, arrests and convictions, flags raised and cleared (history kept),
jurisdiction, and rollback of a failed action."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crms.errors import Conflict, NotFound, PermissionDenied, ValidationError
from crms.records import services as svc
from crms.records import services_cases as cases
from crms.records.models import Case, CaseParty, CaseStatusChange, PersonFlag

from ._support import audit_entries, case_data, person_data

QUETTA = "BA/QTA/QUETTA"


def _case(db, who, **kw) -> int:
    with db.transaction() as session:
        return cases.add_case(session, who, case_data(**kw)).id


def _person(db, who, **kw) -> int:
    with db.transaction() as session:
        return svc.register_person(session, who, person_data(**kw)).person.id


def _link(db, who, case_id, person_id, role="accused", **kw) -> int:
    with db.transaction() as session:
        return cases.link_person(session, who, case_id, {"person_id": person_id, "role": role, **kw}).id


def _status(db, who, link_id, status, **kw):
    with db.transaction() as session:
        return cases.change_party_status(session, who, link_id, {"status": status, **kw})


def _flags(db, person_id):
    with db.transaction() as session:
        return [
            (f.kind, f.case_id, f.cleared_at is None)
            for f in session.scalars(
                select(PersonFlag).where(PersonFlag.person_id == person_id).order_by(PersonFlag.id)
            )
        ]


def test_add_case_parses_offences_and_starts_history(rdb, principal):
    op = principal("cro_operator", QUETTA)
    case_id = _case(rdb, op, police_station="Cantt", district="Quetta")
    with rdb.transaction() as session:
        case = cases.get_case(session, op, case_id)
    assert case["police_station"] == "QUETTA-CANTT" and case["district"] == "QUETTA"
    assert case["unit"] == "BA/QTA/QUETTA/QUETTA-CANTT"
    assert case["fir"] == "FIR 112/2024 PS QUETTA-CANTT"
    assert [(o["statute"], o["section"]) for o in case["offences"]] == [
        ("PPC", "392"),
        ("PPC", "411"),
        ("PPC", "34"),
    ]
    assert case["status"] == "registered"
    assert [(h["from"], h["to"]) for h in case["status_history"]] == [(None, "registered")]
    assert case["created_by"] == op.user_id
    assert [e.action for e in audit_entries(rdb, target_type="case")] == ["case.create", "case.read"]


def test_fir_key_is_unique_per_station_and_year(rdb, principal):
    op = principal()
    first = _case(rdb, op)
    with pytest.raises(Conflict) as err:
        _case(rdb, op, police_station="QUETTA-CANTT", sections="302 PPC")
    assert err.value.field == "fir_number" and f"case {first}" in err.value.message
    _case(rdb, op, police_station="QUETTA-CITY")  # same number, other station
    _case(rdb, op, year=2023, registered_on="2023-12-30", occurred_on=None)  # same number, other year
    with rdb.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 3
        found = cases.find_case(session, op, "Cantt", 112, 2023)
        assert found["year"] == 2023
        with pytest.raises(NotFound):
            cases.find_case(session, op, "Cantt", 999, 2023)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"police_station": "Atlantis"}, "police_station"),
        ({"police_station": "City", "district": "Narnia"}, "district"),
        ({"police_station": "KECH-CITY", "district": "Quetta"}, "police_station"),
        (
            {
                "police_station": "QUETTA-LEVIES-KUCHLAK",
                "registered_on": "2025-02-01",
                "year": 2025,
                "occurred_on": None,
            },
            "police_station",
        ),
        ({"sections": "999999 PPC"}, "sections"),
        ({"sections": "nothing here"}, "sections"),
        ({"registered_on": "2999-01-01", "year": 2999}, "registered_on"),
        ({"year": 2023}, "year"),
        ({"occurred_on": "2024-03-20"}, "occurred_on"),
        ({"fir_number": 0}, "fir_number"),
        ({"place": "x" * 501}, "place"),
    ],
)
def test_bad_case_input_names_the_field(rdb, principal, changes, field):
    with pytest.raises(ValidationError) as err:
        _case(rdb, principal(), **changes)
    assert err.value.field == field, err.value.message
    with rdb.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0


def test_levies_station_before_its_merger_is_fine(rdb, principal):
    _case(rdb, principal(), police_station="QUETTA-LEVIES-KUCHLAK", registered_on="2024-03-14")


def test_case_status_transitions_and_history(rdb, principal):
    op = principal("sho", QUETTA)
    case_id = _case(rdb, op)
    with rdb.transaction() as session:
        with pytest.raises(ValidationError) as err:
            cases.change_case_status(session, op, case_id, {"status": "convicted"})
        assert err.value.field == "status" and "registered to convicted" in err.value.message
    for status in ("under_investigation", "challan_complete", "under_trial", "convicted"):
        with rdb.transaction() as session:
            cases.change_case_status(session, op, case_id, {"status": status, "note": f"-> {status}"})
    with rdb.transaction() as session:
        with pytest.raises(ValidationError):
            cases.change_case_status(session, op, case_id, {"status": "bogus"})
        case = cases.get_case(session, op, case_id)
    assert case["status"] == "convicted"
    assert [(h["from"], h["to"]) for h in case["status_history"]] == [
        (None, "registered"),
        ("registered", "under_investigation"),
        ("under_investigation", "challan_complete"),
        ("challan_complete", "under_trial"),
        ("under_trial", "convicted"),
    ]
    assert all(h["changed_by"] == op.user_id for h in case["status_history"])


def test_jurisdiction_district_a_cannot_write_district_b(rdb, principal):
    kech_op = principal("cro_operator", "BA/MKN/KECH")
    quetta_op = principal("cro_operator", QUETTA)
    with pytest.raises(PermissionDenied):
        _case(rdb, kech_op)
    case_id = _case(rdb, quetta_op)
    pid = _person(rdb, kech_op)
    with pytest.raises(PermissionDenied):
        _link(rdb, kech_op, case_id, pid)
    link = _link(rdb, quetta_op, case_id, pid)  # a Quetta case may name a person registered in Kech
    with pytest.raises(PermissionDenied):
        _status(rdb, kech_op, link, "arrested")
    with rdb.transaction() as session, pytest.raises(PermissionDenied):
        cases.change_case_status(session, kech_op, case_id, {"status": "under_investigation"})
    with pytest.raises(PermissionDenied):
        _case(rdb, principal("auditor"))
    with pytest.raises(PermissionDenied):  # examiners enrol fingerprints, not FIRs
        _case(rdb, principal("fingerprint_examiner"))
    with rdb.transaction() as session:  # reads are province-wide
        assert cases.get_case(session, kech_op, case_id)["id"] == case_id


def test_flags_raised_by_absconding_and_cleared_on_acquittal_with_history(rdb, principal):
    op = principal("cro_operator", QUETTA)
    pid = _person(rdb, op)
    case_id = _case(rdb, op)
    link = _link(rdb, op, case_id, pid)
    assert _flags(rdb, pid) == []
    _status(rdb, op, link, "absconder", note="not found at home")
    assert sorted(_flags(rdb, pid)) == [("absconder", case_id, True), ("wanted", case_id, True)]
    _status(rdb, op, link, "proclaimed_offender_a", effective_on="2024-06-01")
    assert sorted(k for k, _, active in _flags(rdb, pid) if active) == [
        "absconder",
        "proclaimed_offender",
        "wanted",
    ]
    with rdb.transaction() as session:
        summary = svc.get_person(session, op, pid)
    assert summary["active_flags"] == ["absconder", "proclaimed_offender", "wanted"]
    assert summary["flags"][0]["fir"] == "FIR 112/2024 PS QUETTA-CANTT"
    _case_to(rdb, op, case_id, "challan_512", "under_trial")  # an acquittal needs a trial
    _status(rdb, op, link, "acquitted", note="acquitted in absentia set aside; acquitted")
    flags = _flags(rdb, pid)
    assert len(flags) == 3 and not any(active for _, _, active in flags)  # history kept, nothing active
    with rdb.transaction() as session:
        rows = session.scalars(select(PersonFlag).where(PersonFlag.person_id == pid)).all()
        assert all(r.cleared_by == op.user_id and "acquitted" in r.clear_reason for r in rows)
        assert all(r.raised_at <= r.cleared_at for r in rows)
        record = svc.get_person(session, op, pid)
    assert record["active_flags"] == [] and len(record["flags"]) == 3
    assert [(h["from"], h["to"]) for h in record["cases"][0]["status_history"]] == [
        (None, "named"),
        ("named", "absconder"),
        ("absconder", "proclaimed_offender_a"),
        ("proclaimed_offender_a", "acquitted"),
    ]


def test_flags_of_one_case_do_not_touch_another(rdb, principal):
    op = principal()
    pid = _person(rdb, op)
    a, b = _case(rdb, op, fir_number=1), _case(rdb, op, fir_number=2)
    la, lb = _link(rdb, op, a, pid), _link(rdb, op, b, pid)
    _status(rdb, op, la, "absconder")
    _status(rdb, op, lb, "absconder")
    _status(rdb, op, la, "discharged")
    active = sorted((k, c) for k, c, on in _flags(rdb, pid) if on)
    assert active == [("absconder", b), ("wanted", b)]


def test_case_acquittal_clears_flags_it_raised(rdb, principal):
    op = principal("sho")
    pid = _person(rdb, op)
    case_id = _case(rdb, op)
    link = _link(rdb, op, case_id, pid)
    _status(rdb, op, link, "absconder")
    for status in ("under_investigation", "challan_512", "under_trial", "acquitted"):
        with rdb.transaction() as session:
            cases.change_case_status(session, op, case_id, {"status": status})
    assert [on for _, _, on in _flags(rdb, pid)] == [False, False]


def test_arrest_and_conviction(rdb, principal):
    op = principal()
    pid = _person(rdb, op)
    case_id = _case(rdb, op)
    link = _link(rdb, op, case_id, pid, modus_operandi="snatching on motorbike", gang="Zarghoon gang")
    _status(rdb, op, link, "absconder")
    with rdb.transaction() as session:
        cases.record_arrest(
            session, op, link, {"arrested_on": "2024-04-02", "place": "Sariab", "arrested_by": "SI Khan"}
        )
    assert [on for _, _, on in _flags(rdb, pid)] == [False, False]  # arrest clears wanted/absconder
    with rdb.transaction() as session:
        with pytest.raises(ValidationError) as err:
            cases.record_arrest(session, op, link, {"arrested_on": "2020-01-01"})
        assert err.value.field == "arrested_on"
    _status(rdb, op, link, "on_bail")
    _case_to(rdb, op, case_id, "challan_complete", "under_trial")
    with rdb.transaction() as session:
        cases.record_conviction(
            session,
            op,
            link,
            {"court": "ATC-I Quetta", "convicted_on": "2025-01-15", "sentence": "7 years RI"},
        )
    with rdb.transaction() as session:
        record = svc.get_person(session, op, pid)
    c = record["cases"][0]
    assert c["status"] == "convicted" and c["gang"] == "Zarghoon gang"
    assert c["arrests"][0]["place"] == "Sariab" and c["convictions"][0]["sentence"] == "7 years RI"
    assert [h["to"] for h in c["status_history"]] == [
        "named",
        "absconder",
        "arrested",
        "on_bail",
        "convicted",
    ]
    assert record["summary"]["convictions"] == 1 and record["summary"]["pending"] == 0


def test_party_rules(rdb, principal):
    op = principal()
    pid = _person(rdb, op)
    case_id = _case(rdb, op)
    complainant = _link(rdb, op, case_id, pid, role="complainant")
    with pytest.raises(ValidationError) as err:
        _status(rdb, op, complainant, "arrested")
    assert err.value.field == "status"
    with pytest.raises(Conflict):
        _link(rdb, op, case_id, pid, role="complainant")
    with pytest.raises(NotFound) as err:
        _link(rdb, op, case_id, 999999)
    assert err.value.field == "person_id"
    accused = _link(rdb, op, case_id, pid)
    with pytest.raises(ValidationError) as err:
        _status(rdb, op, accused, "proclaimed_offender_a")  # must abscond first
    assert "named to proclaimed_offender_a" in err.value.message


def test_manual_flag(rdb, principal):
    op = principal()
    pid = _person(rdb, op)
    case_id = _case(rdb, op)
    _link(rdb, op, case_id, pid)
    with rdb.transaction() as session:
        cases.set_flag(session, op, pid, {"kind": "wanted", "case_id": case_id, "reason": "named in FIR"})
    with rdb.transaction() as session, pytest.raises(Conflict):
        cases.set_flag(session, op, pid, {"kind": "wanted", "case_id": case_id, "reason": "again"})
    with rdb.transaction() as session:
        cases.set_flag(
            session,
            op,
            pid,
            {"kind": "wanted", "case_id": case_id, "action": "clear", "reason": "surrendered"},
        )
        history = cases.flag_history(session, op, pid)
    assert [(f["kind"], f["active"], f["clear_reason"]) for f in history] == [
        ("wanted", False, "surrendered")
    ]
    other = _person(rdb, op, given_name_en="Stranger")
    with rdb.transaction() as session, pytest.raises(ValidationError) as err:
        cases.set_flag(session, op, other, {"kind": "wanted", "case_id": case_id, "reason": "no link"})
    assert err.value.field == "case_id"


def test_failed_action_writes_nothing(rdb, principal):
    """An error after earlier writes in the same unit of work rolls all of them back."""
    op = principal()
    pid = _person(rdb, op)
    case_id = _case(rdb, op)
    link = _link(rdb, op, case_id, pid)
    with pytest.raises(ValidationError), rdb.transaction() as session:
        cases.change_case_status(session, op, case_id, {"status": "under_investigation"})
        cases.change_party_status(session, op, link, {"status": "absconder"})
        cases.change_party_status(
            session, op, link, {"status": "named"}
        )  # not allowed -> everything rolls back
    with rdb.transaction() as session:
        assert session.get(Case, case_id).status == "registered"
        assert session.scalar(select(func.count()).select_from(CaseStatusChange)) == 1
    assert _flags(rdb, pid) == []


def test_list_cases_filters(rdb, principal):
    op = principal()
    for n in range(1, 4):
        _case(rdb, op, fir_number=n)
    _case(rdb, op, fir_number=1, police_station="KECH-CITY", place=None)
    with rdb.transaction() as session:
        assert cases.list_cases(session, op)["total"] == 4
        assert cases.list_cases(session, op, district="Kech")["total"] == 1
        page = cases.list_cases(session, op, police_station="QUETTA-CANTT", limit=2)
        assert page["total"] == 3 and len(page["items"]) == 2
        with pytest.raises(ValidationError) as err:
            cases.list_cases(session, op, status="nonsense")
        assert err.value.field == "status"


def _case_to(db, who, case_id, *statuses):
    for status in statuses:
        with db.transaction() as session:
            cases.change_case_status(session, who, case_id, {"status": status})


def test_person_cannot_be_convicted_while_the_case_is_under_investigation(rdb, principal):
    """A conviction needs a trial (case under trial or convicted) and a conviction record; before, a status
    change alone made an absconder 'convicted' during investigation, cleared the wanted flags and counted a
    conviction with no conviction record."""
    op = principal("sho")
    pid = _person(rdb, op)
    case_id = _case(rdb, op)
    _case_to(rdb, op, case_id, "under_investigation")
    link = _link(rdb, op, case_id, pid)
    _status(rdb, op, link, "absconder")
    with pytest.raises(ValidationError) as err:
        _status(rdb, op, link, "convicted")
    assert err.value.field == "status" and "under_investigation" in err.value.message
    with rdb.transaction() as session, pytest.raises(ValidationError) as err:
        cases.record_conviction(
            session,
            op,
            link,
            {"court": "ATC-I Quetta", "convicted_on": "2025-01-15", "sentence": "3 years RI"},
        )
    assert err.value.field == "status" and "under_investigation" in err.value.message
    with rdb.transaction() as session:
        record = svc.get_person(session, op, pid)
    assert record["active_flags"] == ["absconder", "wanted"]
    assert record["summary"]["convictions"] == 0 and record["cases"][0]["status"] == "absconder"


def test_convicted_and_arrested_come_only_with_their_records(rdb, principal):
    """'convicted' and 'arrested' are set by recording the conviction / the arrest, never by a bare status
    change (which would count a conviction or an arrest that no record proves)."""
    op = principal("sho")
    pid = _person(rdb, op)
    case_id = _case(rdb, op)
    link = _link(rdb, op, case_id, pid)
    with pytest.raises(ValidationError) as err:
        _status(rdb, op, link, "arrested")
    assert err.value.field == "status" and "record the arrest" in err.value.message
    with pytest.raises(ValidationError) as err:
        _link(rdb, op, case_id, _person(rdb, op, given_name_en="Other"), status="arrested")
    assert err.value.field == "status" and "record the arrest" in err.value.message
    with rdb.transaction() as session:
        cases.record_arrest(session, op, link, {"arrested_on": "2024-04-02", "place": "Sariab"})
    _case_to(rdb, op, case_id, "challan_complete", "under_trial")
    with pytest.raises(ValidationError) as err:
        _status(rdb, op, link, "convicted")  # a trial, but no conviction record
    assert err.value.field == "status" and "record the conviction" in err.value.message
    with rdb.transaction() as session:
        cases.record_conviction(
            session,
            op,
            link,
            {"court": "ATC-I Quetta", "convicted_on": "2025-01-15", "sentence": "3 years RI"},
        )
        record = svc.get_person(session, op, pid)
    assert record["cases"][0]["status"] == "convicted" and record["summary"]["convictions"] == 1
    assert len(record["cases"][0]["convictions"]) == 1 and len(record["cases"][0]["arrests"]) == 1


def test_person_statuses_follow_the_case_state(rdb, principal):
    """Acquittal needs a trial; nobody absconds from (or is proclaimed in) a cancelled, compromised or
    acquitted case, so no wanted flag is raised for one."""
    op = principal("sho")
    pid = _person(rdb, op)
    case_id = _case(rdb, op)
    link = _link(rdb, op, case_id, pid)
    with pytest.raises(ValidationError) as err:
        _status(rdb, op, link, "acquitted")  # the case is only registered
    assert err.value.field == "status" and "registered" in err.value.message
    _case_to(rdb, op, case_id, "cancelled")
    with pytest.raises(ValidationError) as err:
        _status(rdb, op, link, "absconder")
    assert err.value.field == "status" and "cancelled" in err.value.message
    assert _flags(rdb, pid) == []
    _status(rdb, op, link, "discharged")  # a cancelled case discharges its accused


def test_api_refuses_a_conviction_by_status_change(client, make_user):
    _, sho = make_user("sho", unit=QUETTA)
    _, op = make_user("cro_operator", unit=QUETTA)
    pid = client.post("/api/v1/persons", json=person_data(), headers=op).json()["person"]["id"]
    case_id = client.post("/api/v1/cases", json=case_data(), headers=sho).json()["id"]
    link = client.post(
        f"/api/v1/cases/{case_id}/links", json={"person_id": pid, "role": "accused"}, headers=sho
    )
    assert link.status_code == 201, link.text
    url = f"/api/v1/links/{link.json()['link_id']}/status"
    assert client.post(url, json={"status": "absconder"}, headers=sho).status_code == 200
    r = client.post(url, json={"status": "convicted"}, headers=sho)  # under investigation, no record
    assert r.status_code == 422 and r.json()["field"] == "status", r.text
    person = client.get(f"/api/v1/persons/{pid}", headers=sho).json()
    assert person["active_flags"] == ["absconder", "wanted"] and person["summary"]["convictions"] == 0


def test_checks_shared_by_case_and_party_changes_keep_their_wording(rdb, principal):
    """Status transitions, dates before the FIR and 'only an accused' (one rule each, in services.common and
    services.court) answer every caller with the same field and wording."""
    op = principal()
    pid = _person(rdb, op)
    case_id = _case(rdb, op)
    complainant = _link(rdb, op, case_id, pid, role="complainant")
    accused = _link(rdb, op, case_id, pid)
    early = "1990-01-01"
    with rdb.transaction() as session:
        refusals, kinds = [], []
        for call in (
            lambda: cases.change_case_status(session, op, case_id, {"status": "convicted"}),
            lambda: cases.change_party_status(session, op, accused, {"status": "proclaimed_offender_a"}),
            lambda: cases.change_case_status(
                session, op, case_id, {"status": "under_investigation", "effective_on": early}
            ),
            lambda: cases.change_party_status(
                session, op, accused, {"status": "absconder", "effective_on": early}
            ),
            lambda: cases.record_conviction(
                session, op, accused, {"court": "ATC-I", "convicted_on": early, "sentence": "7 years RI"}
            ),
            lambda: cases.record_arrest(session, op, complainant, {"arrested_on": "2024-04-02"}),
            lambda: cases.record_conviction(
                session, op, complainant, {"court": "ATC-I", "convicted_on": early, "sentence": "7 years RI"}
            ),
        ):
            with pytest.raises(ValidationError) as err:
                call()
            refusals.append((err.value.field, err.value.message))
            kinds.append([(d.get("type"), d.get("values")) for d in err.value.details])
    assert refusals[0][0] == "status"
    assert refusals[0][1].startswith("case status cannot change from registered to convicted (allowed: ")
    assert refusals[1][0] == "status"
    assert refusals[1][1].startswith("status cannot change from named to proclaimed_offender_a (allowed: ")
    case_can = ["cancelled", "challan_512", "challan_complete", "challan_interim", "under_investigation",
                "untraced"]  # fmt: skip
    assert kinds[0] == [
        ("case_status_not_allowed", {"old": "registered", "new": "convicted", "allowed": case_can})
    ]
    person_can = ["absconder", "acquitted", "arrested", "discharged", "on_bail"]
    assert kinds[1] == [
        ("status_not_allowed", {"old": "named", "new": "proclaimed_offender_a", "allowed": person_can})
    ]
    assert refusals[2:5] == [
        ("effective_on", "effective_on is before the FIR was registered"),
        ("effective_on", "effective_on is before the FIR was registered"),
        ("convicted_on", "convicted_on is before the FIR was registered"),
    ]
    assert kinds[2:5] == [[("before_fir", {"registered": "2024-03-14"})]] * 3  # said by the pages in Urdu
    assert refusals[5] == ("link_id", "only an accused can be arrested in a case (this link is complainant)")
    assert kinds[5:7] == [[("arrest_accused_only", {"role": "complainant"})],
                          [("conviction_accused_only", {"role": "complainant"})]]  # fmt: skip
    assert refusals[6] == ("link_id", "only an accused can be convicted (this link is complainant)")


def test_an_arrest_at_the_scene_before_the_fir_is_recorded(rdb, principal):
    """Caught in the act: arrested on the day of the offence, the FIR registered the day after. The arrest
    stands on that day; before the offence it is refused, naming arrested_on (not a field nobody sent)."""
    op = principal()
    pid = _person(rdb, op)
    case_id = _case(rdb, op)  # offence 2024-03-13, FIR 2024-03-14
    link = _link(rdb, op, case_id, pid)
    with rdb.transaction() as session:
        with pytest.raises(ValidationError) as err:
            cases.record_arrest(session, op, link, {"arrested_on": "2024-03-12"})
        assert err.value.field == "arrested_on"
    with rdb.transaction() as session:
        cases.record_arrest(session, op, link, {"arrested_on": "2024-03-13", "place": "Zarghoon Road"})
    with rdb.transaction() as session:
        c = svc.get_person(session, op, pid)["cases"][0]
    assert c["status"] == "arrested" and c["arrests"][0]["arrested_on"] == "2024-03-13"
    assert c["status_history"][-1]["effective_on"] == "2024-03-13"


def test_the_day_a_person_was_named_starts_the_links_history(rdb, principal):
    """A register entered years later: the link's first status carries the day the person was named (not
    before the FIR, not in the future); without it the history has only the day it was recorded."""
    op = principal()
    case_id = _case(rdb, op)
    named = _link(rdb, op, case_id, _person(rdb, op), effective_on="2024-05-02")
    unknown = _link(rdb, op, case_id, _person(rdb, op), role="witness")
    for day in ("2024-03-13", "2999-01-01"):
        with pytest.raises(ValidationError) as err:
            _link(rdb, op, case_id, _person(rdb, op), effective_on=day)
        assert err.value.field == "effective_on"
    with rdb.transaction() as session:
        parties = cases.get_case(session, op, case_id)["parties"]
    first = {p["link_id"]: p["status_history"][0] for p in parties}
    assert first[named]["effective_on"] == "2024-05-02" and first[named]["to"] == "named"
    assert first[unknown]["effective_on"] is None and first[unknown]["changed_at"]


class _Undo(Exception):
    """Raised to roll back an attempt that succeeded."""


def _accepted(db, attempt) -> bool:
    """Whether the services accept ATTEMPT(session); nothing of it is kept either way."""
    try:
        with db.transaction() as session:
            attempt(session)
            raise _Undo
    except _Undo:
        return True
    except ValidationError:
        return False


@pytest.mark.parametrize(
    ("case_path", "party_path", "role"),
    [
        ((), (), "accused"),
        (("under_investigation",), ("absconder",), "accused"),
        (("under_investigation", "challan_complete", "under_trial"), ("on_bail",), "accused"),
        (("cancelled",), (), "accused"),
        ((), (), "witness"),
    ],
)
def test_the_moves_offered_are_exactly_the_ones_the_rules_accept(rdb, principal, case_path, party_path, role):
    """What the case page offers (a case's and a person's next_statuses, can_record) is what the services
    then accept, in every state tried: no option that is refused, none missing."""
    from crms.records.models import CaseStatus, PartyStatus

    sho = principal("sho", QUETTA)
    case_id = _case(rdb, sho)
    link = _link(rdb, sho, case_id, _person(rdb, sho), role=role)
    _case_to(rdb, sho, case_id, *case_path)
    for status in party_path:
        _status(rdb, sho, link, status)
    with rdb.transaction() as session:
        case = cases.get_case(session, sho, case_id)
    offered = case["parties"][0]

    def party(status):
        return lambda s: cases.change_party_status(s, sho, link, {"status": status})

    def case_to(status):
        return lambda s: cases.change_case_status(s, sho, case_id, {"status": status})

    arrest = {"arrested_on": "2024-12-01"}
    conviction = {"court": "ATC-I Quetta", "convicted_on": "2024-12-01", "sentence": "3 years RI"}
    records = {
        "arrest": lambda s: cases.record_arrest(s, sho, link, arrest),
        "conviction": lambda s: cases.record_conviction(s, sho, link, conviction),
    }
    assert offered["next_statuses"] == [p.value for p in PartyStatus if _accepted(rdb, party(p.value))]
    assert offered["can_record"] == [what for what, call in records.items() if _accepted(rdb, call)]
    assert case["next_statuses"] == [c.value for c in CaseStatus if _accepted(rdb, case_to(c.value))]


def test_a_link_made_in_error_is_removed_with_a_reason_and_its_flags_cleared(rdb, principal):
    """The wrong man linked (or the wrong FIR chosen), then marked absconder: the link and its history go,
    the flags it raised are cleared and kept, the audit trail keeps what it held and why; a link with an
    arrest recorded stays; and the merge of two records of one man linked to one case, refused until one
    link goes, then goes through."""
    op, examiner = principal("cro_operator", QUETTA), principal("fingerprint_examiner")
    sup = principal("supervisor")
    wrong, right = _person(rdb, op), _person(rdb, op, given_name_en="Abdul Ghani")
    case_id = _case(rdb, op)
    link = _link(rdb, op, case_id, wrong, effective_on="2024-03-14")
    _status(rdb, op, link, "absconder", note="not found at home")
    kept = _link(rdb, op, case_id, right)
    assert sorted(k for k, _, active in _flags(rdb, wrong) if active) == ["absconder", "wanted"]

    for reason in (None, " "):
        with pytest.raises(ValidationError) as err, rdb.transaction() as session:
            cases.remove_link(session, op, link, {"reason": reason})
        assert err.value.field == "reason"
    for who in (examiner, principal("cro_operator", "BA/MKN/KECH")):
        with pytest.raises(PermissionDenied), rdb.transaction() as session:
            cases.remove_link(session, who, link, {"reason": "wrong man"})
    with pytest.raises(NotFound), rdb.transaction() as session:
        cases.remove_link(session, op, 999_999, {"reason": "wrong man"})

    with rdb.transaction() as session:
        cases.remove_link(session, op, link, {"reason": "wrong Abdul Rauf chosen"})
    with rdb.transaction() as session:
        record = svc.get_person(session, op, wrong)
        case = cases.get_case(session, op, case_id)
    assert record["cases"] == [] and record["active_flags"] == []
    assert [p["link_id"] for p in case["parties"]] == [kept]
    assert _flags(rdb, wrong) == [("absconder", case_id, False), ("wanted", case_id, False)]  # kept
    with rdb.transaction() as session:
        reasons = {f.clear_reason for f in session.scalars(select(PersonFlag))}
    assert reasons == {"link removed as made in error: wrong Abdul Rauf chosen"}
    (entry,) = audit_entries(rdb, action="case.link.remove")
    assert entry.reason == "wrong Abdul Rauf chosen" and "as accused, status absconder" in entry.detail
    assert "2 status change(s)" in entry.detail and entry.target_id == str(wrong)

    with rdb.transaction() as session:
        cases.record_arrest(session, op, kept, {"arrested_on": "2024-03-20"})
    with pytest.raises(Conflict) as err, rdb.transaction() as session:
        cases.remove_link(session, op, kept, {"reason": "wrong man"})
    assert "an arrest is recorded" in err.value.message

    twin = _person(rdb, op, given_name_en="Abdul Ghani", caste="Raisani")  # the same man, registered twice
    twin_link = _link(rdb, op, case_id, twin)
    with pytest.raises(Conflict) as err, rdb.transaction() as session:
        svc.merge_persons(session, sup, {"survivor_id": right, "merged_id": twin, "reason": "same man"})
    assert "remove the link made in error" in err.value.message
    with rdb.transaction() as session:
        cases.remove_link(session, op, twin_link, {"reason": "the same man as the other accused"})
        svc.merge_persons(session, sup, {"survivor_id": right, "merged_id": twin, "reason": "same man"})


def test_status_changes_and_arrests_are_recorded_in_the_order_they_happened(rdb, principal):
    """A person absconding from 2024-04-01 cannot be arrested on 2024-03-20, nor made a proclaimed offender
    from before that day: the history would read out of order. An arrest while in custody is refused: the
    release (bail) or escape comes first. A change recorded without its day is not compared."""
    op = principal()
    case_id = _case(rdb, op)  # registered 2024-03-14, the offence 2024-03-13
    caught = _link(rdb, op, case_id, _person(rdb, op, given_name_en="Caught Khan"), effective_on="2024-03-14")
    with rdb.transaction() as session:  # caught at the scene, before the FIR named him: in order
        cases.record_arrest(session, op, caught, {"arrested_on": "2024-03-13"})
    link = _link(rdb, op, case_id, _person(rdb, op))
    with rdb.transaction() as session:
        cases.change_party_status(session, op, link, {"status": "absconder", "effective_on": "2024-04-01"})
    for action, data, field in (
        (cases.record_arrest, {"arrested_on": "2024-03-20"}, "arrested_on"),
        (cases.change_party_status, {"status": "proclaimed_offender_a", "effective_on": "2024-03-31"}, None),
    ):
        with rdb.transaction() as session:
            with pytest.raises(ValidationError, match="record changes in the order they happened") as err:
                action(session, op, link, data)
            assert err.value.field == (field or "effective_on")
            (detail,) = err.value.details
            assert detail["type"] == "status_out_of_order"
            assert detail["values"] == {"since": "2024-04-01", "status": "absconder"}
    with rdb.transaction() as session:
        cases.record_arrest(session, op, link, {"arrested_on": "2024-04-01"})  # the same day is in order
    with rdb.transaction() as session:
        with pytest.raises(Conflict, match=r"already arrested in this case \(on 2024-04-01\)") as err:
            cases.record_arrest(session, op, link, {"arrested_on": "2024-05-02"})
        assert err.value.field == "arrested_on"
        assert err.value.details[0]["type"] == "already_arrested"
        assert err.value.details[0]["values"] == {"since": "2024-04-01"}
    with rdb.transaction() as session:
        cases.change_party_status(session, op, link, {"status": "on_bail"})  # no day: not compared
        cases.record_arrest(session, op, link, {"arrested_on": "2024-06-10"})  # re-arrested after bail
        history = [(h.status, h.effective_on) for h in session.get(CaseParty, link).status_history]
    assert [s for s, _ in history] == ["named", "absconder", "arrested", "on_bail", "arrested"]


def test_a_new_link_names_its_id_in_the_trail_and_never_takes_a_removed_ones(rdb, principal):
    """The probe removed link 49 and added a witness: SQLite gave the new link id 49 again, and the
    ``case.link`` entry did not say which link it made, so a later "link 49" entry could be either. The
    entry names the link it made, and a removed link's id is not given again (SQLite: AUTOINCREMENT;
    PostgreSQL's sequences never reuse one)."""
    import json

    op = principal("cro_operator", QUETTA)
    case_id, other = _case(rdb, op), _case(rdb, op, fir_number=113)
    accused, witness = _person(rdb, op), _person(rdb, op, given_name_en="Abdul Ghani")
    first = _link(rdb, op, other, accused)
    wrong = _link(rdb, op, case_id, accused)  # the newest link: the one SQLite would give again
    with rdb.transaction() as session:
        cases.remove_link(session, op, wrong, {"reason": "wrong FIR chosen"})
    new = _link(rdb, op, case_id, witness, role="witness")
    assert new != wrong and new > wrong > first
    made = [json.loads(e.query) for e in audit_entries(rdb, action="case.link")]
    assert [m["link_id"] for m in made] == [first, wrong, new]
    assert made[-1] | {"link_id": new} == {
        "link_id": new,
        "case_id": case_id,
        "role": "witness",
        "status": "named",
    }
