"""A finger that cannot be printed (``POST /api/v1/persons/{id}/fingerprints/{position}/missing``): amputated,
missing, bandaged or unable to print, with a note. Thin: the rules are in crms.biometrics.marks; the marks
appear finger by finger in ``GET /api/v1/persons/{id}/fingerprints``."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from crms.api.deps import in_transaction
from crms.api.params import IdPath
from crms.api.routes.biometrics import Position
from crms.biometrics import marks

router = APIRouter(tags=["biometrics"])


class MissingFinger(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Literal["amputated", "missing", "bandaged", "unable"]
    note: str | None = Field(default=None, max_length=300)


@router.post(
    "/persons/{person_id}/fingerprints/{position}/missing",
    status_code=201,
    summary="Record that a finger cannot be printed (amputated, missing, bandaged, unable)",
)
async def mark_missing_finger(request: Request, person_id: IdPath, position: Position, body: MissingFinger):
    out = await in_transaction(
        request,
        lambda session, who: marks.mark_dict(
            marks.record_missing_finger(session, who, person_id, position, body.reason, body.note)
        ),
    )
    return JSONResponse(out, status_code=201)
