"""Photos of a person (``/api/v1/persons/{id}/photos``): list, upload (the image as the raw body or a
multipart file, kind and note in the query), the image of one photo (``/api/v1/photos/{id}/image``,
decrypted for identification roles only, audited), and one taken in error taken off
(``/api/v1/photos/{id}/remove``, with the reason). Thin: the rules are in crms.faces.photos; the upload is
decoded (bounded, Pillow) before the transaction opens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from crms.access.policy import Permission, authorize
from crms.api.deps import biometric_store, in_transaction
from crms.api.params import IdPath
from crms.api.serving import MULTIPART_OVERHEAD, body_limit, upload_body
from crms.faces import photos

router = APIRouter(tags=["photos"])
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_IMAGES = {"image/jpeg": _BINARY, "image/png": _BINARY, "image/webp": _BINARY}
PHOTO_BODY = {
    "requestBody": {
        "required": True,
        "description": "The photo (JPEG, PNG or WebP): the raw bytes as the request body, or a "
        "multipart/form-data form with the file in the field `image`.",
        "content": _IMAGES
        | {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"image": {"type": "string", "format": "binary"}},
                    "required": ["image"],
                }
            }
        },
    }
}


@router.get("/persons/{person_id}/photos", summary="A person's photos (without the images)")
async def list_photos(
    request: Request,
    person_id: IdPath,
    history: Annotated[bool, Query(description="include replaced photos")] = False,
):
    out = await in_transaction(
        request, lambda session, who: photos.photos_of(session, who, person_id, history=history)
    )
    return JSONResponse(out)


@router.post(
    "/persons/{person_id}/photos",
    status_code=201,
    summary="Add a photo of the person (front, left, right or mark)",
    openapi_extra=PHOTO_BODY,
)
@body_limit(photos.MAX_BYTES + MULTIPART_OVERHEAD)
async def upload_photo(
    request: Request,
    person_id: IdPath,
    kind: Annotated[str, Query(max_length=8, description="front, left, right or mark")] = "front",
    note: Annotated[str | None, Query(max_length=300)] = None,
):
    await in_transaction(request, lambda session, who: authorize(who, Permission.PERSON_WRITE))
    body, _ = await upload_body(request, photos.MAX_BYTES, what="photo", fields=("image", "photo"))
    checked = await run_in_threadpool(photos.check_photo, body)
    store = biometric_store(request)
    row = await in_transaction(
        request,
        lambda session, who: photos.photo_dict(
            photos.upload_photo(session, who, store, person_id, kind, checked, note=note)
        ),
    )
    return JSONResponse(row, status_code=201)


@router.get(
    "/photos/{photo_id}/image",
    summary="The image of a photo (identification roles; audited)",
    response_class=Response,
    responses={
        200: {
            "description": "The image, in its stored format",
            "content": _IMAGES,
        }
    },
)
async def photo_image(
    request: Request, photo_id: IdPath, reason: Annotated[str | None, Query(max_length=500)] = None
):
    store = biometric_store(request)
    data, media, _ = await in_transaction(
        request, lambda session, who: photos.read_photo(session, who, store, photo_id, reason=reason)
    )
    return Response(data, media_type=media, headers={"Cache-Control": "no-store"})


class PhotoRemoval(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=500, description="why it is taken off (required)")


@router.post(
    "/photos/{photo_id}/remove",
    summary="Take a photo taken in error off the person's current photos, with the reason (kept as a "
    "replaced one; the view it replaced is current again)",
)
async def remove_photo(request: Request, photo_id: IdPath, body: PhotoRemoval):
    def work(session, who) -> dict:
        row, back = photos.remove_photo(session, who, photo_id, body.reason)
        return {"photo": photos.photo_dict(row), "current_again": photos.photo_dict(back) if back else None}

    return JSONResponse(await in_transaction(request, work))
