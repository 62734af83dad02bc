"""The audit trail: every read of a person record, every search, every change, login and export.

``record`` writes an entry inside the caller's transaction (so a change and its audit entry commit or roll
back together); ``record_refusal`` writes in a transaction of its own, so refused actions leave a trace even
though the action's transaction rolls back.

Tamper evidence: entries form a hash chain. Each entry has a gap-free sequence number ``seq`` and
``entry_hash = SHA-256(prev_hash || canonical JSON of its fields)``. Appends are serialised by updating the
single ``audit_head`` row first (a row lock on PostgreSQL, the database write lock on SQLite), so two
writers can never take the same position. After each commit the chain head is also written to
``<data dir>/audit-head``, outside the database: :func:`verify` then detects an altered entry (its hash no
longer matches), a deleted one (a gap in ``seq`` and a broken link), a reordered one (seq/at are hashed,
links break) and a rewritten or truncated tail (the chain no longer reaches the head recorded in the file).

Naming of actions (used by the auditors' queries): ``auth.*`` (login, logout, token), ``person.read``,
``person.create``/``update``..., ``search.cnic``/``search.name``/``search.biometric`` (a reason is required:
:func:`require_reason`; searches are rate limited per user here, in :func:`record`), ``export.*``,
``sms.query``, ``audit.query``, ``user.*``, ``access.refused``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, event, func, insert, select, update
from sqlalchemy.orm import Session

from crms.access.models import AuditEntry, AuditHead
from crms.access.principal import Principal
from crms.errors import ValidationError
from crms.timeutil import as_utc, utcnow

GENESIS = "0" * 64
HEAD_FILE = "audit-head"
REASON_MIN, REASON_MAX = 4, 500
_DATA_DIR_KEY = "crms_data_dir"
_PENDING_KEY = "crms_audit_pending_head"


# --------------------------------------------------------------------------------------------- reasons


def require_reason(reason: str | None) -> str:
    """Searches need a stated purpose (CJIS 5.4.1.1): return the trimmed reason, or raise
    ValidationError(field='reason')."""
    text = (reason or "").strip()
    if not text:
        raise ValidationError("a reason is required for searches (state the case or purpose)", field="reason")
    if len(text) < REASON_MIN:
        raise ValidationError(f"reason must be at least {REASON_MIN} characters", field="reason")
    if len(text) > REASON_MAX:
        raise ValidationError(f"reason must be at most {REASON_MAX} characters", field="reason")
    return text


# --------------------------------------------------------------------------------------------- chain


def canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _iso(at: datetime) -> str:
    return as_utc(at).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


HASHED_FIELDS = (
    "seq",
    "at",
    "user_id",
    "username",
    "channel",
    "address",
    "action",
    "target_type",
    "target_id",
    "query",
    "reason",
    "outcome",
    "detail",
)


def _fields_of(values: dict[str, Any]) -> dict[str, Any]:
    out = {k: values[k] for k in HASHED_FIELDS}
    out["seq"] = int(out["seq"])
    out["at"] = _iso(out["at"])
    return out


def entry_fields(e: AuditEntry) -> dict[str, Any]:
    return _fields_of({k: getattr(e, k) for k in HASHED_FIELDS})


_HEAD = AuditHead.__table__
_BUMP_HEAD = (
    update(_HEAD).where(_HEAD.c.id == 1).values(seq=_HEAD.c.seq + 1).returning(_HEAD.c.seq, _HEAD.c.hash)
)
_SET_HEAD_HASH = update(_HEAD).where(_HEAD.c.id == 1).values(hash=bindparam("head_hash"))
_INSERT_ENTRY = insert(AuditEntry.__table__)
_ENTRY = AuditEntry.__table__
_ENTRY_COLUMNS = [c.name for c in _ENTRY.c if c.name != "id"]
# PostgreSQL: the entry and the head's new hash in one statement (one round trip instead of two); the head
# row is already locked by _BUMP_HEAD in this transaction.
_NEW_ENTRY = (
    insert(_ENTRY)
    .values({c: bindparam(f"v_{c}") for c in _ENTRY_COLUMNS})
    .returning(_ENTRY.c.id)
    .cte("new_entry")
)
_APPEND_PG = (
    update(_HEAD)
    .where(_HEAD.c.id == 1)
    .values(hash=bindparam("v_entry_hash"))
    .returning(select(_NEW_ENTRY.c.id).scalar_subquery())
    .add_cte(_NEW_ENTRY)
)


def compute_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(fields)).hexdigest()


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
    if action.startswith("search") and outcome == "ok":
        from crms.access.ratelimit import check_search_rate

        check_search_rate(session, principal)
    # Take the chain position: this UPDATE locks the head row (PostgreSQL) / the database (SQLite) until
    # commit. Statements are built once (this runs on every read and search).
    seq, prev_hash = session.execute(_BUMP_HEAD).one()
    values = {
        "seq": int(seq),
        "at": utcnow(),
        "user_id": principal.user_id,
        "username": principal.username[:64],
        "channel": principal.channel[:16],
        "address": None if principal.address is None else str(principal.address)[:64],
        "action": action[:64],
        "target_type": None if target_type is None else str(target_type)[:32],
        "target_id": None if target_id is None else str(target_id)[:64],
        "query": query,
        "reason": reason,
        "outcome": outcome,
        "detail": detail,
        "prev_hash": prev_hash,
    }
    values["entry_hash"] = compute_hash(prev_hash, _fields_of(values))
    if session.get_bind().dialect.name == "postgresql":
        new_id = session.execute(_APPEND_PG, {f"v_{k}": v for k, v in values.items()}).scalar_one()
    else:  # SQLite: no round trips to save; the write lock is held since BEGIN IMMEDIATE
        session.execute(_SET_HEAD_HASH, {"head_hash": values["entry_hash"]})
        new_id = session.execute(_INSERT_ENTRY, values).inserted_primary_key[0]
    entry = AuditEntry(id=new_id, **values)  # a detached copy of what was written
    session.info[_PENDING_KEY] = (int(seq), entry.entry_hash)
    return entry


def record_refusal(db, principal: Principal, action: str, detail: str, **kw: Any) -> None:
    """Audit a refused or failed action in its own transaction."""
    kw.setdefault("outcome", "refused")
    with db.transaction() as session:
        record(session, principal, action, detail=detail, **kw)


# --------------------------------------------------------------------------------------------- head file


def bind_data_dir(db, data_dir: Path | str) -> None:
    """Tell sessions of ``db`` where the data dir (audit-head file) is. Without it the configured
    CRMS_DATA_DIR is used."""
    db.sessionmaker.configure(info={_DATA_DIR_KEY: str(data_dir)})


def data_dir_of(session: Session) -> Path:
    configured = session.info.get(_DATA_DIR_KEY)
    if configured:
        return Path(configured)
    from crms.config import get_settings

    return get_settings().data_dir


def database_identity(session: Session) -> str:
    return session.get_bind().url.render_as_string(hide_password=True)


def read_head_file(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (ValueError, OSError):
        return {"corrupt": True}


def write_head_file(data_dir: Path, database: str, seq: int, hash_: str) -> None:
    """Record the chain head outside the database; never moves backwards for the same database. The file is
    rewritten in place under an exclusive lock (cheaper than write-and-rename on every audited action)."""
    path = data_dir / HEAD_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except FileNotFoundError:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        raw = fh.read()
        try:
            current = json.loads(raw) if raw.strip() else None
        except ValueError:
            current = None
        if current and current.get("database") == database and int(current.get("seq", 0)) >= seq:
            return
        body = {"database": database, "seq": seq, "hash": hash_, "written_at": _iso(utcnow())}
        fh.seek(0)
        fh.write((json.dumps(body, sort_keys=True) + "\n").encode())
        fh.truncate()


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING_KEY, None)
    if pending is None:
        return
    try:
        write_head_file(data_dir_of(session), database_identity(session), *pending)
    except OSError:  # the entry is committed; verify reports the lagging head file
        pass


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)


# --------------------------------------------------------------------------------------------- verify


@dataclass
class VerifyReport:
    entries: int = 0
    last_seq: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _iter_entries(session: Session, batch: int = 2000) -> Iterator[AuditEntry]:
    last = -1
    while True:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


def verify(session: Session, *, data_dir: Path | None = None) -> VerifyReport:
    """Walk the chain and compare it with the head row and the audit-head file. Says which entry is wrong."""
    report = VerifyReport()
    expected_seq = 1
    prev_hash = GENESIS
    hashes_to_check: dict[int, str] = {}
    head_file = read_head_file((data_dir or data_dir_of(session)) / HEAD_FILE)
    file_seq = None
    if head_file and not head_file.get("corrupt") and head_file.get("database") == database_identity(session):
        file_seq = int(head_file["seq"])
    for e in _iter_entries(session):
        seq = int(e.seq)
        report.entries += 1
        if seq > expected_seq:
            missing = f"#{expected_seq}" if seq == expected_seq + 1 else f"#{expected_seq}..#{seq - 1}"
            report.problems.append(f"entry {missing} missing (deleted) before entry #{seq}")
        elif seq < expected_seq:  # cannot happen with a unique seq, but be explicit
            report.problems.append(f"entry #{seq} out of order")
        if e.prev_hash != prev_hash and seq == expected_seq:
            report.problems.append(
                f"entry #{seq} (id {e.id}) does not link to entry #{seq - 1}: reordered, or the previous "
                "entry was rewritten"
            )
        actual = compute_hash(e.prev_hash, entry_fields(e))
        if actual != e.entry_hash:
            report.problems.append(
                f"entry #{seq} (id {e.id}, {e.action} by {e.username}) altered: its content does not match "
                "its hash"
            )
        if file_seq is not None and seq == file_seq:
            hashes_to_check[seq] = e.entry_hash
        prev_hash = e.entry_hash
        expected_seq = seq + 1
    report.last_seq = expected_seq - 1
    head = session.get(AuditHead, 1)
    if head is None:
        report.problems.append("audit_head row missing")
    else:
        if int(head.seq) > report.last_seq:
            gone = f"#{report.last_seq + 1}" + (f"..#{head.seq}" if head.seq > report.last_seq + 1 else "")
            report.problems.append(f"entry {gone} missing: the chain ends before the head row (#{head.seq})")
        elif int(head.seq) != report.last_seq or head.hash != prev_hash:
            report.problems.append(
                f"audit_head row (#{head.seq}) does not match the last entry #{report.last_seq}"
            )
    if head_file is None:
        if report.entries:
            report.problems.append(f"{HEAD_FILE} file missing from the data dir: cannot check the chain end")
    elif head_file.get("corrupt"):
        report.problems.append(f"{HEAD_FILE} file unreadable")
    elif file_seq is None:
        report.problems.append(f"{HEAD_FILE} file records another database ({head_file.get('database')})")
    elif file_seq > report.last_seq:
        report.problems.append(
            f"entries #{report.last_seq + 1}..#{file_seq} missing: {HEAD_FILE} file records #{file_seq} "
            "but the "
            f"chain ends at #{report.last_seq}"
        )
    elif hashes_to_check.get(file_seq) != head_file.get("hash"):
        report.problems.append(
            f"entry #{file_seq} differs from the {HEAD_FILE} file: the chain up to #{file_seq} was rewritten"
        )
    elif file_seq < report.last_seq:
        report.warnings.append(
            f"{HEAD_FILE} file lags: records #{file_seq}, chain ends at #{report.last_seq}"
        )
    return report


# --------------------------------------------------------------------------------------------- queries


def query(
    session: Session,
    principal: Principal,
    *,
    username: str | None = None,
    user_id: int | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[AuditEntry]]:
    """Auditors query the trail by user, record and time range; the query itself is audited."""
    from crms.access.policy import Permission, authorize

    authorize(principal, Permission.AUDIT_READ)
    if not 1 <= limit <= 1000:
        raise ValidationError("limit must be 1-1000", field="limit")
    if offset < 0:
        raise ValidationError("offset must be >= 0", field="offset")
    if since and until and as_utc(since) > as_utc(until):
        raise ValidationError("since is after until", field="since")
    conds = []
    if username:
        conds.append(AuditEntry.username == username)
    if user_id is not None:
        conds.append(AuditEntry.user_id == user_id)
    if target_type:
        conds.append(AuditEntry.target_type == target_type)
    if target_id:
        conds.append(AuditEntry.target_id == str(target_id))
    if action:
        conds.append(AuditEntry.action.startswith(action, autoescape=True))
    if since:
        conds.append(AuditEntry.at >= as_utc(since))
    if until:
        conds.append(AuditEntry.at <= as_utc(until))
    total = session.scalar(select(func.count()).select_from(AuditEntry).where(*conds)) or 0
    rows = list(
        session.scalars(
            select(AuditEntry).where(*conds).order_by(AuditEntry.seq.desc()).limit(limit).offset(offset)
        )
    )
    filters = {
        "username": username,
        "user_id": user_id,
        "target_type": None if target_type is None else str(target_type)[:32],
        "target_id": target_id,
        "action": action,
        "since": since,
        "until": until,
    }
    record(session, principal, "audit.query", query={k: v for k, v in filters.items() if v is not None})
    return total, rows


def as_dict(e: AuditEntry) -> dict[str, Any]:
    return {"id": e.id, **entry_fields(e), "prev_hash": e.prev_hash, "entry_hash": e.entry_hash}
