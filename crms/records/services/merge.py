"""Merging two person records; other areas' rows that belong to a person follow through participants
registered at the composition roots."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crms.access import audit
from crms.access.policy import Permission, authorize
from crms.access.principal import Principal
from crms.errors import Conflict, NotFound, ValidationError, rule_error
from crms.records.models import (
    Person,
    PersonMerge,
)
from crms.records.participants import (  # noqa: F401 (re-exported)
    MergeParticipant,
    merge_participants,
    register_merge_participant,
    unregister_merge_participant,
)
from crms.records.schemas import (
    AliasIn,
    MergeIn,
    coerce,
)
from crms.records.services.common import ENTRY_SHOWN, get_writable_person, touch
from crms.records.services.contacts import KIND_OF_COLLECTION, _add_aliases, same_address, same_alias
from crms.records.services.names import _full_name_en, _full_name_ur, _refresh_name_keys
from crms.records.services.persons import _SCALAR_FIELDS, _check_person_fields, _record_change
from crms.timeutil import utcnow

# The entries of the merged record that the survivor may hold already, each by what makes two the same: a
# phone by its stored E.164 number, an alias by its name (whatever its case) and script, an address by its
# fields. Documents need none: a document belongs to one person only (its unique key).
_SAME = {"phones": lambda p: p.e164, "aliases": same_alias, "addresses": same_address}


def _dropped_text(dropped: dict[str, list[str]]) -> str | None:
    """The audit entry's word on the merged record's entries that the survivor had already."""
    if not dropped:
        return None
    return "dropped as already on the record: " + "; ".join(
        f"{attr} {', '.join(held)}" for attr, held in dropped.items()
    )


def _merge_participants(
    session: Session, principal: Principal, survivor: Person, merged: Person, now: datetime
) -> dict:
    moved: dict[str, list[int]] = {}
    for fn in merge_participants():
        moved.update(fn(session, principal, survivor, merged, now))
    return moved


def merge_persons(session: Session, principal: Principal, data: MergeIn | dict) -> Person:
    """Fold ``merged_id`` into ``survivor_id``: documents, aliases, addresses, phones, descriptions, case
    links and flags move, and so do other areas' rows (the registered participants: fingerprints); the merged
    record's names become aliases; blanks of the survivor are filled; the
    merged record stays as a redirect and a PersonMerge row keeps what moved. A phone, alias or address the
    survivor already has (``_SAME``) is not moved twice: the merged record's is dropped, and the merge's
    history, its PersonMerge row (``dropped``) and its audit entry say which."""
    authorize(principal, Permission.PERSON_MERGE)  # the role first; the units of both records below
    data = coerce(MergeIn, data)
    if data.survivor_id == data.merged_id:
        raise ValidationError("a person cannot be merged into itself", field="merged_id")
    survivor = get_writable_person(session, principal, data.survivor_id, Permission.PERSON_MERGE)
    try:
        merged = get_writable_person(session, principal, data.merged_id, Permission.PERSON_MERGE)
    except (NotFound, Conflict) as exc:  # said at the merged record's field, its kind kept
        raise exc.at("merged_id") from None
    survivor_links = {(p.case_id, p.role) for p in survivor.parties}
    for p in merged.parties:
        if (p.case_id, p.role) in survivor_links:
            message = (
                f"both persons are linked to case {p.case_id} as {p.role}: remove the link made in error "
                f"(link {p.id} or the other one) before merging"
            )
            fir = f"{p.case.fir_number}/{p.case.year}"
            values = {"case": p.case_id, "fir": fir, "role": p.role, "link": p.id}
            raise rule_error("merged_id", "merge_same_case", message, error=Conflict, **values)
    moved: dict = {}
    dropped: dict[str, list[str]] = {}
    with session.no_autoflush:
        for attr in ("documents", "aliases", "addresses", "phones", "descriptions", "parties", "flags"):
            rows = list(getattr(merged, attr))
            same = _SAME.get(attr)
            have = {same(r) for r in getattr(survivor, attr)} if same else set()
            moved[attr] = []
            for r in rows:
                if same and same(r) in have:  # the survivor's is kept; the merged record's goes
                    dropped.setdefault(attr, []).append(ENTRY_SHOWN[KIND_OF_COLLECTION[attr]](r))
                    getattr(merged, attr).remove(r)
                    session.delete(r)
                    continue
                if same:
                    have.add(same(r))
                moved[attr].append(r.id)
                r.person = survivor  # back_populates moves it between the two collections
    now = utcnow()
    moved.update(_merge_participants(session, principal, survivor, merged, now))
    names = []
    if _full_name_en(merged) and _full_name_en(merged).casefold() != _full_name_en(survivor).casefold():
        names.append(AliasIn(name=_full_name_en(merged)[:200], script="latin"))
    if _full_name_ur(merged) and _full_name_ur(merged) != _full_name_ur(survivor):
        names.append(AliasIn(name=_full_name_ur(merged)[:200], script="urdu"))
    _add_aliases(principal, survivor, names)
    filled = []
    before = {key: getattr(survivor, key) for key in _SCALAR_FIELDS}
    for key in _SCALAR_FIELDS:
        if getattr(survivor, key) in (None, "", "X") and getattr(merged, key) not in (None, "", "X"):
            setattr(survivor, key, getattr(merged, key))
            filled.append(key)
    moved["filled"] = filled  # type: ignore[assignment]
    _check_person_fields(survivor)
    _refresh_name_keys(survivor)
    if dropped:
        moved["dropped"] = dropped
    extra = {"merged_id": [None, merged.id]}
    extra |= {f"dropped_{attr}": ["; ".join(held), None] for attr, held in dropped.items()}
    _record_change(session, principal, survivor, before, "merge", extra=extra)
    merged.merged_into_id = survivor.id
    merged.merged_at = now
    touch(merged, principal)
    touch(survivor, principal)
    for older in session.scalars(select(Person).where(Person.merged_into_id == merged.id)):
        older.merged_into_id = survivor.id
    session.add(
        PersonMerge(
            survivor_id=survivor.id,
            merged_id=merged.id,
            reason=data.reason,
            moved=moved,
            merged_at=now,
            merged_by=principal.user_id,
        )
    )
    session.flush()
    audit.record(
        session,
        principal,
        "person.merge",
        target_type="person",
        target_id=survivor.id,
        query={"survivor_id": survivor.id, "merged_id": merged.id},
        reason=data.reason,
        detail=_dropped_text(dropped),
    )
    return survivor
