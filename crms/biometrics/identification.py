"""1:N identification against every enrolled person: the database-backed gallery and the search service.

The database is the truth; the gallery (:class:`crms.fingerprint.gallery.Gallery`, flat arrays in memory) is
derived from the active, enrolled rows of ``fingerprints`` and kept current *incrementally*: before every
search (and after enrolment) :meth:`GalleryStore.sync` reads only the rows changed since it last looked
(``updated_at``, indexed; every change of a print - enrolment, recapture, retirement, merge - sets it) and
applies them: inserted, replaced, or removed; rows read again within the margin are not applied again, and
once the watermark is ``SETTLED`` only rows changed after it are read. It reads in a transaction begun once
it holds its lock (on SQLite, and on PostgreSQL not at READ COMMITTED, a connection of its own:
:func:`_own_reader`), so it never applies a state of the table older than one it has applied. At load, and
then every ``CENSUS_EVERY``, it checks the gallery against the table: the count and the sums of ids, person
ids and positions of the live rows (one aggregate query) against the same sums over the gallery. A
difference (a row deleted outright, a change committed with an ``updated_at`` older than the watermark) is
repaired row by row: the live rows' (id, person, position) are read and every row that differs is read
again.

The snapshot (``<data dir>/gallery/snapshot``, :func:`bind_snapshot`; :class:`crms.config.Settings`) is a
cache that saves the first load's parsing: the gallery's arrays sealed with the data key (AES-256-GCM, in
chunks bound to their order, so a damaged, truncated or swapped file fails to open), written atomically
(a new file, flushed, renamed over the old). Its stamp says which state it holds: the database it was made
from, the watermark, the gallery's census and the rows left out. A process that starts, even after
``kill -9``, opens it, checks it (it opens, it belongs to this database, its arrays add up to its census),
catches up from its watermark, and checks the result against the table as above; a snapshot that fails any
check is discarded and the gallery rebuilt from the table. It is written after a load from the table, and
again after every ``SNAPSHOT_EVERY`` changes (or 1 % of the gallery, whichever is more).

:func:`identify` searches 1-10 probe fingers (templates, or images extracted first) for a caller with
``search:biometric``; a reason is required; the search and its candidate list are audited.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import struct
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crms.access import audit
from crms.access.policy import Permission, authorize
from crms.access.principal import Principal
from crms.biometrics.models import EnrolmentStatus, Fingerprint
from crms.errors import CrmsError, ValidationError, rule_error

log = logging.getLogger("crms.gallery")

SYNC_MARGIN = timedelta(seconds=5)  # rows changed this long before the watermark are read again (clock skew)
# ... until the watermark is this old; then only rows changed after it are read (a change committed later
# with an older updated_at is the census check's to find)
SETTLED = timedelta(seconds=15)
# The census (count and sums over every live row: a scan of the table, about 0.3 s at 100,000 fingers on a
# busy 2-core machine) runs at load and then at most this often, not before every search.
CENSUS_EVERY = timedelta(seconds=30)
SNAPSHOT_EVERY = 1000  # changes applied since the last snapshot before the next one is written
REMEASURE_CHANGE = 0.25  # the gallery measures its impostors again once its fingers change by this share
_SEAL_MAGIC = b"CRMSGAL1"
_SEAL_CHUNK = 16 * 1024 * 1024
_stores: dict[str, GalleryStore] = {}
_snapshots: dict[str, tuple[Path, bytes]] = {}  # database key -> (snapshot path, data key)
_stores_lock = threading.Lock()


def _aware(t: datetime | None) -> datetime | None:
    """A watermark or row time in UTC (crms.timeutil.as_utc: SQLite's naive times are UTC, an aware one,
    as a PostgreSQL server on Pakistan time hands back, converted)."""
    from crms.timeutil import as_utc

    return None if t is None else as_utc(t)


# ------------------------------------------------------------------------------------------ sealed file


def _seal(data: bytes, key: bytes):
    """``data`` as AES-256-GCM chunks: magic, then per chunk its length, nonce and ciphertext; each chunk's
    associated data names its index and whether it is the last (a truncated or reordered file fails)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead = AESGCM(key)
    yield _SEAL_MAGIC
    view = memoryview(data)
    n = max(1, -(-len(data) // _SEAL_CHUNK))
    for i in range(n):
        nonce = secrets.token_bytes(12)
        ct = aead.encrypt(nonce, bytes(view[i * _SEAL_CHUNK : (i + 1) * _SEAL_CHUNK]), _ad(i, i == n - 1))
        yield struct.pack(">I", len(ct)) + nonce + ct


def _ad(i: int, last: bool) -> bytes:
    return b"crms-gallery-snapshot|%d|%d" % (i, int(last))


def _unseal(blob: bytes, key: bytes) -> bytes | None:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not blob.startswith(_SEAL_MAGIC):
        return None
    aead = AESGCM(key)
    out, pos, i = [], len(_SEAL_MAGIC), 0
    while pos < len(blob):
        if pos + 16 > len(blob):
            return None
        (n,) = struct.unpack(">I", blob[pos : pos + 4])
        nonce, end = blob[pos + 4 : pos + 16], pos + 16 + n
        if end > len(blob):
            return None
        try:
            out.append(aead.decrypt(nonce, blob[pos + 16 : end], _ad(i, end == len(blob))))
        except InvalidTag:
            return None
        pos, i = end, i + 1
    return b"".join(out) if out else None


# ------------------------------------------------------------------------------------------ the store


class GalleryStore:
    """The gallery of one database, kept in step with its ``fingerprints`` table."""

    def __init__(
        self,
        snapshot: Path | None = None,
        key: bytes | None = None,
        database: str = "",
        reader: Callable[[], AbstractContextManager[Session]] | None = None,
    ) -> None:
        from crms.fingerprint import gallery_from_environment

        if snapshot is not None and key is None:
            raise ValueError("a gallery snapshot needs the data key (it holds biometric templates)")
        self.gallery = gallery_from_environment()  # one gallery, or shards (worker processes, Ray actors)
        self.snapshot = snapshot
        self.key = key
        self.database = database  # which database the snapshot belongs to (a digest of its URL)
        self.watermark: datetime | None = None  # newest updated_at applied
        self.loaded = False
        self.skipped: dict[int, str] = {}  # fingerprint id -> why its template is not in the gallery
        self._skipped_at: dict[int, tuple[int, int]] = {}  # fingerprint id -> (person, position)
        self.changes = 0  # changes applied since the last snapshot
        self._recent: dict[int, datetime] = {}  # rows applied within the margin: id -> their updated_at
        self._census_at: datetime | None = None  # when the gallery was last checked against the table
        self.last_load: dict = {}  # how the first sync went: from the snapshot or the table, and why
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # one snapshot written at a time, the newest taken last
        self._taken = self._written = 0
        self._reader = reader  # a read transaction of the store's own (:func:`_own_reader`), or None

    @staticmethod
    def _live(query):
        return query.where(
            Fingerprint.active.is_(True),
            Fingerprint.status == EnrolmentStatus.ENROLLED.value,
            Fingerprint.template.is_not(None),
        )

    def sync(self, session: Session) -> dict[str, int]:
        """Catch up with the table; returns what changed. It reads through ``session`` or, where the store has
        a reader of its own, through a read transaction begun once the store's lock is held: a SQLite
        transaction reads the snapshot of its first read, and when two searches run at once the one whose
        transaction began first may take the lock second; a catch-up and census from that older snapshot
        would take the gallery back (a retired print searched again, a new one dropped)."""
        with self._lock:
            with self._reading(session) as s:
                out = self._catch_up(s) if self.loaded else self._load(s)
            self._measure_impostors(out["fingers"])
            taken = None
            if self.snapshot is not None and (
                out.get("rebuilt") or self.changes >= max(SNAPSHOT_EVERY, len(self.gallery) // 100)
            ):
                taken = self._take()
        if taken is not None:  # sealed and written outside the lock: searches go on meanwhile
            self._write(*taken)
        return out

    def _reading(self, session: Session) -> AbstractContextManager[Session]:
        return nullcontext(session) if self._reader is None else self._reader()

    def _measure_impostors(self, n: int) -> None:
        """Measure the gallery's own impostor scores (``Gallery.impostor_scores``) when it has none yet, is a
        new gallery, or has grown or shrunk by ``REMEASURE_CHANGE`` since (``n``: its fingers now, as the
        catch-up counted them); its searches' thresholds are then the higher of the model's and the one its
        impostors call for (``crms.fingerprint.impostors``)."""
        from crms.fingerprint import IMPOSTOR_PAIRS, impostor_profile_of

        g = self.gallery
        if g.impostors_at is not None and abs(n - g.impostors_at) <= REMEASURE_CHANGE * g.impostors_at:
            return
        g.impostors = impostor_profile_of(g.impostor_scores(IMPOSTOR_PAIRS))
        g.impostors_at = n
        if g.impostors is not None:
            log.info(
                "gallery: impostors measured, %d pairs, median %.1f", g.impostors.pairs, g.impostors.median
            )

    # -------------------------------------------------------------------- first load
    def _load(self, session: Session) -> dict[str, int]:
        why = "none configured"
        if self.snapshot is not None:
            why = self._open_snapshot()
            if why == "ok":
                out = self._catch_up(session, census=True)
                out["from_snapshot"] = 1
                if out.get("repaired"):
                    log.warning("gallery: snapshot out of step with the database, %d rows repaired",
                                out["repaired"])  # fmt: skip
                self.loaded = True
                self.last_load = {"source": "snapshot", "repaired": out.get("repaired", 0), **out}
                return out
            self._reset()
        self.loaded = True
        out = self._catch_up(session, census=True)
        out["rebuilt"] = 1
        self.last_load = {"source": "database", "snapshot": why, **out}
        if self.snapshot is not None:
            log.info("gallery: built from the database (%d fingers; snapshot %s)", out["fingers"], why)
        return out

    def _reset(self) -> None:
        from crms.fingerprint import gallery_from_environment

        close = getattr(self.gallery, "close", None)
        if close is not None:
            close()
        self.gallery = gallery_from_environment()
        self.watermark = None
        self.skipped, self._skipped_at = {}, {}

    def _open_snapshot(self) -> str:
        """Load the snapshot into the gallery; 'ok', or why not."""
        from crms.fingerprint import Gallery

        assert self.snapshot is not None and self.key is not None
        _remove_leftovers(self.snapshot)
        try:
            blob = self.snapshot.read_bytes()
        except FileNotFoundError:
            return "missing"
        except OSError as exc:
            return f"unreadable ({exc.strerror})"
        data = _unseal(blob, self.key)
        if data is None:
            return "damaged (does not open with the data key)"
        if isinstance(self.gallery, Gallery):
            got = Gallery.from_snapshot(data)
            if got is None:
                return "damaged (arrays)"
            g, raw = got
        else:  # shards (worker processes, Ray actors): each loads its own part
            raw, why = self.gallery.load_snapshot(data)
            if raw is None:
                return why
            g = self.gallery
        try:
            stamp = json.loads(raw)
            census = tuple(int(x) for x in stamp["census"])
            watermark = datetime.fromisoformat(stamp["watermark"]) if stamp["watermark"] else None
            skipped = {int(k): (int(v[0]), int(v[1]), str(v[2])) for k, v in stamp["skipped"].items()}
            database = stamp["database"]
            impostors = stamp.get("impostors")
            measured = (int(impostors["at"]), [float(x) for x in impostors["scores"]]) if impostors else None
        except (ValueError, KeyError, TypeError, IndexError):
            return "damaged (stamp)"
        if database != self.database:
            return "of another database"
        if g.checksum() != census:
            return "damaged (census)"
        self.gallery = g
        self.watermark = _aware(watermark)
        self.skipped = {k: v[2] for k, v in skipped.items()}
        self._skipped_at = {k: (v[0], v[1]) for k, v in skipped.items()}
        if measured is not None:  # the impostors measured before: not measured again at every start
            from crms.fingerprint import impostor_profile_of

            g.impostors_at, g.impostors = measured[0], impostor_profile_of(measured[1])
        return "ok"

    def _take(self) -> tuple[int, bytes] | None:
        """Under the lock: the gallery's arrays and stamp as they are now (numbered), changes reset."""
        if self.snapshot is None or self.key is None:
            return None
        stamp = json.dumps({
            "database": self.database,
            "watermark": self.watermark.isoformat() if self.watermark else "",
            "census": list(self.gallery.checksum()),
            "skipped": {str(k): [*self._skipped_at.get(k, (0, 0)), v] for k, v in self.skipped.items()},
            "impostors": _impostors_kept(self.gallery),
        })  # fmt: skip
        data = self.gallery.snapshot_bytes(stamp)
        self.changes = 0
        self._taken += 1
        return self._taken, data

    def _write(self, number: int, data: bytes) -> bool:
        """Seal and write a taken snapshot, unless a later one was written already."""
        from crms.fingerprint import write_atomically

        assert self.snapshot is not None and self.key is not None
        with self._write_lock:
            if number <= self._written:
                return False
            try:
                write_atomically(self.snapshot, _seal(data, self.key))
            except OSError as exc:  # a cache: the search goes on without it
                log.warning("gallery: snapshot not written (%s)", exc)
                return False
            self._written = number
            return True

    def save_snapshot(self) -> bool:
        with self._lock:
            taken = self._take()
        return taken is not None and self._write(*taken)

    # -------------------------------------------------------------------- catching up
    def _apply(self, rows) -> tuple[int, int, datetime | None]:
        """Apply (id, person, position, active, status, template, updated_at) rows: all parsed before the
        gallery changes; then one insert and the deletes under the gallery's lock. Rows changed after the
        watermark count towards the next snapshot (those read again within the margin do not)."""
        from crms.fingerprint import loads

        inserts, deletes, newest = [], [], None
        for fid, person, position, active, status, blob, updated in rows:
            updated = _aware(updated)
            fid = int(fid)
            if newest is None or (updated is not None and updated > newest):
                newest = updated
            if updated is not None and self._recent.get(fid) == updated:
                continue  # read again within the margin, already applied as it is
            if updated is not None:
                self._recent[fid] = updated
            if self.watermark is None or updated is None or updated > self.watermark:
                self.changes += 1
            self.skipped.pop(fid, None)
            self._skipped_at.pop(fid, None)
            if active and status == EnrolmentStatus.ENROLLED.value and blob is not None:
                try:
                    t = loads(bytes(blob), f"fingerprint {fid}")
                    inserts.append((fid, int(person), int(position), t))
                except CrmsError as exc:  # e.g. a template of an older format version: left out, reported
                    self.skipped[fid] = exc.message
                    self._skipped_at[fid] = (int(person), int(position))
                    deletes.append(fid)
            else:
                deletes.append(fid)
        if inserts:
            self.gallery.insert_many(inserts)
        removed = sum(self.gallery.delete(k) for k in deletes)
        return len(inserts), removed, newest

    _COLUMNS = (
        Fingerprint.id,
        Fingerprint.person_id,
        Fingerprint.position,
        Fingerprint.active,
        Fingerprint.status,
        Fingerprint.template,
        Fingerprint.updated_at,
    )

    def _catch_up(self, session: Session, census: bool = False) -> dict[str, int]:
        from crms.timeutil import utcnow

        now = _aware(utcnow())
        q = select(*self._COLUMNS)
        if self.watermark is not None:
            if now - self.watermark > SETTLED:
                q = q.where(Fingerprint.updated_at > self.watermark)
            else:
                q = q.where(Fingerprint.updated_at >= self.watermark - SYNC_MARGIN)
        # no ORDER BY: with one, SQLite's planner scans the whole table in id order instead of the index
        inserted, removed, newest = self._apply(sorted(session.execute(q), key=lambda r: r[0]))
        if newest is not None and (self.watermark is None or newest > self.watermark):
            self.watermark = newest
        if self.watermark is None or now - self.watermark > SETTLED:
            self._recent.clear()  # nothing within the margin is read again
        elif self._recent:
            low = self.watermark - SYNC_MARGIN
            self._recent = {k: v for k, v in self._recent.items() if v >= low}
        repaired = 0
        if census or self._census_at is None or now - self._census_at >= CENSUS_EVERY:
            repaired = self._reconcile(session)
            self._census_at = now
        out = {"inserted": inserted, "removed": removed + repaired, "fingers": len(self.gallery)}
        if repaired:
            out["repaired"] = repaired
        return out

    def _expected(self) -> tuple[int, int, int, int]:
        n, k, p, pos = self.gallery.checksum()
        for fid, (person, position) in self._skipped_at.items():
            n, k, p, pos = n + 1, k + fid, p + person, pos + position
        return n, k, p, pos

    def _reconcile(self, session: Session) -> int:
        """Check the gallery (and the rows left out) against the live rows of the table: count and sums of
        id, person and position. Equal: nothing to do. Otherwise read the live rows' (id, person, position),
        drop the gallery's fingers that are not live and read again every live row that differs."""
        agg = self._live(
            select(
                func.count(),
                func.coalesce(func.sum(Fingerprint.id), 0),
                func.coalesce(func.sum(Fingerprint.person_id), 0),
                func.coalesce(func.sum(Fingerprint.position), 0),
            ).select_from(Fingerprint)
        )
        row = session.execute(agg).one()
        if tuple(int(x) for x in row) == self._expected():
            return 0
        live = {
            int(i): (int(p), int(pos))
            for i, p, pos in session.execute(
                self._live(select(Fingerprint.id, Fingerprint.person_id, Fingerprint.position))
            )
        }
        keys, persons, positions = self.gallery.census()
        mine = {int(k): (int(p), int(pos)) for k, p, pos in zip(keys, persons, positions, strict=True)}
        mine.update(self._skipped_at)
        gone = [k for k in mine if k not in live]
        for k in gone:
            self.skipped.pop(k, None)
            self._skipped_at.pop(k, None)
            self._recent.pop(k, None)
        removed = sum(self.gallery.delete(k) for k in gone)
        stale = sorted(k for k, v in live.items() if mine.get(k) != v)
        for k in stale:  # applied again even where the margin's record says this version was applied
            self._recent.pop(k, None)
        for i in range(0, len(stale), 500):
            q = select(*self._COLUMNS).where(Fingerprint.id.in_(stale[i : i + 500]))
            self._apply(session.execute(q.order_by(Fingerprint.id)))
        self.changes += removed + len(stale)
        return removed + len(stale)


def _impostors_kept(gallery) -> dict | None:
    """The gallery's measured impostor scores as its snapshot's stamp keeps them (None: not measured)."""
    if gallery.impostors_at is None:
        return None
    scores = [] if gallery.impostors is None else [round(float(x), 2) for x in gallery.impostors.scores]
    return {"at": gallery.impostors_at, "scores": scores}


def _remove_leftovers(path: Path) -> None:
    """Temporary files of snapshots whose writer died before renaming them (``kill -9`` mid-write)."""
    import os

    try:
        leftovers = list(path.parent.glob(f".{path.name}.*.tmp"))
    except OSError:
        return
    for tmp in leftovers:
        try:
            pid = int(tmp.name.split(".")[2])
            os.kill(pid, 0)  # its writer still runs (another server process): leave it
        except (ValueError, IndexError, ProcessLookupError):
            tmp.unlink(missing_ok=True)
        except PermissionError:
            pass


def _database_key(db) -> str:
    return str(db.engine.url)  # SQLAlchemy renders the password as ***


def bind_snapshot(db, path: Path | None, key: bytes | None) -> None:
    """Composition roots: the gallery of database ``db`` in this process keeps its snapshot at ``path``
    (sealed with ``key``, the data key); None turns the snapshot off."""
    k = _database_key(db)
    with _stores_lock:
        if path is None or key is None:
            _snapshots.pop(k, None)
        else:
            _snapshots[k] = (Path(path), key)
        st = _stores.get(k)
        if st is not None and not st.loaded:
            st.snapshot, st.key = (Path(path), key) if path is not None and key is not None else (None, None)


def store_for(db) -> GalleryStore:
    """The process's gallery of database ``db`` (one per database URL)."""
    key = _database_key(db)
    with _stores_lock:
        st = _stores.get(key)
        if st is None:
            path, data_key = _snapshots.get(key, (None, None))
            digest = hashlib.sha256(key.encode()).hexdigest()[:16]
            st = _stores[key] = GalleryStore(path, data_key, digest, reader=_own_reader(db))
        return st


def _own_reader(db) -> Callable[[], AbstractContextManager[Session]] | None:
    """How the gallery of ``db`` reads the table (:meth:`GalleryStore.sync`): where a transaction keeps the
    snapshot of its first read (SQLite; PostgreSQL whose default isolation is REPEATABLE READ or
    SERIALIZABLE), a read transaction on a connection opened for each sync (none kept, none taken from the
    pool the requests share). None, the caller's session, on PostgreSQL at READ COMMITTED (each statement
    sees every commit before it) and for an in-memory SQLite database (which another connection would not
    see)."""
    from sqlalchemy.pool import NullPool

    from crms.db import Database, sqlite_file

    if db.is_sqlite:
        if sqlite_file(db.url) is None:
            return None
    else:
        with db.engine.connect() as conn:
            if conn.get_isolation_level() in ("READ COMMITTED", "READ UNCOMMITTED"):
                return None
    return Database(db.url, poolclass=NullPool).read_transaction


def forget_stores() -> None:
    """Drop every process gallery (tests; a restart does the same). The snapshot bindings stay."""
    with _stores_lock:
        _stores.clear()


def save_snapshots() -> None:
    """Write the snapshot of every gallery changed since its last one (a server's orderly shutdown)."""
    with _stores_lock:
        stores = list(_stores.values())
    for st in stores:
        if st.loaded and st.changes:
            st.save_snapshot()


# ------------------------------------------------------------------------------------------ probes


@dataclass
class ProbeInput:
    name: str  # what the caller calls it (file name, form field), used in every error message
    data: bytes  # an image, or a template (CRMS format or ISO/IEC 19794-2)
    position: int | str = 0  # ANSI/NIST 1-10, 0 unknown; a form's text is read by check_position
    ppi: float | str | None = None  # image resolution, 'auto', or None for the file's own


def positions_for(prints: int, positions: list) -> list:
    """The finger position of each of ``prints`` probes: ``positions`` gives one per print, or none (all
    unknown, 0). The API's ``position`` fields and the CLI's ``--finger`` options are read by this rule."""
    if not positions:
        return [0] * prints
    if len(positions) != prints:
        message = f"{len(positions)} positions for {prints} prints (give one per print)"
        raise rule_error("position", "positions_count", message, positions=len(positions), prints=prints)
    return list(positions)


def probe_templates(probes: list[ProbeInput]):
    """Probe fingers for the gallery: templates parsed, images extracted (in parallel when several)."""
    from crms.biometrics.capture_check import refuse_finger_twice
    from crms.fingerprint import ISO_MAGIC, ProbeFinger, TemplateError, check_position, iso_loads, loads
    from crms.fingerprint import TEMPLATE_MAGIC as MAGIC

    if not 1 <= len(probes) <= 10:
        message = f"send 1 to 10 probe fingers, got {len(probes)}"
        raise rule_error("probes", "probes_count", message, count=len(probes), most=10)
    out: list = [None] * len(probes)
    images = []
    positions = [check_position(p.position, p.name) for p in probes]
    refuse_finger_twice(zip(positions, (p.name for p in probes), strict=True), "searched", field="position")
    for i, (p, pos) in enumerate(zip(probes, positions, strict=True)):
        head = bytes(p.data[:4])
        if head == MAGIC:
            try:
                out[i] = ProbeFinger(loads(bytes(p.data), p.name), pos, p.name)
            except TemplateError as exc:
                raise ValidationError(exc.message, field=f"{p.name}.template") from None
        elif head == ISO_MAGIC:
            try:
                out[i] = ProbeFinger(iso_loads(bytes(p.data), p.name), pos, p.name)
            except TemplateError as exc:
                raise ValidationError(exc.message, field=f"{p.name}.template") from None
        else:
            images.append((i, p, pos))
    if images:
        results = _extract([(p.data, p.ppi, p.name) for _i, p, _pos in images])
        for (i, p, pos), r in zip(images, results, strict=True):
            if r.error:  # the engine's message names the image already
                message = r.error if r.error.startswith(f"{p.name}: ") else f"{p.name}: {r.error}"
                refused = ValidationError(r.error, details=r.error_details)  # the worker's, its kind kept
                raise refused.at(f"{p.name}.image", message)
            out[i] = ProbeFinger(loads(r.template), pos, p.name)
    return out


def _extract(jobs: list[tuple[bytes, float | str | None, str]]):
    from crms.fingerprint import extract_one

    if len(jobs) == 1:
        return [extract_one(jobs[0][0], jobs[0][1], jobs[0][2])]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as ex:  # the extractor releases the GIL in its heavy steps
        return list(ex.map(lambda j: extract_one(*j), jobs))


# ------------------------------------------------------------------------------------------ search


def candidates_dict(result, top: int) -> dict:
    return {
        "gallery": {"fingers": result.gallery_fingers, "persons": result.gallery_persons},
        "threshold": result.threshold,
        "threshold_basis": result.threshold_basis,  # "calibration", or "gallery": raised to its impostors
        "fpir": result.fpir,
        "penetration": round(result.penetration, 6),
        "candidates": [
            {
                "rank": i + 1,
                "person_id": c.person,
                "score": c.score,
                "hit": c.score >= result.threshold,
                "fingers": c.fingers,
            }
            for i, c in enumerate(result.candidates[:top])
        ],
    }


def identify(
    session: Session,
    principal: Principal,
    db,
    probes: list[ProbeInput],
    *,
    reason: str | None,
    top: int = 20,
    fpir: float = 0.01,
    exclude_person: int | None = None,
) -> dict:
    """Search ``probes`` against every enrolled person; the answer and the audit carry the candidate list."""
    from crms.fingerprint import GalleryError

    authorize(principal, Permission.SEARCH_BIOMETRIC)
    if not reason or not reason.strip():
        raise ValidationError("a reason is required for a fingerprint search", field="reason")
    if not 1 <= top <= 100:
        raise ValidationError("top must be 1-100", field="top")
    fingers = probe_templates(probes)
    store = store_for(db)
    store.sync(session)
    try:
        result = store.gallery.search(fingers, top=top + (1 if exclude_person else 0), fpir=fpir)
    except GalleryError as exc:
        raise ValidationError(exc.message, field=exc.field, details=exc.details) from None
    if exclude_person is not None:
        result.candidates = [c for c in result.candidates if c.person != exclude_person]
    out = candidates_dict(result, top)
    audit.record(
        session,
        principal,
        "search.biometric",
        target_type="identification",
        reason=reason.strip(),
        query={
            "probes": [{"name": f.name, "position": f.position} for f in fingers],
            "top": top,
            "threshold": out["threshold"],
            "threshold_basis": out["threshold_basis"],
            "candidates": [[c["person_id"], c["score"]] for c in out["candidates"]],
        },
    )
    return out
