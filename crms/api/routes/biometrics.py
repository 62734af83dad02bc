"""Fingerprints of a person (``/api/v1/persons/{id}/fingerprints``): what is enrolled, finger by finger, and
the capture of one print (the image as the raw request body, or as the file field ``image`` of a
``multipart/form-data`` form; both are declared in the OpenAPI document). Thin: the rules live in
crms.biometrics.enrolment. The image is decoded (in the decoder sandbox) before the transaction opens, so no
database lock waits on a decoder. Templates are extracted in the background (the enrol worker that
``crms serve`` starts, woken by each capture; or ``crms fp enrol-pending``), so a captured print answers
``status: pending``, with ``capture_quality`` (the print's quality at capture, why it falls short of the
enrolment threshold as ``problems``, and the resolution it was read at and why) so that a poor finger can
be taken again at once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from crms.access.policy import Permission, authorize
from crms.api.deps import biometric_store, in_transaction
from crms.api.params import IdPath
from crms.api.serving import MULTIPART_OVERHEAD, body_limit, upload_body
from crms.biometrics import enrolment
from crms.biometrics.capture_check import check_capture
from crms.fingerprint import MAX_DPI, MIN_DPI
from crms.fingerprint import MAX_IMAGE_BYTES as MAX_BYTES

router = APIRouter(tags=["biometrics"])

Position = Annotated[
    int, Path(ge=1, le=10, description="ANSI/NIST finger position: 1 right thumb ... 10 left little")
]


_BINARY = {"schema": {"type": "string", "format": "binary"}}
IMAGE_BODY = {
    "requestBody": {
        "required": True,
        "description": "The fingerprint image: the raw bytes as the body (any image Content-Type, or "
        "application/octet-stream), or a multipart/form-data form with the file in the field `image`.",
        "content": {
            "application/octet-stream": _BINARY,
            "image/png": _BINARY,
            "image/jpeg": _BINARY,
            "image/tiff": _BINARY,
            "image/bmp": _BINARY,
            "image/wsq": _BINARY,
            "image/jp2": _BINARY,
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"image": {"type": "string", "format": "binary"}},
                    "required": ["image"],
                }
            },
        },
    }
}


@router.get("/persons/{person_id}/fingerprints", summary="A person's fingerprints, finger by finger")
async def list_fingerprints(
    request: Request,
    person_id: IdPath,
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
    summary="Capture one finger (PNG, JPEG, TIFF, BMP, WSQ, JPEG 2000: the raw body or a multipart file)",
    openapi_extra=IMAGE_BODY,
)
@body_limit(MAX_BYTES + MULTIPART_OVERHEAD)  # the image plus any multipart framing; credentials checked first
async def capture_fingerprint(
    request: Request,
    person_id: IdPath,
    position: Position,
    ppi: Annotated[
        int | None,
        Query(
            ge=MIN_DPI,
            le=MAX_DPI,
            description="the scanner's resolution, used instead of the file's; by default the file's "
            "tag where plausible, else estimated from the ridge spacing (the answer's image.ppi_source "
            "says which)",
        ),
    ] = None,
    source: Annotated[str, Query(max_length=16)] = "livescan",
):
    # Authenticated and allowed before up to MAX_BYTES of upload are read (capture checks again).
    await in_transaction(request, lambda session, who: authorize(who, Permission.BIOMETRIC_ENROL))
    image, filename = await upload_body(request, MAX_BYTES, what="fingerprint image")
    # Decoded, its resolution chosen and its quality measured before the transaction opens: no database
    # lock is held while a decoder works.
    checked, quality = await run_in_threadpool(lambda: check_capture(image, position, name=filename, ppi=ppi))
    store = biometric_store(request)
    row = await in_transaction(
        request,
        lambda session, who: enrolment.fingerprint_dict(
            enrolment.capture(session, who, store, person_id, position, checked, ppi=ppi, source=source)
        ),
    )
    row["capture_quality"] = quality
    if row["status"] == "pending":  # the server's enrol worker (crms serve) extracts its template
        from crms.biometrics.worker import wake

        wake(request.app.state.settings.data_dir)
    return JSONResponse(row, status_code=201)
