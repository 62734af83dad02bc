"""The audit trail for auditors (``/api/v1/audit``): query by user, record, action, outcome and time range;
verify the chain."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query, Request

from crms.access import audit as svc
from crms.api.deps import PrincipalDep, SessionDep
from crms.api.params import IdQuery, OffsetQuery

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("")
def query_audit(
    principal: PrincipalDep,
    session: SessionDep,
    username: str | None = Query(None, max_length=64),
    user_id: IdQuery = None,
    target_type: str | None = Query(None, max_length=32),
    target_id: str | None = Query(None, max_length=64),
    action: str | None = Query(None, max_length=64),
    since: datetime | None = None,
    until: datetime | None = None,
    outcome: str | None = Query(None, max_length=16, description="ok, refused, not_found, alert or failed"),
    limit: int = Query(100, ge=1, le=1000),
    offset: OffsetQuery = 0,
) -> dict:
    total, rows = svc.query(
        session,
        principal,
        username=username,
        user_id=user_id,
        target_type=target_type,
        target_id=target_id,
        action=action,
        since=since,
        until=until,
        outcome=outcome,
        limit=limit,
        offset=offset,
    )
    return {"total": total, "limit": limit, "offset": offset, "items": [svc.as_dict(e) for e in rows]}


@router.get("/verify")
def verify_audit(request: Request, principal: PrincipalDep, session: SessionDep) -> dict:
    """Check the hash chain, each entry's MAC and the audit-head file (the check is audited)."""
    report = svc.verify_trail(session, principal, data_dir=request.app.state.settings.data_dir)
    return report.as_dict()
