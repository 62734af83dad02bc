"""Fingerprint enrolment: capture a finger's image for a person, then extract its template.

Two steps, so that capture is instant and extraction (about a second of CPU per image) can run in a
worker pool behind it:

* :func:`check_image` decodes the image (in a limited worker process: crms.fingerprint.images) to make sure
  it is a fingerprint image the engine can read; callers run it *before* opening the transaction, so that
  no database lock is held while a hostile or large file is decoded.
* :func:`capture` checks the officer's right to enrol for the person's unit (``biometric:enrol``), takes
  the checked image (or checks it itself when given bytes), stores it encrypted
  (:class:`crms.access.crypto.EncryptedStore`) and adds a *pending*
  :class:`~crms.biometrics.models.Fingerprint` row. An earlier *enrolled* print of the same finger stays
  active (searchable) until the new one enrols, and is retired then; a recapture that fails leaves it in
  place. An earlier print still pending is *superseded* at once (kept for history, never enrolled), a
  failed one retired. Capturing the very same image again changes nothing.
* :func:`enrol_pending` extracts the templates of pending rows in a pool of extraction processes
  (:class:`crms.fingerprint.workers.ExtractorPool`) and stores each one as it arrives, in its own transaction.
  It is resumable: an interruption loses at most the images in flight, and the next run carries on from
  the rows still pending. One run at a time per data dir (a lock file); a row that changed meanwhile
  (recaptured or retired) is left alone. A print that yields fewer minutiae than a search needs is
  *failed* (its error says to capture the finger again), not enrolled.

Every change is audited: ``biometric.capture`` (by the officer), ``biometric.enrol`` /
``biometric.enrol_failed`` (by the job that extracted the template).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import resource
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crms.access import audit
from crms.access.policy import Permission, authorize
from crms.access.principal import Principal
from crms.biometrics.models import (
    FINGER_POSITIONS,
    EnrolmentStatus,
    Fingerprint,
    FingerprintSource,
)
from crms.errors import Conflict, ValidationError, rule_error
from crms.fingerprint import engine_missing, extractor_version
from crms.timeutil import iso_or_none, utcnow

if TYPE_CHECKING:
    import numpy as np

MIN_PPI, MAX_PPI = 250, 1500
_NEW_REFS_KEY = "crms_new_biometric_refs"


# ------------------------------------------------------------------------------------------ capture


def _forget_files_on_rollback(session: Session, store, ref: str) -> None:
    """A stored image whose row is rolled back would be an orphan: delete it when the transaction fails."""
    from sqlalchemy import event

    refs = session.info.get(_NEW_REFS_KEY)
    if refs is None:
        refs = session.info[_NEW_REFS_KEY] = []

        @event.listens_for(session, "after_commit")
        def _committed(sess) -> None:
            sess.info.get(_NEW_REFS_KEY, []).clear()

        @event.listens_for(session, "after_rollback")
        def _rolled_back(sess) -> None:
            for stored in sess.info.get(_NEW_REFS_KEY, []):
                store.delete(stored)
            sess.info.get(_NEW_REFS_KEY, []).clear()

    refs.append(ref)


def active_print(session: Session, person_id: int, position: int) -> Fingerprint | None:
    return session.scalar(
        select(Fingerprint).where(
            Fingerprint.person_id == person_id,
            Fingerprint.position == position,
            Fingerprint.active.is_(True),
        )
    )


def _waiting():
    """A recapture of an enrolled finger still waiting for its template: pending, not yet active, not
    retired (the conditions, for a query's ``where``)."""
    return (
        Fingerprint.active.is_(False),
        Fingerprint.retired_at.is_(None),
        Fingerprint.status == EnrolmentStatus.PENDING.value,
    )


def waiting_print(session: Session, person_id: int, position: int) -> Fingerprint | None:
    """The recapture of an enrolled finger still waiting for its template (pending, not yet active)."""
    return session.scalar(
        select(Fingerprint).where(
            Fingerprint.person_id == person_id, Fingerprint.position == position, *_waiting()
        )
    )


def _retire(row: Fingerprint, principal: Principal, now: datetime) -> None:
    """No longer the active print of its finger; kept, with who retired it and when."""
    row.active = False
    row.retired_at = now
    row.retired_by = principal.user_id
    row.updated_at, row.updated_by = now, principal.user_id


@dataclass(frozen=True)
class CheckedImage:
    """An uploaded image that decoded as a fingerprint image (what :func:`capture` stores)."""

    data: bytes
    sha256: str
    format: str
    width: int
    height: int
    file_ppi: float | None
    pixels: np.ndarray = field(repr=False, compare=False)  # decoded, 8-bit gray, at the file's resolution
    # capture_resolution's answers by the officer's ppi, so that the one chosen before the transaction (for
    # the quality shown) is not estimated again inside it
    resolutions: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class CaptureResolution:
    """The resolution a captured print is stored and extracted at, where it came from (``caller``, ``file``,
    ``estimated`` or ``default``: as :func:`crms.fingerprint.choose_dpi` says) and why, in words."""

    ppi: int
    source: str
    reason: str


def check_image(image: bytes, position: int, name: str | None = None) -> CheckedImage:
    """Decode ``image`` in the decoder sandbox and keep what capture needs; no database work, so call it
    before the transaction. Raises ImageError (a ValidationError) naming the file; a blank image (no
    fingerprint in it: :func:`crms.biometrics.capture_check.no_fingerprint`) is refused the same way."""
    from crms.biometrics.capture_check import no_fingerprint
    from crms.fingerprint import decode_image

    data = bytes(image)
    label = name or f"finger {position}"
    pixels, file_dpi, fmt = decode_image(data, label)
    blank = no_fingerprint(pixels)
    if blank is not None:
        message = f"{label}: {blank}; capture the finger again"
        raise rule_error("image", "image_blank", message, shade=int(pixels.mean()))
    digest = hashlib.sha256(data).hexdigest()
    return CheckedImage(data, digest, fmt, int(pixels.shape[1]), int(pixels.shape[0]), file_dpi, pixels)


def refuse_ppi_outside(ppi: float) -> None:
    """An officer's resolution for a gallery print must be within ``MIN_PPI``-``MAX_PPI``."""
    if not MIN_PPI <= ppi <= MAX_PPI:
        message = f"resolution {ppi:g} ppi is outside {MIN_PPI}-{MAX_PPI}"
        raise rule_error("ppi", "ppi_outside", message, ppi=f"{ppi:g}", low=MIN_PPI, high=MAX_PPI)


def capture_resolution(checked: CheckedImage, ppi: float | None = None) -> CaptureResolution:
    """The resolution to store ``checked`` at, by the engine's rule, the one a search's probe is read by
    (:func:`crms.fingerprint.choose_dpi`): the officer's ``ppi`` when given; else the file's tag when it is
    plausible (present, not a screen default, consistent with the ridge spacing); else the estimate from
    the ridge period; no tag and no ridge pattern, 500. A gallery print outside ``MIN_PPI``-``MAX_PPI`` is
    refused, the message saying where the value came from."""
    from crms.fingerprint import choose_dpi

    known = checked.resolutions.get(ppi)
    if known is not None:
        return known
    if ppi is not None:
        refuse_ppi_outside(ppi)
    used, source, reason, _estimate = choose_dpi(checked.pixels, checked.file_ppi, ppi)
    if not MIN_PPI <= used <= MAX_PPI:
        figure = f"{used:.0f} ppi"
        said = reason if figure in reason else f"{reason}: {figure}"  # the figure once
        message = (
            f"{said}, outside {MIN_PPI}-{MAX_PPI}; scan the finger at 500 ppi, or give the scanner's "
            "resolution (ppi)"
        )
        raise rule_error(
            "ppi", "ppi_estimated_outside", message, ppi=f"{used:.0f}", low=MIN_PPI, high=MAX_PPI
        )
    chosen = checked.resolutions[ppi] = CaptureResolution(int(round(used)), source, reason)
    return chosen


def capture(
    session: Session,
    principal: Principal,
    store,
    person_id: int,
    position: int,
    image: bytes | CheckedImage,
    *,
    ppi: int | None = None,
    source: str = FingerprintSource.LIVESCAN.value,
    captured_at: datetime | None = None,
) -> Fingerprint:
    """Store ``image`` as finger ``position`` (1-10, ANSI/NIST) of the person, pending its template.

    ``ppi``: the scanner's resolution; by default the file's tag where plausible, else an estimate
    (:func:`capture_resolution`). Returns the active row (the existing one, unchanged, when the same image
    was captured before). ``image``: a :class:`CheckedImage` (checked before the transaction), or bytes to
    check here.
    """
    from crms.records.services import get_writable_person

    if position not in FINGER_POSITIONS:
        raise ValidationError("finger position must be 1-10 (ANSI/NIST: 1 right thumb ... 10 left little)",
                              field="position")  # fmt: skip
    if source not in {s.value for s in FingerprintSource}:
        raise ValidationError(f"unknown source {source!r}", field="source")
    person = get_writable_person(session, principal, person_id, Permission.BIOMETRIC_ENROL)
    checked = image if isinstance(image, CheckedImage) else check_image(image, position)
    resolution = capture_resolution(checked, ppi)
    digest = checked.sha256
    current = active_print(session, person.id, position)
    waiting = waiting_print(session, person.id, position)
    for same in (current, waiting):
        if same is not None and same.image_sha256 == digest:
            return same
    ref = store.put("fingerprint", checked.data)
    _forget_files_on_rollback(session, store, ref)
    now = utcnow()
    superseded = []
    if waiting is not None:  # an earlier recapture, not yet enrolled: this one takes its place
        _retire(waiting, principal, now)
        waiting.status = EnrolmentStatus.SUPERSEDED.value
        superseded.append(waiting.id)
    # An enrolled print stays active (searchable) until this one enrols (_store_result swaps them).
    keep = current is not None and current.status == EnrolmentStatus.ENROLLED.value
    if current is not None and not keep:
        _retire(current, principal, now)
        if current.status == EnrolmentStatus.PENDING.value:
            current.status = EnrolmentStatus.SUPERSEDED.value
            superseded.append(current.id)
    session.flush()  # the partial unique index allows the new active row only after this
    row = Fingerprint(
        person_id=person.id,
        position=position,
        source=source,
        image_ref=ref,
        image_format=checked.format.lower()[:8],
        image_ppi=resolution.ppi,
        image_ppi_source=resolution.source,
        image_ppi_reason=resolution.reason[:200],
        image_height=checked.height,
        image_width=checked.width,
        image_sha256=digest,
        status=EnrolmentStatus.PENDING.value,
        active=not keep,
        captured_at=captured_at or now,
        captured_by=principal.user_id,
        created_at=now,
        created_by=principal.user_id,
        updated_at=now,
        updated_by=principal.user_id,
    )
    session.add(row)
    session.flush()
    from crms.biometrics.marks import clear_on_capture

    cleared = clear_on_capture(session, principal, person.id, position, row.id)  # a marked finger, printed
    audit.record(
        session,
        principal,
        "biometric.capture",
        target_type="person",
        target_id=person.id,
        query={"fingerprint_id": row.id, "position": position, "source": source, "ppi": resolution.ppi,
               "ppi_source": resolution.source,
               "replaced": None if current is None or keep else current.id,
               "replaces_when_enrolled": current.id if keep else None, "superseded": superseded,
               "cleared_mark": cleared},
    )  # fmt: skip
    return row


def follow_merge(
    session: Session, principal: Principal, survivor, merged, now: datetime
) -> dict[str, list[int]]:
    """A merge of two person records (crms.records.services.merge_persons): every fingerprint row of the
    merged person, active and retired, moves to the survivor with its history. Where both have an active
    print of the same finger, the survivor's stays active and the merged person's is retired (kept, so an
    examiner can still see and restore it). The missing-finger marks follow too
    (:func:`crms.biometrics.marks.follow_merge`), and the probable-duplicate cases the merge settles are
    closed as resolved (:func:`crms.biometrics.dedup.follow_merge`)."""
    from crms.biometrics.dedup import follow_merge as cases_follow
    from crms.biometrics.marks import follow_merge as marks_follow

    out: dict[str, list[int]] = {}
    rows = list(
        session.scalars(
            select(Fingerprint).where(Fingerprint.person_id == merged.id).order_by(Fingerprint.id)
        )
    )
    if rows:
        taken = set(
            session.scalars(
                select(Fingerprint.position).where(
                    Fingerprint.person_id == survivor.id, Fingerprint.active.is_(True)
                )
            )
        )
        retired = []
        for row in rows:
            if row.active and row.position in taken:
                _retire(row, principal, now)
                retired.append(row.id)
            row.person_id = survivor.id
            row.updated_at, row.updated_by = now, principal.user_id
        session.flush()
        out = {"fingerprints": [r.id for r in rows], "fingerprints_retired": retired}
    moved = marks_follow(session, principal, survivor.id, merged.id, now)
    if moved:
        out["finger_marks"] = moved
    resolved = cases_follow(session, principal, survivor.id, merged.id)
    if resolved:
        out["duplicate_cases_resolved"] = resolved
    return out


def fingerprint_dict(row: Fingerprint) -> dict:
    """What an officer or examiner sees of one print (never the image or the template)."""
    return {
        "id": row.id,
        "position": row.position,
        "finger": FINGER_POSITIONS[row.position],
        "source": row.source,
        "status": row.status,
        "active": bool(row.active),
        "quality": row.quality,
        "minutiae": row.minutiae,
        "extractor": row.extractor,
        "error": row.error,
        # the error's kind and values (crms.errors' rule kinds), for saying it in the reader's language
        "error_kind": _kind_from_text(row.error_kind),
        "image": {"format": row.image_format, "ppi": row.image_ppi, "ppi_source": row.image_ppi_source,
                  "ppi_reason": row.image_ppi_reason, "width": row.image_width, "height": row.image_height,
                  "sha256": row.image_sha256},
        "captured_at": iso_or_none(row.captured_at),
        "captured_by": row.captured_by,
        "enrolled_at": iso_or_none(row.enrolled_at),
        "retired_at": iso_or_none(row.retired_at),
    }  # fmt: skip


def _kind_from_text(text: str | None) -> dict | None:
    try:
        kind = json.loads(text) if text else None
    except ValueError:
        return None
    return kind if isinstance(kind, dict) and isinstance(kind.get("type"), str) else None


def may_list_prints(principal: Principal) -> bool:
    """Whether a person's record shows the list of their fingerprints to the principal: the roles that
    search or enrol prints (``fingerprints_of`` itself needs only ``person:read``)."""
    from crms.access.policy import has_permission

    return has_permission(principal, Permission.SEARCH_BIOMETRIC) or has_permission(
        principal, Permission.BIOMETRIC_ENROL
    )


def fingerprints_of(
    session: Session,
    principal: Principal,
    person_id: int,
    *,
    history: bool = False,
    reason: str | None = None,
) -> dict:
    """A person's fingerprints by finger: the active print of each finger (with ``history``, the retired
    ones too), their enrolment status and quality. A merged id answers with the surviving record, whose
    prints these now are (``redirected_from``). Audited as a read of the person's biometric record."""
    from crms.records.services import get_person_row

    authorize(principal, Permission.PERSON_READ)
    person, redirected_from = get_person_row(session, person_id)
    target = person.id
    query = select(Fingerprint).where(Fingerprint.person_id == target)
    if not history:
        query = query.where(Fingerprint.active.is_(True))
    rows = list(
        session.scalars(query.order_by(Fingerprint.position, Fingerprint.active.desc(), Fingerprint.id))
    )
    audit.record(
        session, principal, "biometric.read", target_type="person", target_id=target, reason=reason,
        query={"history": history},
    )  # fmt: skip
    active = [r for r in rows if r.active]
    from crms.biometrics.marks import mark_dict, marks_of

    marks = marks_of(session, target, history=history)
    by_position = {r.position: fingerprint_dict(r) for r in active}
    marked = {m.position: mark_dict(m) for m in marks if m.active}
    waiting = {
        r.position: fingerprint_dict(r)
        for r in session.scalars(select(Fingerprint).where(Fingerprint.person_id == target, *_waiting()))
    }
    failed_since = _failed_since(session, target, {r.position: r.id for r in active})
    fingers = [
        {"position": pos, "finger": name, "print": by_position.get(pos), "mark": marked.get(pos),
         "state": "captured" if pos in by_position else "marked" if pos in marked else "not_captured",
         # a recapture waiting for its template; it replaces ``print`` once enrolled
         "recapture": waiting.get(pos),
         # a capture after ``print`` that failed enrolment (``print`` stays in use): why, to capture again
         "recapture_failed": failed_since.get(pos)}
        for pos, name in FINGER_POSITIONS.items()
    ]  # fmt: skip
    return {
        "person_id": target,
        "redirected_from": redirected_from,
        "enrolled": sum(r.status == EnrolmentStatus.ENROLLED.value for r in active),
        "pending": sum(r.status == EnrolmentStatus.PENDING.value for r in active),
        "failed": sum(r.status == EnrolmentStatus.FAILED.value for r in active),
        "missing": sorted(set(FINGER_POSITIONS) - {r.position for r in active}),
        "fingerprints": [fingerprint_dict(r) for r in rows],
        # Finger by finger: captured (its print), marked (missing, amputated ...: its mark) or not captured.
        "fingers": fingers,
        "marks": [mark_dict(m) for m in marks],
    }


def _failed_since(session: Session, person_id: int, active: dict[int, int]) -> dict[int, dict]:
    """By finger: the newest print captured after the active one (``active``: position -> its id) that failed
    enrolment and was set aside, the active print staying in use (a recapture that failed, or the merged
    record's failed print of that finger)."""
    out: dict[int, dict] = {}
    if not active:
        return out
    rows = session.scalars(
        select(Fingerprint)
        .where(
            Fingerprint.person_id == person_id,
            Fingerprint.active.is_(False),
            Fingerprint.status == EnrolmentStatus.FAILED.value,
            Fingerprint.position.in_(active),
        )
        .order_by(Fingerprint.id)
    )
    for r in rows:
        if r.id > active[r.position]:
            out[r.position] = fingerprint_dict(r)
    return out


# ------------------------------------------------------------------------------------------ status


def enrolment_status(session: Session, principal: Principal) -> dict[str, int]:
    """:func:`enrolment_counts` for an officer who may enrol fingerprints (counts, no record contents)."""
    authorize(principal, Permission.BIOMETRIC_ENROL)
    return enrolment_counts(session)


def enrolment_counts(session: Session) -> dict[str, int]:
    """Active prints by status, persons with any print and persons with all ten."""
    shown = [s for s in EnrolmentStatus if s is not EnrolmentStatus.SUPERSEDED]  # never active
    out = {s.value: 0 for s in shown}
    for status, n in session.execute(
        select(Fingerprint.status, func.count())
        .where(Fingerprint.active.is_(True))
        .group_by(Fingerprint.status)
    ):
        out[status] = out.get(status, 0) + int(n)
    per_person = (
        select(Fingerprint.person_id, func.count().label("n"))
        .where(Fingerprint.active.is_(True))
        .group_by(Fingerprint.person_id)
        .subquery()
    )
    out["prints"] = sum(out[s.value] for s in shown)
    out["persons"] = int(session.scalar(select(func.count()).select_from(per_person)) or 0)
    out["persons_ten_prints"] = int(
        session.scalar(select(func.count()).select_from(per_person).where(per_person.c.n == 10)) or 0
    )
    return out


# ------------------------------------------------------------------------------------------ enrolment


@dataclass
class EnrolReport:
    enrolled: int = 0
    failed: int = 0
    skipped: int = 0  # rows that changed while their template was being extracted
    remaining: int = 0  # still pending after the run
    seconds: float = 0.0  # wall time
    cpu_seconds: float = 0.0  # this process and its extraction workers
    notes: list[str] = field(default_factory=list)
    duplicates: int = 0  # probable-duplicate cases opened by searching the new prints (crms.biometrics.dedup)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@contextmanager
def exclusive(data_dir: Path, name: str) -> Iterator[None]:
    """One holder at a time of ``<data dir>/locks/<name>.lock`` (released when the process ends, too)."""
    folder = Path(data_dir) / "locks"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(folder / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict(f"another process is running {name} on this data dir; try again later") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


def _queued():
    """The enrolment queue: pending prints, active or waiting to replace an enrolled one (not retired)."""
    return (Fingerprint.status == EnrolmentStatus.PENDING.value, Fingerprint.retired_at.is_(None))


def _pending_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Fingerprint).where(*_queued())) or 0)


def _next_pending(db, after_id: int, n: int) -> list[tuple[int, str, int]]:
    with db.transaction() as s:
        return [
            (int(i), str(ref), int(ppi))
            for i, ref, ppi in s.execute(
                select(Fingerprint.id, Fingerprint.image_ref, Fingerprint.image_ppi)
                .where(*_queued(), Fingerprint.id > after_id)
                .order_by(Fingerprint.id)
                .limit(n)
            )
        ]


def _store_result(
    db, principal: Principal, fid: int, ref: str, result, version: str, report: EnrolReport
) -> None:
    from crms.fingerprint import MIN_MINUTIAE

    with db.transaction() as s:
        row = s.get(Fingerprint, fid)
        if (
            row is None
            or row.retired_at is not None  # retired, superseded or merged away meanwhile
            or row.image_ref != ref
            or row.status != EnrolmentStatus.PENDING.value
        ):
            report.skipped += 1
            return
        now = utcnow()
        row.updated_at, row.updated_by = now, principal.user_id
        error, kind = result.error, _kind_of(result.error_details)
        if not error and result.minutiae < MIN_MINUTIAE:
            row.quality, row.minutiae = int(result.quality), int(result.minutiae)
            error = (
                f"only {result.minutiae} usable minutiae found, at least {MIN_MINUTIAE} needed to search "
                "this print: capture the finger again"
            )
            kind = {"type": "minutiae_too_few", "values": {"count": result.minutiae, "needed": MIN_MINUTIAE}}
        if error:
            row.status = EnrolmentStatus.FAILED.value
            row.error = error[:300]
            row.error_kind = _kind_text(kind)
            report.failed += 1
            query = {"fingerprint_id": fid, "error": row.error}
            if not row.active:  # a failed recapture: the enrolled print it was to replace stays
                _retire(row, principal, now)
                query["kept"] = getattr(active_print(s, row.person_id, row.position), "id", None)
            action = "biometric.enrol_failed"
        else:
            replaced = None
            if not row.active:  # a recapture that enrolled: it replaces the active print now
                current = active_print(s, row.person_id, row.position)
                if current is not None:
                    _retire(current, principal, now)
                    replaced = current.id
                    s.flush()  # the partial unique index allows the new active row only after this
                row.active = True
                from crms.biometrics.marks import clear_on_capture

                clear_on_capture(s, principal, row.person_id, row.position, row.id)
            row.status = EnrolmentStatus.ENROLLED.value
            row.template = result.template
            row.quality = int(result.quality)
            row.minutiae = int(result.minutiae)
            row.extractor = version
            row.enrolled_at = now
            row.error = row.error_kind = None
            report.enrolled += 1
            action = "biometric.enrol"
            query = {"fingerprint_id": fid, "position": row.position, "minutiae": row.minutiae,
                     "quality": row.quality, "extractor": version}  # fmt: skip
            if replaced is not None:
                query["replaced"] = replaced
        audit.record(s, principal, action, target_type="person", target_id=row.person_id, query=query)


def _kind_of(details: list[dict] | None) -> dict | None:
    """The kind of an extraction's error and the values it names (its first detail that has a kind)."""
    for d in details or ():
        if d.get("type"):
            return {"type": str(d["type"]), "values": dict(d.get("values") or {})}
    return None


def _kind_text(kind: dict | None) -> str | None:
    """``Fingerprint.error_kind``: the kind as JSON, or None where there is none or it does not fit."""
    if kind is None:
        return None
    text = json.dumps(kind, ensure_ascii=False, separators=(",", ":"), default=str)
    return text if len(text) <= 300 else None


def _cpu_now() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def retry_failed(db, principal: Principal) -> int:
    """Put failed rows back in the queue (after an extractor upgrade, say); returns how many."""
    authorize(principal, Permission.BIOMETRIC_ENROL)
    with db.transaction() as s:
        n = s.execute(
            update(Fingerprint)
            .where(Fingerprint.status == EnrolmentStatus.FAILED.value, Fingerprint.active.is_(True))
            .values(status=EnrolmentStatus.PENDING.value, error=None, error_kind=None, updated_at=utcnow(),
                    updated_by=principal.user_id)
        ).rowcount  # fmt: skip
        if n:
            audit.record(s, principal, "biometric.enrol_retry", target_type="fingerprint", query={"rows": n})
    return int(n or 0)


def enrol_pending(
    db,
    store,
    *,
    principal: Principal,
    jobs: int | None = None,
    limit: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> EnrolReport:
    """Extract and store the template of every pending print (at most ``limit``), oldest first.

    ``jobs``: extraction processes (default: the CPU count, at most 2); 1 extracts in this process.
    ``progress(stage, done, total)`` is called after each print. Raises Conflict when another enrolment
    runs on the same data dir; returns with a note, doing nothing, when the engine is not installed.
    """
    authorize(principal, Permission.BIOMETRIC_ENROL)
    with Enroller(db, store, principal, jobs=jobs) as enroller:
        return enroller.run(limit=limit, progress=progress)


class Enroller:
    """The enrolment queue's one consumer at a time: holds ``<data dir>/locks/fp-enrol.lock`` and (from the
    first print on) a pool of extraction processes, so that :meth:`run` can be called again and again (the
    demo enrols person by person, the server's enrol worker on every wake-up) without loading the models
    each time. Entering raises Conflict when another process holds the lock."""

    def __init__(
        self, db, store, principal: Principal, *, jobs: int | None = None, in_process: bool | None = None
    ):
        authorize(principal, Permission.BIOMETRIC_ENROL)
        self.db, self.store, self.principal = db, store, principal
        self.jobs = jobs
        self.in_process = (jobs == 1) if in_process is None else in_process
        self.missing = engine_missing()
        self._stack = None
        self._submit = None

    def __enter__(self) -> Enroller:
        from contextlib import ExitStack

        self._stack = ExitStack()
        self._stack.enter_context(exclusive(self.store.data_dir, "fp-enrol"))
        return self

    def __exit__(self, *exc) -> None:
        stack, self._stack, self._submit = self._stack, None, None
        if stack is not None:
            stack.close()

    def _extractor(self):
        if self._submit is None:
            self._submit = self._stack.enter_context(_extractor(self.jobs, self.in_process))
        return self._submit

    def run(
        self,
        *,
        limit: int | None = None,
        progress: Callable[[str, int, int], None] | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> EnrolReport:
        """Enrol what is pending now (at most ``limit``), oldest first; ``stop()`` is asked after each print
        and ends the run early (what is in flight is not stored; it stays pending)."""
        db, store, principal = self.db, self.store, self.principal
        report = EnrolReport()
        started = utcnow()
        t0, c0 = time.perf_counter(), _cpu_now()
        with db.transaction() as s:
            pending = _pending_count(s)
        total = pending if limit is None else min(pending, limit)
        if self.missing or total == 0:
            if self.missing:
                report.notes.append(
                    f"{pending} prints left pending: fingerprint engine unavailable ({self.missing})"
                )
            report.remaining = pending
            return report
        version = extractor_version()
        submit = self._extractor()
        done = 0
        window = deque()  # (id, ref, future) in id order
        after, exhausted, queued = 0, False, 0
        depth = 8
        while True:
            if stop is not None and stop():
                break
            while not exhausted and len(window) < depth and queued < total:
                batch = _next_pending(db, after, min(depth - len(window), total - queued))
                if not batch:
                    exhausted = True
                    break
                for fid, ref, ppi in batch:
                    window.append((fid, ref, _submit_stored(submit, store, ref, ppi)))
                    after = fid
                    queued += 1
            if not window:
                break
            fid, ref, fut = window.popleft()
            result = await_result(fut, stop)
            if result is None:  # asked to stop while this print was being extracted
                break
            _store_result(db, principal, fid, ref, result, version, report)
            done += 1
            if progress is not None:
                progress("templates", done, total)
        # Stopped early: what is still in the window stays pending (closing the Enroller cancels it).
        with db.transaction() as s:
            report.remaining = _pending_count(s)
        if report.enrolled:  # enrolling searches the new prints first: duplicates go to an examiner
            from crms.biometrics.dedup import check_enrolled_since

            report.duplicates = check_enrolled_since(db, principal, started)
        report.seconds = time.perf_counter() - t0
        report.cpu_seconds = _cpu_now() - c0
        return report


STOP_GRACE_SECONDS = 2.0  # how long a worker's death may precede its parent's own stop request


def await_result(fut, stop: Callable[[], bool] | None):
    """The result of ``fut`` (``Future.result``-like: a callable taking ``timeout``), or None as soon as
    ``stop()`` is True.

    A worker process that dies raises ``BrokenProcessPool``; a decoder worker stopped by a signal raises
    ``SandboxStopped``. When everything is stopped at once (``pkill -f crms``: the parent and its workers
    get SIGTERM at the same moment), the workers' end can be seen a moment before the parent's own signal
    handler has run: either, followed within STOP_GRACE_SECONDS by a stop request, is a stop (None), not
    an error."""
    from concurrent.futures import TimeoutError as Pending

    try:
        if stop is None:
            return fut()
        while True:
            try:
                return fut(timeout=0.5)
            except Pending:
                if stop():
                    return None
    except stopped_from_outside():
        if stop is not None and stop_follows(stop):
            return None
        raise


def stopped_from_outside() -> tuple[type[BaseException], ...]:
    """The exceptions that say a worker was stopped, not that the work failed."""
    from concurrent.futures.process import BrokenProcessPool

    from crms.fingerprint import DecoderStopped

    return (BrokenProcessPool, DecoderStopped)


def stop_follows(stop: Callable[[], bool]) -> bool:
    """Whether ``stop()`` turns True within STOP_GRACE_SECONDS (after a worker was seen to stop)."""
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while not stop():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)  # the main thread runs its signal handlers here
    return True


def _submit_stored(submit, store, ref: str, ppi: int):
    """Submit the stored image ``ref``; an image missing from the store or undecryptable fails the row."""
    from crms.errors import CrmsError
    from crms.fingerprint import ExtractResult

    try:
        data = store.get(ref)
    except CrmsError as exc:
        failed = ExtractResult(ref, None, 0.0, 0, 0, 0.0, "", error=exc.message, error_details=exc.details)
        return lambda timeout=None: failed
    return submit(data, ppi, ref)


@contextmanager
def _extractor(jobs: int | None, in_process: bool | None = None):
    """Yield submit(image bytes, ppi, name) -> a callable that returns the ExtractResult. ``in_process``
    (default: ``jobs == 1``) extracts in this process, otherwise in a pool of ``jobs`` processes."""
    from crms.fingerprint import ExtractorPool, extract_one, set_threads

    if in_process if in_process is not None else jobs == 1:
        set_threads(1)

        def run_here(data: bytes, ppi: int, name: str):
            result = extract_one(data, ppi, name)
            return lambda timeout=None: result

        yield run_here
        return
    with ExtractorPool(jobs) as pool:

        def submit(data: bytes, ppi: int, name: str):
            return pool.submit(data, ppi).result

        yield submit
