"""The dashboard's wanted list (crms.records.services.wanted), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from crms.access.principal import Principal
from crms.errors import PermissionDenied, ValidationError
from crms.records import services as svc
from crms.records.services.wanted import list_wanted


def _who(role: str = "cro_operator", unit: str = "BA") -> Principal:
    return Principal(user_id=None, username="t", role=role, unit=unit, channel="web")


def _case(session, who, n: int, person_id: int, status: str) -> int:
    case = svc.add_case(
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
    link = svc.link_person(session, who, case.id, {"person_id": person_id, "role": "accused"})
    svc.change_party_status(session, who, link.id, {"status": "absconder"})
    if status != "absconder":
        svc.change_party_status(session, who, link.id, {"status": status})
    return case.id


def test_wanted_list_shows_flagged_persons_once_strongest_flag_first(db):
    who = _who()
    with db.transaction() as s:
        po = svc.register_person(s, who, {"given_name_en": "Akbar"}).person.id
        absc = svc.register_person(s, who, {"given_name_en": "Bahram"}).person.id
        svc.register_person(s, who, {"given_name_en": "Clean"})
        _case(s, who, 1, po, "proclaimed_offender_a")
        _case(s, who, 2, absc, "absconder")
    with db.transaction() as s:
        items = list_wanted(s, who, reason="dashboard")
    by_id = {i["person_id"]: i for i in items}
    assert set(by_id) == {po, absc}
    assert by_id[po]["kind"] == "proclaimed_offender" and by_id[po]["fir"].startswith("FIR 1/2024")
    assert by_id[absc]["kind"] == "wanted"
    with db.transaction() as s:  # another unit sees none of them
        assert list_wanted(s, _who(unit="BA/XYZ"), reason="dashboard") == []


@pytest.mark.parametrize("role", ["auditor", "investigating_officer"])
def test_wanted_list_is_browsing_the_register(db, role):
    """Only the roles that browse the register (person:browse), and with a reason."""
    with db.transaction() as s, pytest.raises(PermissionDenied):
        list_wanted(s, _who(role=role), reason="dashboard")
    with db.transaction() as s, pytest.raises(ValidationError):
        list_wanted(s, _who(), reason=None)
