"""The audit trail: every read of a person record, every search, every change, login and export.

``record`` writes an entry inside the caller's transaction (so a change and its audit entry commit or roll
back together); ``record_refusal`` writes in a transaction of its own, so refused actions leave a trace even
though the action's transaction rolls back.

Tamper evidence: entries form a hash chain anchored by a secret that is not in the database.

- Each entry has a gap-free sequence number ``seq``, ``entry_hash = SHA-256(prev_hash || canonical JSON of its
  fields)`` and ``entry_mac = HMAC-SHA256(audit key, entry_hash)``. The audit key is CRMS_AUDIT_KEY or
  ``<data dir>/keys/audit.key`` (0600), kept like the biometric data key: someone who can write the database
  but not read the key cannot make an entry that verifies, so a rechained alteration, a forged entry inserted
  mid-chain and a forged entry appended at the end (however valid its hash) are all caught by its MAC.
- Appends are serialised by updating the single ``audit_head`` row first (a row lock on PostgreSQL, the
  database write lock on SQLite), so two writers can never take the same position.
- The chain head (seq, hash) is also kept outside the database, in ``<data dir>/audit-head``, one keyed
  (HMAC) record per database; this catches a deleted or truncated tail. The head file is moved forward only
  over a chain that checks out: before commit, the entries between the recorded head and the new entry must
  link to the recorded hash and carry valid MACs; otherwise the head stays where it was (and a warning is
  logged), so no later audited action, the verifier's own login included, can re-anchor it over a rewritten
  chain. A deleted head file is not recreated (except for a brand-new chain, entry #1): it stays reported as
  missing until an auditor runs :func:`seal` after a clean check.

:func:`verify` walks the chain and names an altered entry (its hash or MAC no longer matches), a deleted one
(a gap in ``seq`` and a broken link), a reordered one (seq/at are hashed, links break), a forged one (bad MAC)
and a rewritten or truncated tail (the chain no longer reaches the head recorded in the file). What an
attacker who holds the database AND the key can still do is in docs/SECURITY.md.

Naming of actions (used by the auditors' queries): ``auth.*`` (login, logout, token), ``person.read``,
``person.create``/``update``..., ``search.cnic``/``search.name``/``search.biometric`` (a reason is required:
:func:`require_reason`; searches are rate limited per user here, in :func:`record`), ``export.*``,
``sms.query``, ``audit.query``, ``user.*``, ``access.refused``.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import unicodedata
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from crms.access.models import AuditEntry, AuditHead
from crms.access.principal import Principal
from crms.db import begin_writing, check_page
from crms.errors import RateLimited, ValidationError, limit_error, rule_error
from crms.timeutil import as_utc, utcnow

GENESIS = "0" * 64
HEAD_FILE = "audit-head"
REASON_MIN, REASON_MAX = 4, 500
_DATA_DIR_KEY = "crms_data_dir"
_PENDING_KEY = "crms_audit_pending_head"
_NEW_CHAIN_KEY = "crms_audit_new_chain"
_DEFERRED_KEY = "crms_audit_deferred"
log = logging.getLogger("crms.audit")


# --------------------------------------------------------------------------------------------- reasons


def require_reason(reason: str | None) -> str:
    """Searches need a stated purpose (CJIS 5.4.1.1): return the trimmed reason, or raise
    ValidationError(field='reason')."""
    text = (reason or "").strip()
    if not text:
        raise ValidationError("a reason is required for searches (state the case or purpose)", field="reason")
    if len(text) < REASON_MIN:
        message = f"reason must be at least {REASON_MIN} characters"
        raise limit_error("reason", "string_too_short", REASON_MIN, message)
    if len(text) > REASON_MAX:
        message = f"reason must be at most {REASON_MAX} characters"
        raise limit_error("reason", "string_too_long", REASON_MAX, message)
    if any(unicodedata.category(ch) == "Cc" for ch in text):  # a NUL, a line break, an escape: no purpose
        raise ValidationError("reason may not hold control characters (a NUL, a line break)", field="reason")
    return text


# --------------------------------------------------------------------------------------------- chain


def canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _iso(at: datetime) -> str:
    return as_utc(at).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# What an entry's outcome may be: done; refused (a permission, a limit, a credential); a record asked for
# that is not there; an unusual read rate (crms.records.services.guard); a chain check that found tampering.
OUTCOMES = ("ok", "refused", "not_found", "alert", "failed")

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
_ENTRY = AuditEntry.__table__
_ENTRY_COLUMNS = [c.name for c in _ENTRY.c if c.name != "id"]


# SQLite, through the DBAPI cursor (see record): the statements SQLAlchemy would send, and its storage of
# DateTime values (text, as SQLAlchemy's SQLite dialect writes and reads them).
_SQLITE_BUMP = "UPDATE audit_head SET seq = seq + ? WHERE id = 1 RETURNING seq, hash"
_SQLITE_SET_HASH = "UPDATE audit_head SET hash = ? WHERE id = 1"
_SQLITE_INSERT = (
    f"INSERT INTO audit_log ({', '.join(chr(34) + c + chr(34) for c in _ENTRY_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _ENTRY_COLUMNS)})"
)


def _sqlite_datetime() -> Callable[[Any], Any]:
    from sqlalchemy.dialects import sqlite

    dialect = sqlite.dialect()
    return _ENTRY.c.at.type.dialect_impl(dialect).bind_processor(dialect)


_SQLITE_AT = _sqlite_datetime()


def _pg_append() -> str:
    """PostgreSQL, through the DBAPI cursor: every entry of a batch and the head's new hash in one statement
    of one shape whatever their number (each column's values as one array: psycopg parses it once and the
    server prepares it once), their ids in chain order. The head row is already locked by the bump."""
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.dialect()
    arrays = ", ".join(f"%s::{_ENTRY.c[c].type.compile(dialect=dialect)}[]" for c in _ENTRY_COLUMNS)
    names = ", ".join(f'"{c}"' for c in _ENTRY_COLUMNS)
    return (
        f"WITH new AS (INSERT INTO audit_log ({names}) SELECT * FROM unnest({arrays}) RETURNING id, seq) "
        "UPDATE audit_head SET hash = %s WHERE id = 1 RETURNING (SELECT array_agg(id ORDER BY seq) FROM new)"
    )


_PG_BUMP = "UPDATE audit_head SET seq = seq + %s WHERE id = 1 RETURNING seq, hash"
_PG_APPEND = _pg_append()


def _sqlite_value(column: str, value: Any) -> Any:
    return _SQLITE_AT(value) if column == "at" else value


def compute_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(fields)).hexdigest()


def compute_mac(key: bytes, entry_hash: str) -> str:
    """The entry's MAC: HMAC-SHA256 under the audit key of its hash (which covers its fields and, through
    prev_hash, every entry before it)."""
    return hmac.new(key, b"entry\n" + entry_hash.encode(), hashlib.sha256).hexdigest()


_keys: dict[tuple[str, str | None], bytes] = {}


def audit_key(data_dir: Path) -> bytes:
    """The audit key for a data dir (CRMS_AUDIT_KEY or <data dir>/keys/audit.key), cached per process."""
    env = os.environ.get("CRMS_AUDIT_KEY") or None
    cache_key = (str(data_dir), env)
    key = _keys.get(cache_key)
    if key is None:
        from crms.access.crypto import load_audit_key

        key = _keys[cache_key] = load_audit_key(Path(data_dir), env)
    return key


class WrittenEntry(SimpleNamespace):
    """The entry :func:`record` wrote, with the columns of :class:`AuditEntry` as attributes (``id``, ``seq``,
    ``entry_hash`` ...); a plain object, not one the session tracks."""


@dataclass(frozen=True)
class DeferredEntry:
    """An entry :func:`record` collected instead of writing (a session under :func:`defer_entries`): who,
    what, and record's keyword arguments."""

    principal: Principal
    action: str
    fields: dict[str, Any]


def defer_entries(session: Session) -> list[DeferredEntry]:
    """From now on, :func:`record` in ``session`` collects its entries in the returned list instead of
    writing them (and takes no rate-limit token): for an audited read whose only write is its audit entry,
    so that the read holds no write lock and the entries of concurrent reads are written together
    (:mod:`crms.access.audit_writer`). Whoever defers must write them (:func:`write_deferred`) before the
    read's answer is given; :func:`stop_deferring` ends it."""
    entries: list[DeferredEntry] = []
    session.info[_DEFERRED_KEY] = entries
    return entries


def stop_deferring(session: Session) -> list[DeferredEntry]:
    """End :func:`defer_entries`; the entries collected so far (not written)."""
    return session.info.pop(_DEFERRED_KEY, None) or []


def write_deferred(session: Session, entries: list[DeferredEntry]) -> None:
    """Write one audited read's deferred entries in ``session``'s transaction, as :func:`record` would have:
    its search rate-limit tokens first (RateLimited, before any entry is written, when the caller has none
    left), then the entries, in order."""
    refused = _take_search_tokens(session, [entries])[0]
    if refused is not None:
        raise refused
    _append_many(session, entries)


def write_deferred_reads(
    session: Session, reads: list[list[DeferredEntry]], wheres: list[str]
) -> list[RateLimited | None]:
    """Write the deferred entries of several audited reads in ``session``'s transaction, in a few
    statements whatever their number (:mod:`crms.access.audit_writer`): each user's search tokens for all
    of them taken from the user's bucket at once, then every entry appended to the chain at once, in the
    reads' order. A read for which its user's bucket holds too few tokens gets its RateLimited and, in place
    of its entries, the refusal's (``access.refused``, naming ``wheres[i]``, the request as ``METHOD
    /path``), as :func:`crms.access.work.unit_of_work` audits a refusal; the other reads are not affected."""
    refusals = _take_search_tokens(session, reads)
    items: list[DeferredEntry] = []
    for entries, where, refused in zip(reads, wheres, refusals, strict=True):
        if refused is None:
            items.extend(entries)
        else:
            fields = dict(target_type=None, target_id=None, query=where, reason=None)
            refusal = {**fields, "outcome": "refused", "detail": refused.message}
            items.append(DeferredEntry(entries[0].principal, "access.refused", refusal))
    _append_many(session, items)
    return refusals


def _take_search_tokens(session: Session, reads: list[list[DeferredEntry]]) -> list[RateLimited | None]:
    """A search rate-limit token for each successful search entry of ``reads``, taken from each user's
    bucket once for all their reads (:func:`crms.access.ratelimit.take_each`); per read, None or why not."""
    from crms.access.ratelimit import limit_for, search_key, take_each

    wanted: dict[str, list[tuple[int, int]]] = {}  # bucket -> [(read, tokens it needs)]
    for i, entries in enumerate(reads):
        needs: dict[str, int] = {}
        for entry in entries:
            key = search_key(entry.principal)
            if key is not None and entry.action.startswith("search") and entry.fields["outcome"] == "ok":
                needs[key] = needs.get(key, 0) + 1
        for key, need in needs.items():
            wanted.setdefault(key, []).append((i, need))
    refusals: list[RateLimited | None] = [None] * len(reads)
    if wanted:
        limit = limit_for("search")
        for key, asks in wanted.items():
            outcomes = take_each(session, key, limit, [need for _, need in asks], what="searches")
            for (i, _), refused in zip(asks, outcomes, strict=True):
                refusals[i] = refusals[i] or refused
    return refusals


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
) -> WrittenEntry:
    if isinstance(query, dict):
        query = json.dumps(query, ensure_ascii=False, sort_keys=True, default=str)  # a NUL escaped: \u0000
    # The trail is written through the driver, past the ORM's check (crms.db.refuse_nul_text): a NUL that
    # only the trail would keep (a removal's reason, say) failed on PostgreSQL with a 500. An action done is
    # refused, naming the text; a refusal is still recorded, the NUL shown as U+FFFD.
    texts = {"reason": reason, "query": query, "detail": detail, "target_id": target_id}
    for name, text in texts.items():
        if isinstance(text, str) and "\x00" in text:
            if outcome == "ok":
                raise ValidationError(f"{name} may not contain a NUL character (\\x00)", field=name)
            texts[name] = text.replace("\x00", "\ufffd")
    reason, query, detail, target_id = texts["reason"], texts["query"], texts["detail"], texts["target_id"]
    fields = dict(target_type=target_type, target_id=target_id, query=query, reason=reason)
    entry = DeferredEntry(principal, action, {**fields, "outcome": outcome, "detail": detail})
    deferred = session.info.get(_DEFERRED_KEY)
    if deferred is not None:  # an audited read: collected here, written after its read (defer_entries)
        deferred.append(entry)
        return WrittenEntry(id=None, seq=None, action=action, outcome=outcome, **fields)
    if action.startswith("search") and outcome == "ok":
        from crms.access.ratelimit import check_search_rate

        check_search_rate(session, principal)
    return _append_many(session, [entry])[0]


def _entry_values(entry: DeferredEntry, seq: int, prev_hash: str) -> dict[str, Any]:
    """The columns of ``entry`` at chain position ``seq`` after ``prev_hash``, its hash included (its MAC
    not)."""
    principal, f = entry.principal, entry.fields
    values = {
        "seq": seq,
        "at": utcnow(),
        "user_id": principal.user_id,
        "username": principal.username[:64],
        "channel": principal.channel[:16],
        "address": None if principal.address is None else str(principal.address)[:64],
        "action": entry.action[:64],
        "target_type": None if f["target_type"] is None else str(f["target_type"])[:32],
        "target_id": None if f["target_id"] is None else str(f["target_id"])[:64],
        "query": f["query"],
        "reason": f["reason"],
        "outcome": f["outcome"],
        "detail": f["detail"],
        "prev_hash": prev_hash,
    }
    values["entry_hash"] = compute_hash(prev_hash, _fields_of(values))
    return values


def _append_many(session: Session, entries: list[DeferredEntry]) -> list[WrittenEntry]:
    """Append ``entries`` to the chain, in order, in ``session``'s transaction (:func:`record` without its
    checks): their positions taken at once, then their rows; three statements whatever their number."""
    if not entries:
        return []
    n = len(entries)
    # Take the chain positions: this UPDATE locks the head row (PostgreSQL) / the database (SQLite) until
    # commit. Through the DBAPI cursor (on every read and search, without SQLAlchemy's layer around each
    # statement; the same SQL and values it would send).
    sqlite = session.get_bind().dialect.name == "sqlite"
    begin_writing(session)  # (a read-first transaction says it writes, and on SQLite queues for the lock)
    if session.autoflush:  # as session.execute would: pending changes go first (the caller may
        session.flush()  # expunge objects right after this call)
    cursor = session.connection().connection.driver_connection.cursor()
    try:
        last, prev_hash = cursor.execute(_SQLITE_BUMP if sqlite else _PG_BUMP, (n,)).fetchone()
        first = int(last) - n + 1
        key = audit_key(data_dir_of(session))
        rows = []
        for i, entry in enumerate(entries):
            values = _entry_values(entry, first + i, prev_hash if i == 0 else rows[-1]["entry_hash"])
            values["entry_mac"] = compute_mac(key, values["entry_hash"])
            rows.append(values)
        head_hash = rows[-1]["entry_hash"]
        if sqlite:
            ids = []
            cursor.execute(_SQLITE_SET_HASH, (head_hash,))
            for values in rows:
                cursor.execute(_SQLITE_INSERT, [_sqlite_value(c, values[c]) for c in _ENTRY_COLUMNS])
                ids.append(cursor.lastrowid)
        else:
            columns = [[values[c] for values in rows] for c in _ENTRY_COLUMNS]
            ids = cursor.execute(_PG_APPEND, (*columns, head_hash)).fetchone()[0]
    finally:
        cursor.close()
    written = [WrittenEntry(id=i, **values) for i, values in zip(ids, rows, strict=True)]
    # (first seq and its prev_hash written in this transaction, last seq and its hash): the head file may
    # move to the last one if the chain reaches the first one (the ones between are this transaction's own).
    pending = session.info.get(_PENDING_KEY)
    start = (pending[0], pending[1]) if pending else (first, prev_hash)
    session.info[_PENDING_KEY] = (*start, int(last), head_hash)
    return written


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


_identities: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def database_identity(session: Session) -> str:
    """The database's URL without its password (the head file's key for it); rendered once per engine (this
    runs twice on every audited action)."""
    engine = session.get_bind().engine
    known = _identities.get(engine)
    if known is None:
        known = _identities[engine] = engine.url.render_as_string(hide_password=True)
    return known


def head_mac(key: bytes, database: str, seq: int, hash_: str) -> str:
    return hmac.new(key, f"head\n{database}\n{int(seq)}\n{hash_}".encode(), hashlib.sha256).hexdigest()


def read_head_file(path: Path) -> dict | None:
    """The heads recorded in the audit-head file, as ``{database: {"seq", "hash", "mac", ...}}``; None when
    there is no file, ``{"corrupt": True}`` when it cannot be read. (A file of the first format, one head
    without a MAC, is read as one unkeyed head.)"""
    try:
        body = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (ValueError, OSError):
        return {"corrupt": True}
    return _heads_of(body)


def _heads_of(body: Any) -> dict:
    if not isinstance(body, dict):
        return {"corrupt": True}
    if isinstance(body.get("heads"), dict):
        return body["heads"]
    if "database" in body and "seq" in body:  # first format: one database, no MAC
        return {str(body["database"]): {k: v for k, v in body.items() if k != "database"}}
    return {"corrupt": True}


def head_for(heads: dict | None, database: str) -> dict | None:
    if not heads or heads.get("corrupt") is True:
        return None
    head = heads.get(database)
    return head if isinstance(head, dict) else None


# The head this process last wrote or read, per (data dir, database): when the next entry links to it, the
# check before commit needs no file read (write_head_file still reads the file under its lock).
_known_heads: dict[tuple[str, str], tuple[int, str]] = {}


def write_head_file(
    data_dir: Path, database: str, seq: int, hash_: str, key: bytes | None = None, *, create: bool = True
) -> None:
    """Record the chain head of ``database`` outside the database, keyed with the audit key; never moves
    backwards, never overwrites a head whose MAC does not match or a file it cannot read (evidence for
    verify), and creates the file only when ``create``. The file is rewritten in place under an exclusive
    lock (cheaper than write-and-rename on every audited action); the heads of other databases are kept."""
    key = key if key is not None else audit_key(data_dir)
    path = data_dir / HEAD_FILE
    flags = os.O_RDWR | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileNotFoundError:
        if not create:
            return
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "r+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        raw = fh.read()
        try:
            heads = _heads_of(json.loads(raw)) if raw.strip() else {}
        except ValueError:
            heads = {"corrupt": True}
        if heads.get("corrupt") is True:  # never overwrite what cannot be read: verify reports it
            return
        current = head_for(heads, database)
        if current:
            try:
                c_seq, c_hash, c_mac = int(current["seq"]), str(current["hash"]), current.get("mac")
            except (KeyError, TypeError, ValueError):
                return
            if c_mac is not None and not hmac.compare_digest(
                str(c_mac), head_mac(key, database, c_seq, c_hash)
            ):
                return
            if c_seq >= seq:
                _known_heads[(str(data_dir), database)] = (c_seq, c_hash)
                return
        heads[database] = {
            "seq": int(seq),
            "hash": hash_,
            "written_at": _iso(utcnow()),
            "mac": head_mac(key, database, seq, hash_),
        }
        fh.seek(0)
        fh.write((json.dumps({"heads": heads}, sort_keys=True) + "\n").encode())
        fh.truncate()
    _known_heads[(str(data_dir), database)] = (int(seq), hash_)


_LINKS = select(_ENTRY.c.seq, _ENTRY.c.prev_hash, _ENTRY.c.entry_hash, _ENTRY.c.entry_mac)


def may_move_head(session: Session, seq: int, prev_hash: str) -> str | None:
    """Whether the head file may move past entry ``seq`` (the first one written in this transaction, linking
    to ``prev_hash``): None if so, else why not. The entries between the recorded head and this one must link
    to the recorded hash and carry valid MACs; a missing head file is recreated only for a new chain (entry
    #1)."""
    data_dir = data_dir_of(session)
    database = database_identity(session)
    known = _known_heads.get((str(data_dir), database))
    if known is not None and known[0] == seq - 1 and hmac.compare_digest(known[1], prev_hash):
        return None  # links to the head this process last saw (write_head_file rechecks the file)
    heads = read_head_file(data_dir / HEAD_FILE)
    if heads is not None and heads.get("corrupt") is True:
        return f"{HEAD_FILE} file unreadable"
    head = head_for(heads, database)
    if head is None:
        return None if seq == 1 else f"{HEAD_FILE} file has no head for this database (deleted?)"
    key = audit_key(data_dir)
    try:
        f_seq, f_hash = int(head["seq"]), str(head["hash"])
    except (KeyError, TypeError, ValueError):
        return f"{HEAD_FILE} file unreadable"
    if head.get("mac") is not None and not hmac.compare_digest(
        str(head["mac"]), head_mac(key, database, f_seq, f_hash)
    ):
        return f"{HEAD_FILE} file's MAC does not match"
    if f_seq >= seq:  # the file records an entry beyond the chain's end when this transaction began
        return f"{HEAD_FILE} file records #{f_seq}, beyond the chain's end #{seq - 1}: entries were deleted"
    if f_seq == seq - 1 and hmac.compare_digest(f_hash, prev_hash):
        return None  # the common case: this entry links to the recorded head
    between = _LINKS.where(_ENTRY.c.seq >= f_seq, _ENTRY.c.seq < seq).order_by(_ENTRY.c.seq)
    rows = session.execute(between).all()
    if not rows or int(rows[0].seq) != f_seq or rows[0].entry_hash != f_hash:
        return f"entry #{f_seq} no longer has the hash recorded in the {HEAD_FILE} file"
    expected, link = f_seq, f_hash
    for row in rows[1:]:
        expected += 1
        if int(row.seq) != expected or row.prev_hash != link:
            return f"the chain is broken at entry #{expected}"
        if row.entry_mac is None or not hmac.compare_digest(row.entry_mac, compute_mac(key, row.entry_hash)):
            return f"entry #{row.seq} has no valid MAC"
        link = row.entry_hash
    if expected != seq - 1 or link != prev_hash:
        return f"the chain does not reach entry #{seq}"
    return None


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    pending = session.info.get(_PENDING_KEY)
    if pending is None:
        return
    first_seq, first_prev, seq, _hash = pending
    why = may_move_head(session, first_seq, first_prev)
    if why is None and first_seq == 1:
        session.info[_NEW_CHAIN_KEY] = True
    if why is not None:
        session.info.pop(_PENDING_KEY, None)
        log.warning("audit-head not moved to entry #%s: %s; run `crms audit verify`", seq, why)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING_KEY, None)
    if pending is None:
        return
    _first, _prev, seq, entry_hash = pending
    create = session.info.pop(_NEW_CHAIN_KEY, False)
    try:
        write_head_file(data_dir_of(session), database_identity(session), seq, entry_hash, create=create)
    except OSError:  # the entry is committed; verify reports the lagging head file
        pass


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)
    session.info.pop(_NEW_CHAIN_KEY, None)


# --------------------------------------------------------------------------------------------- verify


@dataclass
class VerifyReport:
    entries: int = 0
    last_seq: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Entries #1..#unsealed carry no MAC and nothing else is wrong but the head file: what seal() may fix.
    unsealed: int = 0
    sealable: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "last_seq": self.last_seq,
            "problems": self.problems,
            "warnings": self.warnings,
        }


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
    """Walk the chain and compare it with the head row and the audit-head file; check every entry's MAC.
    Says which entry is wrong. Writes nothing."""
    report = VerifyReport()
    data_dir = data_dir or data_dir_of(session)
    key = audit_key(data_dir)
    database = database_identity(session)
    expected_seq = 1
    prev_hash = GENESIS
    hashes_to_check: dict[int, str] = {}
    heads = read_head_file(data_dir / HEAD_FILE)
    head_file = head_for(heads, database)
    file_seq = None
    head_problem = None
    head_unkeyed = False
    if heads is None:
        head_problem = f"{HEAD_FILE} file missing from the data dir: cannot check the chain end"
    elif heads.get("corrupt") is True:
        head_problem = f"{HEAD_FILE} file unreadable"
    elif head_file is None:
        others = ", ".join(sorted(heads)) or "none"
        head_problem = f"{HEAD_FILE} file has no head for this database (it records: {others})"
    else:
        try:
            file_seq = int(head_file["seq"])
            file_hash = str(head_file["hash"])
        except (KeyError, TypeError, ValueError):
            head_problem = f"{HEAD_FILE} file unreadable"
        else:
            mac = head_file.get("mac")
            if mac is None:  # still compared below; seal() rewrites it keyed
                report.problems.append(f"{HEAD_FILE} file is not keyed (written before the audit key)")
                head_unkeyed = True
            elif not hmac.compare_digest(str(mac), head_mac(key, database, file_seq, file_hash)):
                head_problem = f"{HEAD_FILE} file's MAC does not match: it was not written with the audit key"
                file_seq = None
    unsealed_prefix = True
    other_problems = 0
    for e in _iter_entries(session):
        seq = int(e.seq)
        report.entries += 1
        before = len(report.problems)
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
        other_problems += len(report.problems) - before
        if e.entry_mac is None:
            if unsealed_prefix:  # written before the audit key existed (judged after the walk)
                report.unsealed = seq
            else:  # after an entry that has one: forged, or its MAC removed
                other_problems += 1
                report.problems.append(f"entry #{seq} (id {e.id}) carries no MAC: forged, or its MAC removed")
        else:
            unsealed_prefix = False
            if not hmac.compare_digest(e.entry_mac, compute_mac(key, e.entry_hash)):
                other_problems += 1
                report.problems.append(
                    f"entry #{seq} (id {e.id}, {e.action} by {e.username}) forged or rewritten: its MAC does "
                    "not match (it was not written with the audit key)"
                )
        if file_seq is not None and seq == file_seq:
            hashes_to_check[seq] = e.entry_hash
        prev_hash = e.entry_hash
        expected_seq = seq + 1
    report.last_seq = expected_seq - 1
    if report.unsealed and report.unsealed < report.last_seq:
        # Entries from before the audit key, followed by keyed ones: the first keyed entry's hash covers
        # their hashes through the chain's links, and its MAC covers that hash. Nothing to seal.
        report.warnings.append(
            f"entries #1..#{report.unsealed} predate the audit key: they are protected through the hash "
            f"chain by entry #{report.unsealed + 1}'s MAC"
        )
        report.unsealed = 0
    elif report.unsealed:
        report.problems.append(
            f"entries #1..#{report.unsealed} carry no MAC: written before the audit key (an auditor may run "
            "`crms audit seal`), or forged"
        )
    head = session.get(AuditHead, 1)
    if head is None:
        other_problems += 1
        report.problems.append("audit_head row missing")
    else:
        if int(head.seq) > report.last_seq:
            other_problems += 1
            gone = f"#{report.last_seq + 1}" + (f"..#{head.seq}" if head.seq > report.last_seq + 1 else "")
            report.problems.append(f"entry {gone} missing: the chain ends before the head row (#{head.seq})")
        elif int(head.seq) != report.last_seq or head.hash != prev_hash:
            other_problems += 1
            report.problems.append(
                f"audit_head row (#{head.seq}) does not match the last entry #{report.last_seq}"
            )
    if head_problem is not None:
        if report.entries or head_file is not None:
            report.problems.append(head_problem)
    elif file_seq > report.last_seq:
        other_problems += 1
        report.problems.append(
            f"entries #{report.last_seq + 1}..#{file_seq} missing: {HEAD_FILE} file records #{file_seq} "
            f"but the chain ends at #{report.last_seq}"
        )
    elif hashes_to_check.get(file_seq) != file_hash:
        other_problems += 1
        report.problems.append(
            f"entry #{file_seq} differs from the {HEAD_FILE} file: the chain up to #{file_seq} was rewritten"
        )
    elif file_seq < report.last_seq:
        report.warnings.append(
            f"{HEAD_FILE} file lags: records #{file_seq}, chain ends at #{report.last_seq}"
        )
    # seal() may fix: entries without MAC only as left by an upgrade (an unkeyed head file of the first
    # format, reached by the chain: with a missing head file, MAC-less entries may just as well be forged);
    # or, when every entry has a valid MAC, a missing, unkeyed or forged head file.
    if report.unsealed:
        report.sealable = other_problems == 0 and head_unkeyed and head_problem is None
    else:
        report.sealable = (
            other_problems == 0 and report.entries > 0 and (head_unkeyed or head_problem is not None)
        )
    return report


# --------------------------------------------------------------------------------------------- services


def verify_trail(
    session: Session,
    principal: Principal,
    *,
    data_dir: Path | None = None,
    report: VerifyReport | None = None,
) -> VerifyReport:
    """The auditors' check of the trail (API and CLI): authorised, and audited with its outcome. The chain is
    walked before this check's own entry is written; ``report`` is one computed before the caller logged in
    (see :func:`verify_then_login`)."""
    from crms.access.policy import Permission, authorize

    authorize(principal, Permission.AUDIT_VERIFY)
    if report is None:
        report = verify(session, data_dir=data_dir)
    record(
        session,
        principal,
        "audit.verify",
        outcome="ok" if report.ok else "failed",
        detail="; ".join(report.problems)[:2000] or None,
    )
    return report


def verify_then_login(
    db, login: Callable[[], Principal], *, data_dir: Path | None = None
) -> tuple[Principal, VerifyReport]:
    """For a caller whose login itself writes an audit entry (a password login of the CLI): walk the chain
    first, in a transaction that writes nothing, then log in, then authorise and audit the check. Returns
    the principal and the report; the report is never shown to a caller who may not verify (the refusal is
    audited)."""
    from crms.errors import PermissionDenied

    with db.transaction() as session:
        report = verify(session, data_dir=data_dir)
    principal = login()
    try:
        with db.transaction() as session:
            verify_trail(session, principal, data_dir=data_dir, report=report)
    except PermissionDenied as exc:
        record_refusal(db, principal, "access.refused", exc.message, query="audit.verify")
        raise
    return principal, report


def seal(session: Session, principal: Principal, *, data_dir: Path | None = None) -> VerifyReport:
    """Once, after an upgrade or a lost data dir: give the entries written before the audit key their MACs
    and/or write the head file at the chain's end -- only when the chain is otherwise intact (every link and
    hash checks out, no bad MAC, the head row matches, and the head file, if there is one for this database,
    is reached). Anything else is refused: a chain that does not verify is never re-anchored. Audited."""
    from crms.access.policy import Permission, authorize
    from crms.errors import Conflict

    authorize(principal, Permission.AUDIT_VERIFY)
    data_dir = data_dir or data_dir_of(session)
    report = verify(session, data_dir=data_dir)
    if report.ok:
        raise Conflict("the audit chain verifies: nothing to seal", field="audit")
    if not report.sealable:
        raise Conflict(
            "the audit chain does not verify (see `crms audit verify`): it is not sealed", field="audit"
        )
    key = audit_key(data_dir)
    if report.unsealed:
        rows = session.execute(
            select(_ENTRY.c.id, _ENTRY.c.entry_hash).where(
                _ENTRY.c.seq <= report.unsealed, _ENTRY.c.entry_mac.is_(None)
            )
        ).all()
        for row in rows:
            session.execute(
                update(_ENTRY).where(_ENTRY.c.id == row.id).values(entry_mac=compute_mac(key, row.entry_hash))
            )
    detail = f"sealed entries #1..#{report.unsealed}" if report.unsealed else "head file re-anchored"
    # The seal's own entry: its pending head is written over the (now intact) chain by the commit hooks;
    # a missing head file is written here, at this entry.
    entry = record(session, principal, "audit.seal", outcome="ok", detail=detail)
    session.info.pop(_PENDING_KEY, None)
    session.flush()
    session.info[_SEAL_KEY] = (data_dir, int(entry.seq), entry.entry_hash)
    return report


_SEAL_KEY = "crms_audit_seal"


@event.listens_for(Session, "after_commit")
def _after_seal(session: Session) -> None:
    sealed = session.info.pop(_SEAL_KEY, None)
    if sealed is None:
        return
    data_dir, seq, entry_hash = sealed
    path = Path(data_dir) / HEAD_FILE
    heads = read_head_file(path)
    database = database_identity(session)
    if heads is None or heads.get("corrupt") is True:
        heads = {}
    key = audit_key(Path(data_dir))
    heads[database] = {
        "seq": seq,
        "hash": entry_hash,
        "written_at": _iso(utcnow()),
        "mac": head_mac(key, database, seq, entry_hash),
    }
    Path(data_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps({"heads": heads}, sort_keys=True) + "\n")


# --------------------------------------------------------------------------------------------- queries


def may_query(principal: Principal) -> bool:
    """Whether :func:`query` answers the principal (``audit:read``); pages show the trail only then."""
    from crms.access.policy import Permission, has_permission

    return has_permission(principal, Permission.AUDIT_READ)


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
    outcome: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[AuditEntry]]:
    """Auditors query the trail by user, record, action, outcome and time range (newest first); the query
    itself is audited."""
    from crms.access.policy import Permission, authorize

    authorize(principal, Permission.AUDIT_READ)
    check_page(limit, offset, max_limit=1000)
    if since and until and as_utc(since) > as_utc(until):
        raise rule_error("since", "after_other_date", "since is after until", what="since", other="until")
    if outcome is not None and outcome not in OUTCOMES:
        raise ValidationError(f"outcome must be one of {', '.join(OUTCOMES)}", field="outcome")
    conds = [] if outcome is None else [AuditEntry.outcome == outcome]
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
        "outcome": outcome,
    }
    record(session, principal, "audit.query", query={k: v for k, v in filters.items() if v is not None})
    return total, rows


def as_dict(e: AuditEntry) -> dict[str, Any]:
    return {"id": e.id, **entry_fields(e), "prev_hash": e.prev_hash, "entry_hash": e.entry_hash}
