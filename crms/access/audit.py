"""The audit trail: every read of a person record, every search, every change, login and export.

``record`` writes an entry inside the caller's transaction (so a change and its audit entry commit or roll back
together); ``record_refusal`` writes in a transaction of its own, so refused actions leave a trace even though the
action's transaction rolls back.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from crms.access.models import AuditEntry
from crms.access.principal import Principal


def record(
    session: Session,
    principal: Principal,
    action: str,
    *,
    target_type: str | None = None,
    target_id: Any = None,
    query: str | dict | None = None,
    reason: str | None = None,
    outcome: str = "ok",
    detail: str | None = None,
) -> AuditEntry:
    if isinstance(query, dict):
        query = json.dumps(query, ensure_ascii=False, sort_keys=True, default=str)
    entry = AuditEntry(
        user_id=principal.user_id,
        username=principal.username,
        channel=principal.channel,
        address=principal.address,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        query=query,
        reason=reason,
        outcome=outcome,
        detail=detail,
    )
    session.add(entry)
    session.flush()
    return entry


def record_refusal(db, principal: Principal, action: str, detail: str, **kw: Any) -> None:
    """Audit a refused or failed action in its own transaction."""
    with db.transaction() as session:
        record(session, principal, action, outcome="refused", detail=detail, **kw)
