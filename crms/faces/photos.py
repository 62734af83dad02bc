"""Photographs of a person: upload, list, read.

* :func:`check_photo` decodes the upload with Pillow under a pixel bound (``MAX_PIXELS``; a larger image,
  a decompression bomb, or a file that is not a JPEG, PNG or WebP image is refused naming the ``image``
  field); call it before the transaction.
* :func:`upload_photo` (``person:write`` in the person's unit) stores the image encrypted
  (:class:`crms.access.crypto.EncryptedStore`, kind ``photo``) and adds a :class:`PersonPhoto` row; a new
  front, left or right view retires the earlier one of that kind (kept for history). Audited
  ``photo.upload``.
* :func:`photos_of` lists a person's photos (``person:read``; audited ``photo.list``), without the images.
* :func:`remove_photo` takes a photo taken in error off the current ones, with the reason (kept as a
  replaced one; the view it replaced is current again). Audited ``photo.remove``.
* :func:`read_photo` returns the decrypted image only to roles that work with identification
  (``search:biometric``: operators, examiners, investigators, SHOs, supervisors; not administrators,
  auditors or SMS officers); every read is audited ``photo.image``.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from crms.access import audit
from crms.access.policy import Permission, authorize
from crms.access.principal import Principal
from crms.errors import Conflict, NotFound, ValidationError, rule_error
from crms.faces.models import PersonPhoto, PhotoKind
from crms.timeutil import iso_or_none, utcnow

KINDS = tuple(k.value for k in PhotoKind)
FORMATS = {"JPEG": ("jpeg", "image/jpeg"), "PNG": ("png", "image/png"), "WEBP": ("webp", "image/webp")}
MEDIA_TYPES = {short: media for short, media in FORMATS.values()}
MAX_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 30_000_000  # a 6000 x 5000 camera image; more is refused before decoding
MIN_SIDE = 64
MAX_NOTE = 300


@dataclass(frozen=True)
class CheckedPhoto:
    data: bytes
    sha256: str
    format: str  # jpeg | png | webp
    width: int
    height: int


def check_photo(image: bytes) -> CheckedPhoto:
    """Decode ``image`` with Pillow (bounded) and keep what the row needs; raises ValidationError(image)."""
    from PIL import Image, UnidentifiedImageError

    data = bytes(image)
    if not data:
        raise ValidationError("choose a photo", field="image")
    if len(data) > MAX_BYTES:
        mb = MAX_BYTES // (1024 * 1024)
        raise rule_error("image", "photo_too_large", f"photo larger than {mb} MB", mb=mb)
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format or ""
            width, height = img.size
            if fmt not in FORMATS:
                raise ValidationError("a photo must be a JPEG, PNG or WebP image", field="image")
            if width * height > MAX_PIXELS:
                message = f"photo of {width} x {height} pixels is larger than {MAX_PIXELS:,} pixels"
                raise rule_error("image", "photo_too_many_pixels", message, limit=f"{MAX_PIXELS:,}")
            if min(width, height) < MIN_SIDE:
                message = f"photo smaller than {MIN_SIDE} pixels on a side"
                raise rule_error("image", "photo_too_small", message, side=MIN_SIDE)
            img.load()  # decode it all: a truncated or corrupt file is refused here
    except ValidationError:
        raise
    except Image.DecompressionBombError:  # (Pillow's own bound, met before ours for a huge header)
        message = f"photo larger than {MAX_PIXELS:,} pixels"
        raise rule_error("image", "photo_too_many_pixels", message, limit=f"{MAX_PIXELS:,}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise ValidationError("the file is not a readable image", field="image") from None
    return CheckedPhoto(data, hashlib.sha256(data).hexdigest(), FORMATS[fmt][0], width, height)


def photo_dict(row: PersonPhoto) -> dict:
    return {
        "id": row.id,
        "person_id": row.person_id,
        "kind": row.kind,
        "format": row.image_format,
        "width": row.image_width,
        "height": row.image_height,
        "bytes": row.image_bytes,
        "sha256": row.image_sha256,
        "note": row.note,
        "active": bool(row.active),
        "captured_at": iso_or_none(row.captured_at),
        "captured_by": row.captured_by,
        "retired_at": iso_or_none(row.retired_at),
    }


def upload_photo(
    session: Session,
    principal: Principal,
    store,
    person_id: int,
    kind: str,
    image: bytes | CheckedPhoto,
    *,
    note: str | None = None,
) -> PersonPhoto:
    """Store a photo of the person; the same image of the same kind again changes nothing."""
    from crms.biometrics.enrolment import _forget_files_on_rollback
    from crms.records.services import get_writable_person

    if kind not in KINDS:
        raise ValidationError(f"kind must be one of {', '.join(KINDS)}", field="kind")
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise ValidationError(f"note longer than {MAX_NOTE} characters", field="note")
    person = get_writable_person(session, principal, person_id, Permission.PERSON_WRITE)
    checked = image if isinstance(image, CheckedPhoto) else check_photo(image)
    same_kind = list(
        session.scalars(
            select(PersonPhoto).where(
                PersonPhoto.person_id == person.id, PersonPhoto.kind == kind, PersonPhoto.active.is_(True)
            )
        )
    )
    for row in same_kind:
        if row.image_sha256 == checked.sha256:
            return row
    ref = store.put("photo", checked.data)
    _forget_files_on_rollback(session, store, ref)
    now = utcnow()
    retired = []
    if kind != PhotoKind.MARK.value:  # one current view of each side; marks accumulate
        for row in same_kind:
            row.active, row.retired_at, row.retired_by = False, now, principal.user_id
            retired.append(row.id)
    row = PersonPhoto(
        person_id=person.id, kind=kind, image_ref=ref, image_format=checked.format, image_width=checked.width,
        image_height=checked.height, image_bytes=len(checked.data), image_sha256=checked.sha256, note=note,
        captured_at=now, captured_by=principal.user_id, active=True,
    )  # fmt: skip
    session.add(row)
    session.flush()
    audit.record(
        session, principal, "photo.upload", target_type="person", target_id=person.id,
        query={"photo_id": row.id, "kind": kind, "bytes": len(checked.data), "retired": retired},
    )  # fmt: skip
    return row


def photos_of(session: Session, principal: Principal, person_id: int, *, history: bool = False) -> list[dict]:
    """The person's photos (front first), without the images; audited."""
    from crms.records.services import get_person_row

    authorize(principal, Permission.PERSON_READ)
    person, _ = get_person_row(session, person_id)
    query = select(PersonPhoto).where(PersonPhoto.person_id == person.id)
    if not history:
        query = query.where(PersonPhoto.active.is_(True))
    rows = list(session.scalars(query.order_by(PersonPhoto.id)))
    rows.sort(key=lambda r: (KINDS.index(r.kind) if r.kind in KINDS else 9, not r.active, -r.id))
    audit.record(session, principal, "photo.list", target_type="person", target_id=person.id,
                 query={"history": history, "photos": len(rows)})  # fmt: skip
    return [photo_dict(r) for r in rows]


def may_view_images(principal: Principal) -> bool:
    from crms.access.policy import has_permission

    return has_permission(principal, Permission.PERSON_READ) and has_permission(
        principal, Permission.SEARCH_BIOMETRIC
    )


def read_photo(
    session: Session, principal: Principal, store, photo_id: int, *, reason: str | None = None
) -> tuple[bytes, str, dict]:
    """The decrypted image of a photo, its media type and its row; audited ``photo.image``."""
    authorize(principal, Permission.PERSON_READ)
    authorize(principal, Permission.SEARCH_BIOMETRIC)
    row = session.get(PersonPhoto, photo_id)
    if row is None:
        raise NotFound(f"photo {photo_id} not found", field="photo_id")
    data = store.get(row.image_ref)
    audit.record(session, principal, "photo.image", target_type="person", target_id=row.person_id,
                 reason=reason, query={"photo_id": row.id})  # fmt: skip
    return data, MEDIA_TYPES.get(row.image_format, "application/octet-stream"), photo_dict(row)


def remove_photo(
    session: Session, principal: Principal, photo_id: int, reason: str | None
) -> tuple[PersonPhoto, PersonPhoto | None]:
    """Take a photo taken in error (another man's, a wrong side) off the person's current photos, with the
    reason (``person:write`` in the person's unit). It is kept as a replaced one (history, audit); a front,
    left or right view that replaced an earlier one on its upload brings that one back. Returns the photo
    and the one brought back, if any. Audited ``photo.remove``."""
    from crms.records.services import get_writable_person
    from crms.records.services.common import removal_reason

    authorize(principal, Permission.PERSON_WRITE)
    reason = removal_reason({"reason": reason}, "the photo is taken off the record")
    row = session.get(PersonPhoto, photo_id)
    if row is None:
        raise NotFound(f"photo {photo_id} not found", field="photo_id")
    get_writable_person(session, principal, row.person_id)
    if not row.active:
        raise Conflict(
            f"photo {photo_id} is no longer a current photo (replaced or removed)", field="photo_id"
        )
    now = utcnow()
    row.active, row.retired_at, row.retired_by = False, now, principal.user_id
    back = None
    if row.kind != PhotoKind.MARK.value:  # the view this one replaced when it was uploaded, if any
        back = session.scalar(
            select(PersonPhoto)
            .where(
                PersonPhoto.person_id == row.person_id,
                PersonPhoto.kind == row.kind,
                PersonPhoto.active.is_(False),
                PersonPhoto.retired_at == row.captured_at,
            )
            .order_by(PersonPhoto.id.desc())
            .limit(1)
        )
        if back is not None:
            back.active, back.retired_at, back.retired_by = True, None, None
    session.flush()
    audit.record(
        session, principal, "photo.remove", target_type="person", target_id=row.person_id, reason=reason,
        query={"photo_id": row.id, "kind": row.kind, "current_again": back.id if back is not None else None},
    )  # fmt: skip
    return row, back


def follow_merge(session: Session, principal: Principal, survivor, merged, now) -> dict[str, list[int]]:
    """A merge of two person records (registered as a merge participant): the merged person's photos move
    to the survivor; where both have a current front, left or right view, the survivor's stays current and
    the merged person's is retired (kept)."""
    rows = list(session.scalars(select(PersonPhoto).where(PersonPhoto.person_id == merged.id)))
    if not rows:
        return {}
    taken = set(session.scalars(select(PersonPhoto.kind).where(
        PersonPhoto.person_id == survivor.id, PersonPhoto.active.is_(True))))  # fmt: skip
    retired = []
    for row in rows:
        if row.active and row.kind in taken and row.kind != PhotoKind.MARK.value:
            row.active, row.retired_at, row.retired_by = False, now, principal.user_id
            retired.append(row.id)
        row.person_id = survivor.id
    session.flush()
    return {"photos": [r.id for r in rows], "photos_retired": retired}
