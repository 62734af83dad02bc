"""1:N identification against every enrolled person: the database-backed gallery and the search service.

The database is the truth; the gallery (:class:`crms.fingerprint.gallery.Gallery`, flat arrays in memory) is
derived from the active, enrolled rows of ``fingerprints`` and kept current *incrementally*: before every
search (and after enrolment) :meth:`GalleryStore.sync` reads only the rows changed since it last looked
(``updated_at``, indexed; every change of a print - enrolment, recapture, retirement, merge - sets it) and
applies them: inserted, replaced, or removed. A count check catches rows deleted outright (then only their
ids are reconciled). So a process that restarts, even after ``kill -9``, reaches the same state: it loads
its snapshot file if there is one (a cache, checked: format, and then caught up like any other state) or
reads the table once, then syncs.

:func:`identify` searches 1-10 probe fingers (templates, or images extracted first) for a caller with
``search:biometric``; a reason is required; the search and its candidate list are audited.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crms.access import audit
from crms.access.policy import Permission, authorize
from crms.access.principal import Principal
from crms.biometrics.models import EnrolmentStatus, Fingerprint
from crms.errors import CrmsError, ValidationError

SYNC_MARGIN = timedelta(seconds=5)  # rows changed this long before the watermark are read again (clock skew)
_stores: dict[str, GalleryStore] = {}
_stores_lock = threading.Lock()


def _aware(t: datetime | None) -> datetime | None:
    from datetime import UTC

    if t is None:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


class GalleryStore:
    """The gallery of one database, kept in step with its ``fingerprints`` table."""

    def __init__(self, snapshot: Path | None = None) -> None:
        from crms.fingerprint import gallery_from_environment

        self.gallery = gallery_from_environment()  # one gallery, or shards (worker processes, Ray actors)
        self.snapshot = snapshot
        self.watermark: datetime | None = None  # newest updated_at applied
        self.loaded = False
        self.skipped: dict[int, str] = {}  # fingerprint id -> why its template is not in the gallery
        self._lock = threading.Lock()

    @staticmethod
    def _live(query):
        return query.where(
            Fingerprint.active.is_(True),
            Fingerprint.status == EnrolmentStatus.ENROLLED.value,
            Fingerprint.template.is_not(None),
        )

    def _stamp(self) -> str:
        return self.watermark.isoformat() if self.watermark else ""

    def sync(self, session: Session) -> dict[str, int]:
        """Catch up with the table; returns what changed."""
        with self._lock:
            if not self.loaded:
                return self._load(session)
            return self._catch_up(session)

    def _load(self, session: Session) -> dict[str, int]:
        from crms.fingerprint import Gallery

        if self.snapshot is not None and self.snapshot.exists() and isinstance(self.gallery, Gallery):
            g = Gallery.load(self.snapshot)
            if g is not None:
                import numpy as np

                with np.load(self.snapshot, allow_pickle=False) as z:
                    stamp = str(z["stamp"])
                self.gallery = g
                self.watermark = datetime.fromisoformat(stamp) if stamp else None
                self.loaded = True
                out = self._catch_up(session)
                out["from_snapshot"] = 1
                return out
        self.watermark = None
        self.loaded = True
        return self._catch_up(session)

    def _catch_up(self, session: Session) -> dict[str, int]:
        from crms.fingerprint import loads

        q = select(
            Fingerprint.id,
            Fingerprint.person_id,
            Fingerprint.position,
            Fingerprint.active,
            Fingerprint.status,
            Fingerprint.template,
            Fingerprint.updated_at,
        )
        if self.watermark is not None:
            q = q.where(Fingerprint.updated_at >= self.watermark - SYNC_MARGIN)
        inserts, deletes, newest = [], [], self.watermark
        for fid, person, position, active, status, blob, updated in session.execute(
            q.order_by(Fingerprint.id)
        ):
            updated = _aware(updated)
            if newest is None or (updated is not None and updated > newest):
                newest = updated
            if active and status == EnrolmentStatus.ENROLLED.value and blob is not None:
                try:
                    inserts.append(
                        (int(fid), int(person), int(position), loads(bytes(blob), f"fingerprint {fid}"))
                    )
                    self.skipped.pop(int(fid), None)
                except CrmsError as exc:  # e.g. a template of an older format version: left out, reported
                    self.skipped[int(fid)] = exc.message
                    deletes.append(int(fid))
            else:
                deletes.append(int(fid))
        # all checked before the gallery changes; then one insert and the deletes under the gallery's lock
        if inserts:
            self.gallery.insert_many(inserts)
        removed = sum(self.gallery.delete(k) for k in deletes)
        self.watermark = newest
        reconciled = self._reconcile(session)
        return {"inserted": len(inserts), "removed": removed + reconciled, "fingers": len(self.gallery)}

    def _reconcile(self, session: Session) -> int:
        """Rows deleted outright leave no trace in ``updated_at``: compare counts, then ids."""
        n = int(session.scalar(self._live(select(func.count()).select_from(Fingerprint))) or 0)
        if n == len(self.gallery) + len(self.skipped):
            return 0
        live = {int(i) for i in session.scalars(self._live(select(Fingerprint.id)))}
        self.skipped = {k: v for k, v in self.skipped.items() if k in live}
        gone = [int(k) for k in self.gallery.keys() if int(k) not in live]
        return sum(self.gallery.delete(k) for k in gone)

    def save_snapshot(self) -> bool:
        from crms.fingerprint import Gallery

        if self.snapshot is None or not isinstance(self.gallery, Gallery):
            return False
        with self._lock:
            self.gallery.save(self.snapshot, stamp=self._stamp())
        return True


def store_for(db, snapshot: Path | None = None) -> GalleryStore:
    """The process's gallery of database ``db`` (one per database URL)."""
    key = str(db.engine.url)
    with _stores_lock:
        st = _stores.get(key)
        if st is None:
            st = _stores[key] = GalleryStore(snapshot)
        return st


def forget_stores() -> None:
    """Drop every process gallery (tests; a restart does the same)."""
    with _stores_lock:
        _stores.clear()


# ------------------------------------------------------------------------------------------ probes


@dataclass
class ProbeInput:
    name: str  # what the caller calls it (file name, form field), used in every error message
    data: bytes  # an image, or a template (CRMS format or ISO/IEC 19794-2)
    position: int = 0  # ANSI/NIST 1-10, 0 unknown
    ppi: float | str | None = None  # image resolution, 'auto', or None for the file's own


def _position(value, name: str) -> int:
    try:
        p = int(value)
    except (TypeError, ValueError):
        raise ValidationError(
            f"{name}: finger position {value!r} is not a number", field="position"
        ) from None
    if not 0 <= p <= 10:
        raise ValidationError(f"{name}: finger position {p} is not 0 (unknown) or 1-10", field="position")
    return p


def probe_templates(probes: list[ProbeInput]):
    """Probe fingers for the gallery: templates parsed, images extracted (in parallel when several)."""
    from crms.fingerprint import ISO_MAGIC, ProbeFinger, TemplateError, iso_loads, loads
    from crms.fingerprint import TEMPLATE_MAGIC as MAGIC

    if not 1 <= len(probes) <= 10:
        raise ValidationError(f"send 1 to 10 probe fingers, got {len(probes)}", field="probes")
    out: list = [None] * len(probes)
    images = []
    for i, p in enumerate(probes):
        pos = _position(p.position, p.name)
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
            if r.error:
                raise ValidationError(f"{p.name}: {r.error}", field=f"{p.name}.image")
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
        raise ValidationError(exc.message, field=exc.field) from None
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
            "candidates": [[c["person_id"], c["score"]] for c in out["candidates"]],
        },
    )
    return out
