"""The case services under their former module name (kept so that existing imports keep working): FIRs
(:mod:`crms.records.services.cases`), person-in-case links and statuses (:mod:`crms.records.services.links`),
arrests and convictions (:mod:`crms.records.services.court`), flags (:mod:`crms.records.services.flags`)."""

from __future__ import annotations

from crms.records.services import (
    CASE_CLEARS_FLAGS,
    CASE_TRANSITIONS,
    PARTY_TRANSITIONS,
    STATUS_FLAGS,
    add_case,
    case_dict,
    change_case_status,
    change_party_status,
    find_case,
    flag_history,
    get_case,
    get_link,
    link_dict,
    link_person,
    list_cases,
    record_arrest,
    record_conviction,
    remove_link,
    set_flag,
    update_case,
    update_link,
)

__all__ = [
    "CASE_CLEARS_FLAGS",
    "CASE_TRANSITIONS",
    "PARTY_TRANSITIONS",
    "STATUS_FLAGS",
    "add_case",
    "case_dict",
    "change_case_status",
    "change_party_status",
    "find_case",
    "flag_history",
    "get_case",
    "get_link",
    "link_dict",
    "link_person",
    "list_cases",
    "record_arrest",
    "record_conviction",
    "remove_link",
    "set_flag",
    "update_case",
    "update_link",
]
