"""Records services, one concept a module:

* :mod:`.persons` — register (duplicate refusal + likely-duplicate report) and update a person;
* :mod:`.documents` — identity documents; :mod:`.contacts` — aliases, addresses, phones, descriptions;
* :mod:`.names` — name normalisation, phonetic keys and likely-duplicate detection;
* :mod:`.merge` — merging two records (other areas' rows follow through registered participants);
* :mod:`.reading` — the full record, one part of it, a page of persons; :mod:`.lookup` — the CNIC lookup;
* :mod:`.cases` — FIRs and case statuses; :mod:`.links` — person-in-case links and statuses;
  :mod:`.court` — arrests and convictions; :mod:`.flags` — wanted / proclaimed offender / absconder flags;
* :mod:`.common` — what they share (who/when stamps, fetching a person, a case or a link).

Every function takes (session, principal, ...), checks the permission with
:func:`crms.access.policy.authorize` (writes against the record's unit) and writes an audit entry with
:func:`crms.access.audit.record` for every read, search and change. Errors are raised before anything is
flushed where possible; the caller's transaction rolls back on any error, so nothing is half-written.
This package re-exports the public names, so ``from crms.records import services`` keeps working; each is
imported on first use, so that one service does not load them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crms.optional import lazy_exports

if TYPE_CHECKING:
    from crms.records.services.cases import (
        CASE_TRANSITIONS,
        add_case,
        case_dict,
        change_case_status,
        find_case,
        get_case,
        list_cases,
        update_case,
    )
    from crms.records.services.common import (
        CNIC_LIKE,
        MAX_PAGE,
        get_person_row,
        get_writable_person,
        person_not_found,
        touch,
    )
    from crms.records.services.contacts import (
        ENTRY_KINDS,
        add_address,
        add_alias,
        add_description,
        add_phone,
        remove_entry,
        update_description,
    )
    from crms.records.services.court import record_arrest, record_conviction
    from crms.records.services.documents import add_document, normalise_document
    from crms.records.services.flags import (
        CASE_CLEARS_FLAGS,
        STATUS_FLAGS,
        confirm_flag,
        flag_history,
        pending_flags,
        set_flag,
    )
    from crms.records.services.links import (
        PARTY_TRANSITIONS,
        change_party_status,
        get_link,
        link_dict,
        link_person,
        remove_link,
        update_link,
    )
    from crms.records.services.lookup import count_cases_of, lookup_cnic
    from crms.records.services.merge import (
        merge_participants,
        merge_persons,
        register_merge_participant,
        unregister_merge_participant,
    )
    from crms.records.services.names import likely_duplicates, name_sound, normalise_name
    from crms.records.services.persons import RegisterResult, register_person, update_person
    from crms.records.services.reading import (
        display_name,
        document_dict,
        flag_dict,
        full_record,
        get_person,
        history_summary,
        list_persons,
        names_shown,
        party_dict,
        person_core_dict,
        person_part,
        print_person,
    )

# The public name -> the module that defines it. Loaded on first use (PEP 562), so that a command that
# needs one service (the CNIC lookup) does not import them all (cases, merge, Pydantic schemas ...).
_SUBMODULES: dict[str, str] = {
    "CASE_TRANSITIONS": "cases",
    "add_case": "cases",
    "case_dict": "cases",
    "change_case_status": "cases",
    "find_case": "cases",
    "get_case": "cases",
    "list_cases": "cases",
    "update_case": "cases",
    "CNIC_LIKE": "common",
    "MAX_PAGE": "common",
    "get_person_row": "common",
    "get_writable_person": "common",
    "person_not_found": "common",
    "touch": "common",
    "add_address": "contacts",
    "add_alias": "contacts",
    "add_description": "contacts",
    "add_phone": "contacts",
    "ENTRY_KINDS": "contacts",
    "remove_entry": "contacts",
    "update_description": "contacts",
    "record_arrest": "court",
    "record_conviction": "court",
    "add_document": "documents",
    "normalise_document": "documents",
    "CASE_CLEARS_FLAGS": "flags",
    "STATUS_FLAGS": "flags",
    "confirm_flag": "flags",
    "flag_history": "flags",
    "pending_flags": "flags",
    "set_flag": "flags",
    "PARTY_TRANSITIONS": "links",
    "change_party_status": "links",
    "get_link": "links",
    "link_dict": "links",
    "link_person": "links",
    "remove_link": "links",
    "update_link": "links",
    "count_cases_of": "lookup",
    "lookup_cnic": "lookup",
    "merge_participants": "merge",
    "merge_persons": "merge",
    "register_merge_participant": "merge",
    "unregister_merge_participant": "merge",
    "likely_duplicates": "names",
    "name_sound": "names",
    "normalise_name": "names",
    "RegisterResult": "persons",
    "register_person": "persons",
    "update_person": "persons",
    "display_name": "reading",
    "document_dict": "reading",
    "flag_dict": "reading",
    "full_record": "reading",
    "get_person": "reading",
    "history_summary": "reading",
    "list_persons": "reading",
    "names_shown": "reading",
    "party_dict": "reading",
    "person_core_dict": "reading",
    "person_part": "reading",
    "print_person": "reading",
}


__getattr__, __dir__ = lazy_exports(__name__, _SUBMODULES)


__all__ = [
    "CASE_CLEARS_FLAGS",
    "CASE_TRANSITIONS",
    "CNIC_LIKE",
    "ENTRY_KINDS",
    "MAX_PAGE",
    "PARTY_TRANSITIONS",
    "STATUS_FLAGS",
    "RegisterResult",
    "add_address",
    "add_alias",
    "add_case",
    "add_description",
    "add_document",
    "add_phone",
    "case_dict",
    "change_case_status",
    "change_party_status",
    "confirm_flag",
    "count_cases_of",
    "display_name",
    "document_dict",
    "find_case",
    "flag_dict",
    "flag_history",
    "full_record",
    "get_case",
    "get_link",
    "get_person",
    "get_person_row",
    "get_writable_person",
    "person_not_found",
    "history_summary",
    "likely_duplicates",
    "link_dict",
    "link_person",
    "list_cases",
    "list_persons",
    "lookup_cnic",
    "merge_participants",
    "merge_persons",
    "name_sound",
    "names_shown",
    "normalise_document",
    "normalise_name",
    "party_dict",
    "pending_flags",
    "person_core_dict",
    "person_part",
    "print_person",
    "record_arrest",
    "record_conviction",
    "register_merge_participant",
    "register_person",
    "remove_entry",
    "remove_link",
    "set_flag",
    "touch",
    "unregister_merge_participant",
    "update_case",
    "update_description",
    "update_link",
    "update_person",
]
