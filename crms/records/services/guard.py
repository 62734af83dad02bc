"""Bulk reading: every read of person or case records goes through :func:`guard_reads`, which

* takes from the user's read bucket (``CRMS_RATE_READ``, default 300 records per 300 s with a burst of 300;
  a page of N persons counts N), so that nobody reads thousands of full records in seconds: refused with
  429, and the refusal is audited; and
* counts the user's reads per 10-minute window and keeps their normal (an exponentially weighted mean of
  past windows, idle windows counting 0). When a window's count passes ``max(ALERT_FLOOR, ALERT_FACTOR ×
  normal)``, an ``alert.read_rate`` audit entry (outcome ``alert``, target the user) is written once for that
  window; auditors list them with ``GET /audit?action=alert.read_rate`` or ``crms audit query``.

The counters live in the rate-limit table (keys ``readwin:<user>`` and ``readnorm:<user>``), in the read's
own transaction. Internal jobs (no user) are not counted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from crms.access import audit
from crms.access.models import RateBucket
from crms.access.policy import Permission, has_permission
from crms.access.principal import Principal
from crms.access.ratelimit import limit_for, refilled
from crms.errors import RateLimited
from crms.timeutil import as_utc, utcnow

WINDOW = timedelta(minutes=10)
ALERT_FLOOR = 200  # reads in one window never raise an alert below this
ALERT_FACTOR = 10.0  # ... nor below ten times the user's normal
NORMAL_WEIGHT = 0.1  # weight of a finished window in the user's normal

_T = RateBucket.__table__
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def may_browse(principal: Principal) -> bool:
    """Whether the principal may browse the register (``person:browse``: ``list_persons``, ``list_wanted``,
    each with a reason); pages show those lists only then."""
    return has_permission(principal, Permission.PERSON_BROWSE)


def _window_start(now: datetime) -> datetime:
    return now - (now - _EPOCH) % WINDOW


def _upsert(session: Session, rows: list[dict]) -> None:
    """Write the counters in one statement (INSERT ... ON CONFLICT DO UPDATE, several rows)."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(_T).values(rows)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[_T.c.key],
            set_={"tokens": stmt.excluded.tokens, "updated_at": stmt.excluded.updated_at},
        )
    )


def guard_reads(session: Session, principal: Principal, count: int = 1) -> None:
    """Count ``count`` record reads by ``principal``: RateLimited past the read limit; an audited alert
    when the user's reads in this window are far above their normal. Two statements: one read of the
    user's three counters, one write of them."""
    if principal.user_id is None or count <= 0:
        return
    uid = principal.user_id
    limit = limit_for("read")
    now = utcnow()
    start = _window_start(now)
    bucket_key, win_key, norm_key = f"read:{uid}", f"readwin:{uid}", f"readnorm:{uid}"
    query = select(_T.c.key, _T.c.tokens, _T.c.updated_at).where(
        _T.c.key.in_([bucket_key, win_key, norm_key])
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    rows = {r.key: r for r in session.connection().execute(query)}
    writes = []
    if limit is not None:  # the token bucket (as crms.access.ratelimit.take, with a cost of ``count``)
        if count > limit.capacity:
            raise RateLimited(f"too many record reads at once: at most {limit.capacity:.0f}", field="rate")
        bucket = rows.get(bucket_key)
        tokens = limit.capacity
        if bucket is not None:
            tokens = refilled(limit, float(bucket.tokens), bucket.updated_at, now)
        if tokens < count:
            wait = (count - tokens) / limit.rate
            raise RateLimited.waiting("record reads", wait)
        writes.append({"key": bucket_key, "tokens": tokens - count, "updated_at": now})
    win, norm = rows.get(win_key), rows.get(norm_key)
    normal = float(norm.tokens) if norm is not None else 0.0
    if win is None or as_utc(win.updated_at) < start:
        if win is not None:  # fold the finished window, then the idle ones since, into the normal
            idle = int((start - as_utc(win.updated_at)) / WINDOW) - 1
            normal = (1 - NORMAL_WEIGHT) * normal + NORMAL_WEIGHT * float(win.tokens)
            normal *= (1 - NORMAL_WEIGHT) ** max(idle, 0)
            writes.append({"key": norm_key, "tokens": normal, "updated_at": start})
        before = 0.0
    else:
        before = float(win.tokens)
    current = before + count
    writes.append({"key": win_key, "tokens": current, "updated_at": start})
    _upsert(session, writes)
    threshold = max(ALERT_FLOOR, ALERT_FACTOR * normal)
    if before <= threshold < current:  # crossed now: one alert per window
        audit.record(
            session,
            principal,
            "alert.read_rate",
            target_type="user",
            target_id=uid,
            outcome="alert",
            query={"window_start": start.isoformat(), "reads": int(current), "normal": round(normal, 1)},
            detail=(
                f"{principal.username} read {int(current)} records in {int(WINDOW.total_seconds() // 60)} "
                f"minutes (normal about {normal:.0f}; alert above {threshold:.0f})"
            ),
        )
