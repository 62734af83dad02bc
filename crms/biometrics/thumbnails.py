"""A small picture of one stored fingerprint for the person and enrolment pages: decrypted only for the
roles that handle prints (``biometric:enrol`` or ``biometric:confirm``), watermarked with who asked and
when, and audited as ``biometric.image``."""

from __future__ import annotations

import io

from sqlalchemy.orm import Session

from crms.access import audit
from crms.access.crypto import watermark_image, watermark_text
from crms.access.policy import Permission, has_permission
from crms.access.principal import Principal
from crms.biometrics.models import Fingerprint
from crms.errors import NotFound, PermissionDenied

THUMB_WIDTH = 160


def may_view_thumbnails(principal: Principal) -> bool:
    """Whether the principal may see fingerprint pictures: the roles that handle prints."""
    return has_permission(principal, Permission.BIOMETRIC_ENROL) or has_permission(
        principal, Permission.BIOMETRIC_CONFIRM
    )


def fingerprint_thumbnail(
    session: Session, principal: Principal, store, fingerprint_id: int, *, width: int = THUMB_WIDTH
) -> bytes:
    """PNG of the print ``fingerprint_id``, ``width`` pixels wide, with the requester's watermark."""
    if not may_view_thumbnails(principal):
        raise PermissionDenied(f"role '{principal.role}' may not see fingerprint images", kind="role")
    row = session.get(Fingerprint, fingerprint_id)
    if row is None:
        raise NotFound(f"fingerprint {fingerprint_id} not found", field="fingerprint_id")
    from PIL import Image

    from crms import fingerprint as fp

    pixels, _, _ = fp.decode_image(store.get(row.image_ref), name=f"fingerprint {fingerprint_id}")
    image = Image.fromarray(pixels)
    height = max(1, round(image.height * width / image.width))
    buf = io.BytesIO()
    image.resize((width, height), Image.Resampling.LANCZOS).save(buf, format="PNG")
    audit.record(
        session,
        principal,
        "biometric.image",
        target_type="person",
        target_id=row.person_id,
        query={"fingerprint": row.id, "position": row.position, "width": width},
    )
    return watermark_image(buf.getvalue(), watermark_text(principal.username))
