"""Fingerprints of a person (``/api/v1/persons/{id}/fingerprints``): what is enrolled, finger by finger, and
the capture of one print (the image as the request body). Thin: the rules live in
crms.biometrics.enrolment; templates are extracted in the background (``crms fp enrol-pending``), so a
captured print answers ``status: pending``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from crms.access.policy import Permission, authorize
from crms.api.deps import in_transaction
from crms.biometrics import enrolment
from crms.errors import PayloadTooLarge, ValidationError
from crms.fingerprint import MAX_IMAGE_BYTES as MAX_BYTES

router = APIRouter(tags=["biometrics"])

Position = Annotated[
    int, Path(ge=1, le=10, description="ANSI/NIST finger position: 1 right thumb ... 10 left little")
]


def _store(request: Request):
    store = getattr(request.app.state, "biometric_store", None)
    if store is None:
        from crms.access.crypto import EncryptedStore

        store = request.app.state.biometric_store = EncryptedStore.from_settings(request.app.state.settings)
    return store


async def _image_body(request: Request) -> bytes:
    """The request body, refused as soon as it passes the image size limit (never read whole first)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BYTES:
        raise PayloadTooLarge(f"image larger than {MAX_BYTES} bytes", field="image")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BYTES:
            raise PayloadTooLarge(f"image larger than {MAX_BYTES} bytes", field="image")
        chunks.append(chunk)
    if not size:
        raise ValidationError("send the fingerprint image as the request body", field="image")
    return b"".join(chunks)


@router.get("/persons/{person_id}/fingerprints", summary="A person's fingerprints, finger by finger")
async def list_fingerprints(
    request: Request,
    person_id: int,
    history: Annotated[bool, Query(description="include retired prints")] = False,
    reason: Annotated[str | None, Query(max_length=500)] = None,
):
    out = await in_transaction(
        request,
        lambda session, who: enrolment.fingerprints_of(
            session, who, person_id, history=history, reason=reason
        ),
    )
    return JSONResponse(out)


@router.post(
    "/persons/{person_id}/fingerprints/{position}",
    status_code=201,
    summary="Capture one finger (image as the body: PNG, JPEG, TIFF, BMP, WSQ, JPEG 2000)",
)
async def capture_fingerprint(
    request: Request,
    person_id: int,
    position: Position,
    ppi: Annotated[
        int | None, Query(ge=100, le=2000, description="scanner resolution if the file lacks it")
    ] = None,
    source: Annotated[str, Query(max_length=16)] = "livescan",
):
    # Authenticated and allowed before up to MAX_BYTES of upload are read (capture checks again).
    await in_transaction(request, lambda session, who: authorize(who, Permission.BIOMETRIC_ENROL))
    image = await _image_body(request)
    store = _store(request)
    row = await in_transaction(
        request,
        lambda session, who: enrolment.fingerprint_dict(
            enrolment.capture(session, who, store, person_id, position, image, ppi=ppi, source=source)
        ),
    )
    return JSONResponse(row, status_code=201)
