"""1:N fingerprint identification (``POST /api/v1/identify``), the examiner's decisions on its candidates
(``/api/v1/identify/{search_id}``, ``.../decisions``) and the examiners' queue of probable duplicate
enrolments (``/api/v1/duplicates``). Thin: the rules live in crms.biometrics.identification,
crms.biometrics.examination (the service the web's identification pages call) and crms.biometrics.dedup.

``POST /identify`` is multipart: 1-10 parts named ``print`` (a fingerprint image - PNG, JPEG, TIFF, BMP, WSQ,
JPEG 2000 - or a template, CRMS or ISO/IEC 19794-2), with, in the same order, ``position`` fields (ANSI/NIST
1-10, 0 unknown; all unknown when absent) and optional ``ppi`` fields (one per print, or one for all;
``auto`` estimates it); ``reason`` (required) and ``top`` (default 20). The answer is the candidate list with
per-finger scores, the decision threshold for the gallery's size and the ``search_id`` under which the search
is kept (the probes encrypted) for an examiner's review: ``GET /identify/{search_id}`` (the candidates with
the decisions so far; the searcher or an examiner), ``POST /identify/{search_id}/decisions``
(``biometric:confirm``: ``{"person_id", "decision": confirmed|rejected|inconclusive, "reason"}``, once per
candidate), ``GET /identify/{search_id}/decisions``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from crms.access.policy import Permission, authorize
from crms.api.deps import in_transaction
from crms.api.params import IdPath, whole_number
from crms.api.serving import MULTIPART_OVERHEAD, declared_length
from crms.biometrics import dedup, examination, identification
from crms.errors import PayloadTooLarge, ValidationError
from crms.fingerprint import MAX_IMAGE_BYTES as MAX_BYTES

router = APIRouter(tags=["identification"])


def _ppi(value: str | None, name: str):
    """A print's ``ppi`` field: None, 'auto' or a resolution in the engine's range (``fp.parse_dpi``)."""
    if value is None or value == "":
        return None
    from crms import fingerprint as fp

    shown = value if len(value) <= 12 else value[:12] + "..."
    try:
        return fp.parse_dpi(value)
    except fp.ImageError as exc:
        message = exc.message if len(exc.message) <= 120 else exc.message[:120] + "..."
        raise exc.at("ppi", f"{name}: ppi {shown!r}: {message}") from None  # its kind kept


# The multipart form as the OpenAPI document declares it (the route reads the form itself, to bound it).
IDENTIFY_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["print", "reason"],
                    "properties": {
                        "print": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": 10,
                            "items": {"type": "string", "format": "binary"},
                            "description": "1-10 fingerprints: images (PNG, JPEG, TIFF, BMP, WSQ, JPEG 2000) "
                            "or templates (CRMS, ISO/IEC 19794-2)",
                        },
                        "position": {
                            "type": "array",
                            "items": {"type": "integer", "minimum": 0, "maximum": 10},
                            "description": "each print's finger, in the same order (ANSI/NIST 1-10, 0 "
                            "unknown; all unknown when absent), each finger at most once",
                        },
                        "ppi": {
                            "type": "array",
                            "items": {"type": "string"},
                            "description": "the resolution of each print, or one for all: a number or "
                            "`auto` (estimated); absent: the image's own tag",
                        },
                        "reason": {"type": "string", "description": "why the search is made (audited)"},
                        "top": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                    },
                },
                "encoding": {"print": {"contentType": "application/octet-stream, image/*"}},
            }
        },
    }
}


@router.post(
    "/identify",
    summary="Who do these prints belong to? (1-10 fingers, multipart)",
    openapi_extra=IDENTIFY_BODY,
)
async def identify(request: Request):
    if (declared_length(request) or 0) > 10 * MAX_BYTES + MULTIPART_OVERHEAD:
        raise PayloadTooLarge("upload larger than ten images", field="print")
    await in_transaction(request, lambda session, who: authorize(who, Permission.SEARCH_BIOMETRIC))
    form = await request.form(max_files=10, max_fields=40)
    prints = form.getlist("print")
    positions = form.getlist("position")
    ppis = form.getlist("ppi")
    if not prints:
        raise ValidationError("send 1 to 10 fingerprints as multipart parts named 'print'", field="print")
    positions = identification.positions_for(len(prints), [str(p) for p in positions])
    if len(ppis) not in (0, 1, len(prints)):
        raise ValidationError(f"{len(ppis)} ppi values for {len(prints)} prints", field="ppi")
    probes = []
    names: set[str] = set()
    for i, part in enumerate(prints):
        if isinstance(part, str):
            raise ValidationError(f"print {i + 1}: a file part is expected", field="print")
        name = part.filename or f"print {i + 1}"
        if name in names:  # two files of the same name (a phone's "image.jpg"): each probe keeps its own
            name = f"{name} (print {i + 1})"
        names.add(name)
        data = await part.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise PayloadTooLarge(f"{name}: larger than {MAX_BYTES} bytes", field=name)
        if not data:
            raise ValidationError(f"{name}: empty", field=name)
        pos = positions[i]  # checked by the service (0 unknown, 1-10), naming the print
        ppi = _ppi(str(ppis[0] if len(ppis) == 1 else ppis[i]), name) if ppis else None
        probes.append(identification.ProbeInput(name, data, pos, ppi))  # type: ignore[arg-type]
    reason = str(form.get("reason") or "")
    top = whole_number(str(form.get("top") or "20"), "top", digits=4)  # its range (1-100): the service's
    db = request.app.state.db
    store = _store(request)
    out = await in_transaction(
        request,
        lambda session, who: examination.search(session, who, db, store, probes, reason=reason, top=top),
    )
    return JSONResponse(out)


def _store(request: Request):
    store = getattr(request.app.state, "biometric_store", None)
    if store is None:
        from crms.access.crypto import EncryptedStore

        store = request.app.state.biometric_store = EncryptedStore.from_settings(request.app.state.settings)
    return store


@router.get("/identify", summary="Searches awaiting an examiner: a candidate above the threshold undecided")
async def awaiting_searches(
    request: Request, limit: Annotated[int, Query(ge=1, le=200, description="at most this many")] = 50
):
    out = await in_transaction(request, lambda session, who: examination.awaiting(session, who, limit=limit))
    return JSONResponse(jsonable_encoder(out), headers={"Cache-Control": "no-store"})


@router.get(
    "/persons/{person_id}/identifications",
    summary="The searches that identified a person (an examiner's confirmation standing)",
)
async def person_identifications(request: Request, person_id: IdPath):
    out = await in_transaction(
        request, lambda session, who: examination.identifications_of(session, who, person_id)
    )
    return JSONResponse(jsonable_encoder(out), headers={"Cache-Control": "no-store"})


@router.get("/identify/{search_id}", summary="A search's candidates with the examiners' decisions so far")
async def get_search(request: Request, search_id: IdPath):
    out = await in_transaction(request, lambda session, who: examination.get_search(session, who, search_id))
    return JSONResponse(jsonable_encoder(out), headers={"Cache-Control": "no-store"})


class IdentifyDecisionIn(BaseModel):
    person_id: int = Field(ge=1, le=2**31 - 1, description="the candidate decided on")
    decision: str = Field(max_length=16, description="confirmed, rejected or inconclusive")
    reason: str = Field(max_length=500)
    revise: bool = Field(
        default=False,
        description="replace the candidate's decision (a second examiner, not the one who made it)",
    )


@router.post(
    "/identify/{search_id}/decisions",
    status_code=201,
    summary="An examiner confirms, rejects or marks inconclusive one candidate of a search",
)
async def decide_candidate(request: Request, search_id: IdPath, body: IdentifyDecisionIn):
    out = await in_transaction(
        request,
        lambda session, who: examination.decide(
            session, who, search_id, body.person_id, body.decision, body.reason, revise=body.revise
        ),
    )
    return JSONResponse(out, status_code=201)


@router.get("/identify/{search_id}/decisions", summary="The decisions recorded on a search, oldest first")
async def list_decisions(request: Request, search_id: IdPath):
    out = await in_transaction(
        request, lambda session, who: examination.search_decisions(session, who, search_id)
    )
    return JSONResponse(jsonable_encoder(out), headers={"Cache-Control": "no-store"})


@router.get("/duplicates", summary="Probable duplicate enrolments waiting for an examiner")
async def list_duplicates(
    request: Request,
    status: Annotated[
        str | None,
        Query(max_length=10, description="open (default), confirmed, merged, rejected, resolved, all"),
    ] = "open",
):
    wanted = None if status == "all" else status
    return JSONResponse(await in_transaction(request, lambda session, who: dedup.queue(session, who, wanted)))


class DecisionIn(BaseModel):
    decision: str = Field(pattern="^(confirm|reject)$")
    reason: str = Field(min_length=1, max_length=500)


class MergeIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


@router.post("/duplicates/{case_id}/decision", summary="An examiner confirms or rejects a duplicate")
async def decide(request: Request, case_id: IdPath, body: DecisionIn):
    return JSONResponse(
        await in_transaction(
            request, lambda session, who: dedup.decide(session, who, case_id, body.decision, body.reason)
        )
    )


@router.post("/duplicates/{case_id}/merge", summary="A supervisor merges a confirmed duplicate")
async def merge(request: Request, case_id: IdPath, body: MergeIn):
    return JSONResponse(
        await in_transaction(
            request, lambda session, who: dedup.merge_confirmed(session, who, case_id, body.reason)
        )
    )
