"""Other areas' rows that belong to a person and follow a merge of two person records (fingerprints; later
photos). Each participant is called by :func:`crms.records.services.merge.merge_persons` as
``fn(session, principal, survivor, merged, now)`` inside the merge's transaction and returns
``{what: [row ids]}`` for the merge's record of what moved.

The composition roots (:func:`crms.api.app.create_app`, :mod:`crms.cli.main`) register them, so that records
imports no other area and every dependency is an import that a tool can see. This module imports nothing
heavy, so that the CLI can register at start-up without loading the database layer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MergeParticipant = Callable[[Any, Any, Any, Any, Any], dict[str, list[int]]]
_PARTICIPANTS: list[MergeParticipant] = []


def register_merge_participant(fn: MergeParticipant) -> None:
    """Have ``fn`` move another area's rows when two person records are merged (once per function)."""
    if fn not in _PARTICIPANTS:
        _PARTICIPANTS.append(fn)


def unregister_merge_participant(fn: MergeParticipant) -> None:
    if fn in _PARTICIPANTS:
        _PARTICIPANTS.remove(fn)


def merge_participants() -> tuple[MergeParticipant, ...]:
    """The registered participants, in registration order."""
    return tuple(_PARTICIPANTS)
