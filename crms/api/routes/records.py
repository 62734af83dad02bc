"""Records API (``/api/v1``): persons (documents, aliases, addresses, phones, descriptions, flags, merge),
cases (FIRs) with statuses, person-in-case links, arrests and convictions, and the CNIC lookup
``GET /persons?cnic=...``. Thin: every rule lives in crms.records.services; errors become
problem+json naming the field; one transaction per request, so a failed request writes nothing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from crms.api.deps import PrincipalDep, SessionDep, in_transaction
from crms.api.params import IdPath, NumberQuery, OffsetQuery
from crms.api.problems import problem
from crms.records import services as svc
from crms.records.labels import labelled
from crms.records.schemas import (
    AddressIn,
    AliasIn,
    ArrestIn,
    CaseCreate,
    CaseStatusIn,
    CaseUpdate,
    ConvictionIn,
    DescriptionIn,
    DescriptionUpdate,
    DocumentIn,
    FlagConfirmIn,
    FlagIn,
    LinkCreate,
    LinkUpdate,
    MergeIn,
    PartyStatusIn,
    PersonCreate,
    PersonUpdate,
)

router = APIRouter(tags=["records"])
CASE = "case_status"  # a case's own status (and history) are case statuses

Limit = Annotated[int, Query(ge=1, le=svc.MAX_PAGE)]
Reason = Annotated[str | None, Query(max_length=500, description="why (required for searches)")]


def plain_json(data: dict) -> JSONResponse:
    """Service output (already plain JSON data: str, int, bool, None, lists, dicts) straight to the
    response, without FastAPI's ``jsonable_encoder`` walk over every value (about 1 ms of CPU for a full
    record). For the hot reads: the CNIC lookup and the full record."""
    return JSONResponse(data)


def _no_person(request: Request, person_id: int) -> JSONResponse:
    exc = svc.person_not_found(person_id)  # the miss is answered, not raised: its audit entry has committed
    where = request.url.path
    return problem(404, exc.title, exc.message, instance=where, field=exc.field, errors=exc.details)


def _part(request: Request, session, principal, person_id: int, part: str):
    items = svc.person_part(session, principal, person_id, part)
    return _no_person(request, person_id) if items is None else {"items": labelled(items)}


class PhoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: str = Field(min_length=1, max_length=40)


# ------------------------------------------------------------------------------------------ persons


@router.get("/persons", summary="CNIC lookup (with ?cnic=) or a page of persons")
async def list_or_lookup(
    request: Request,
    cnic: Annotated[str | None, Query(max_length=40, description="CNIC in any accepted form")] = None,
    reason: Reason = None,
    unit: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 50,
    offset: OffsetQuery = 0,
):
    if cnic is None:
        page = await in_transaction(
            request,
            lambda session, who: svc.list_persons(
                session, who, limit=limit, offset=offset, unit=unit, reason=reason
            ),
        )
        return labelled(page)
    found = await in_transaction(
        request, lambda session, who: svc.lookup_cnic(session, who, cnic, reason=reason), read_first=True
    )
    if found is None:
        # Returned, not raised: the audited search has committed; the answer is 404.
        return problem(404, "Not found", "no person with this CNIC", instance=request.url.path, field="cnic")
    return plain_json(labelled(found))


@router.post("/persons", status_code=201, summary="Register a person")
def register_person(body: PersonCreate, session: SessionDep, principal: PrincipalDep):
    result = svc.register_person(session, principal, body)
    out = svc.full_record(session, result.person)
    return {
        "person": labelled(out),
        "warnings": result.warnings,
        "possible_duplicates": result.possible_duplicates,
    }


@router.post("/persons/merge", summary="Merge two person records (the merged one becomes a redirect)")
def merge_persons(body: MergeIn, session: SessionDep, principal: PrincipalDep):
    survivor = svc.merge_persons(session, principal, body)
    return labelled(svc.full_record(session, survivor))


@router.get("/persons/{person_id}", summary="Full person record with history")
async def get_person(request: Request, person_id: IdPath, reason: Reason = None):
    record = await in_transaction(
        request, lambda session, who: svc.get_person(session, who, person_id, reason=reason)
    )
    if record is None:  # returned, not raised: the audited miss has committed
        return _no_person(request, person_id)
    return plain_json(labelled(record))


@router.patch("/persons/{person_id}", summary="Update a person (only the fields sent)")
def update_person(person_id: IdPath, body: PersonUpdate, session: SessionDep, principal: PrincipalDep):
    return labelled(svc.person_core_dict(svc.update_person(session, principal, person_id, body)))


@router.post("/persons/{person_id}/documents", status_code=201, summary="Add an identity document")
def add_document(person_id: IdPath, body: DocumentIn, session: SessionDep, principal: PrincipalDep):
    doc, warnings = svc.add_document(session, principal, person_id, body)
    return {"document": svc.document_dict(doc), "warnings": warnings}


@router.post("/persons/{person_id}/aliases", status_code=201)
def add_alias(person_id: IdPath, body: AliasIn, session: SessionDep, principal: PrincipalDep):
    person = svc.add_alias(session, principal, person_id, body)
    return {"aliases": [{"id": a.id, "name": a.name, "script": a.script} for a in person.aliases]}


@router.post("/persons/{person_id}/addresses", status_code=201)
def add_address(person_id: IdPath, body: AddressIn, session: SessionDep, principal: PrincipalDep):
    a = svc.add_address(session, principal, person_id, body)
    return {
        "id": a.id,
        "kind": a.kind,
        "district": a.district_code,
        "police_station": a.police_station_code,
        "text": a.text,
    }


@router.post("/persons/{person_id}/phones", status_code=201)
def add_phone(person_id: IdPath, body: PhoneIn, session: SessionDep, principal: PrincipalDep):
    person, warnings = svc.add_phone(session, principal, person_id, body.number)
    return {
        "phones": [{"id": p.id, "e164": p.e164, "kind": p.kind} for p in person.phones],
        "warnings": warnings,
    }


@router.post("/persons/{person_id}/descriptions", status_code=201, summary="Add a dated physical description")
def add_description(person_id: IdPath, body: DescriptionIn, session: SessionDep, principal: PrincipalDep):
    return _description_out(svc.add_description(session, principal, person_id, body))


@router.put(
    "/persons/{person_id}/descriptions/{description_id}",
    summary="Correct a physical description (send the `version` read: a description changed since is "
    "refused with 409)",
)
def update_description(
    person_id: IdPath,
    description_id: IdPath,
    body: DescriptionUpdate,
    session: SessionDep,
    principal: PrincipalDep,
):
    return _description_out(svc.update_description(session, principal, person_id, description_id, body))


def _description_out(d) -> dict:
    return {"id": d.id, "observed_on": d.observed_on.isoformat(), "marks": len(d.marks), "version": d.version}


RemovalReason = Annotated[
    str | None, Query(max_length=500, description="why it is removed (required; kept in the audit trail)")
]


def _entry_routes(kind: str, collection: str, title: str) -> None:
    """GET /persons/{person_id}/<collection> (the entries with their numbers) and DELETE
    /persons/{person_id}/<collection>/{entry_id}?reason=... (one recorded in error)."""

    @router.get(
        f"/persons/{{person_id}}/{collection}", name=f"list_{collection}", summary=f"{title} of a person"
    )
    def listed(request: Request, person_id: IdPath, session: SessionDep, principal: PrincipalDep):
        return _part(request, session, principal, person_id, collection)

    @router.delete(
        f"/persons/{{person_id}}/{collection}/{{entry_id}}",
        status_code=204,
        name=f"remove_{kind}",
        summary=f"Take a {kind} recorded in error off a person's record (the audit trail keeps it and why)",
    )
    def remove(
        person_id: IdPath,
        entry_id: IdPath,
        session: SessionDep,
        principal: PrincipalDep,
        reason: RemovalReason = None,
    ):
        svc.remove_entry(session, principal, person_id, kind, entry_id, {"reason": reason})
        return Response(status_code=204)


for _kind, _collection, _title in (
    ("document", "documents", "Identity documents"),
    ("alias", "aliases", "Aliases"),
    ("address", "addresses", "Addresses"),
    ("phone", "phones", "Phone numbers"),
):
    _entry_routes(_kind, _collection, _title)


@router.get("/persons/{person_id}/descriptions", summary="Dated physical descriptions of a person")
def list_descriptions(request: Request, person_id: IdPath, session: SessionDep, principal: PrincipalDep):
    return _part(request, session, principal, person_id, "descriptions")


@router.get("/persons/{person_id}/cases", summary="Cases of a person with statuses and their history")
def list_person_cases(request: Request, person_id: IdPath, session: SessionDep, principal: PrincipalDep):
    return _part(request, session, principal, person_id, "cases")


@router.get("/persons/{person_id}/flags", summary="Flags with their history")
def person_flags(person_id: IdPath, session: SessionDep, principal: PrincipalDep):
    return {"items": labelled({"flags": svc.flag_history(session, principal, person_id)})["flags"]}


@router.post("/persons/{person_id}/flags", summary="Raise or clear a flag by hand")
def set_flag(person_id: IdPath, body: FlagIn, session: SessionDep, principal: PrincipalDep):
    flag = svc.set_flag(session, principal, person_id, body)
    return labelled({"flags": [svc.flag_dict(flag)]})["flags"][0]


# ------------------------------------------------------------------------------------------ cases


@router.post("/cases", status_code=201, summary="Register an FIR")
def add_case(body: CaseCreate, session: SessionDep, principal: PrincipalDep):
    case = svc.add_case(session, principal, body)
    return labelled(svc.case_dict(case, parties=False), status_vocabulary=CASE)


@router.get("/cases", summary="A page of cases, filtered")
def list_cases(
    session: SessionDep,
    principal: PrincipalDep,
    district: Annotated[str | None, Query(max_length=100)] = None,
    police_station: Annotated[str | None, Query(max_length=150)] = None,
    year: Annotated[int | None, Query(ge=1947, le=9999)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    limit: Limit = 50,
    offset: OffsetQuery = 0,
):
    page = svc.list_cases(
        session,
        principal,
        limit=limit,
        offset=offset,
        district=district,
        police_station=police_station,
        year=year,
        status=status,
    )
    return labelled(page, status_vocabulary=CASE)


@router.get("/cases/by-fir", summary="A case by its natural key (police station, FIR number, year)")
def case_by_fir(
    session: SessionDep,
    principal: PrincipalDep,
    police_station: Annotated[str, Query(max_length=150)],
    fir_number: NumberQuery,
    year: Annotated[int, Query(ge=1947, le=9999)],
    district: Annotated[str | None, Query(max_length=100)] = None,
):
    return labelled(
        svc.find_case(session, principal, police_station, fir_number, year, district), status_vocabulary=CASE
    )


@router.get("/cases/{case_id}", summary="A case with offences, status history and persons")
def get_case(case_id: IdPath, session: SessionDep, principal: PrincipalDep):
    return labelled(svc.get_case(session, principal, case_id), status_vocabulary=CASE)


@router.patch("/cases/{case_id}")
def update_case(case_id: IdPath, body: CaseUpdate, session: SessionDep, principal: PrincipalDep):
    return labelled(
        svc.case_dict(svc.update_case(session, principal, case_id, body), parties=False),
        status_vocabulary=CASE,
    )


@router.post("/cases/{case_id}/status", summary="Change the case status (validated transition)")
def case_status(case_id: IdPath, body: CaseStatusIn, session: SessionDep, principal: PrincipalDep):
    case = svc.change_case_status(session, principal, case_id, body)
    return labelled(svc.case_dict(case, parties=False), status_vocabulary=CASE)


@router.post("/cases/{case_id}/links", status_code=201, summary="Link a person to the case")
def link_person(case_id: IdPath, body: LinkCreate, session: SessionDep, principal: PrincipalDep):
    return labelled(svc.link_dict(svc.link_person(session, principal, case_id, body)))


@router.delete(
    "/links/{link_id}",
    status_code=204,
    summary="Remove a link made in error, with the reason (its flags cleared and kept; not with an arrest "
    "or a conviction recorded)",
)
def remove_link(link_id: IdPath, session: SessionDep, principal: PrincipalDep, reason: RemovalReason = None):
    svc.remove_link(session, principal, link_id, {"reason": reason})
    return Response(status_code=204)


@router.get("/links/{link_id}", summary="A person-in-case link with status history, arrests, convictions")
def get_link(link_id: IdPath, session: SessionDep, principal: PrincipalDep):
    return labelled(svc.get_link(session, principal, link_id))


@router.patch("/links/{link_id}")
def update_link(link_id: IdPath, body: LinkUpdate, session: SessionDep, principal: PrincipalDep):
    return labelled(svc.link_dict(svc.update_link(session, principal, link_id, body)))


@router.post("/links/{link_id}/status", summary="Change a person-in-case status (validated transition)")
def link_status(link_id: IdPath, body: PartyStatusIn, session: SessionDep, principal: PrincipalDep):
    return labelled(svc.link_dict(svc.change_party_status(session, principal, link_id, body)))


@router.post("/links/{link_id}/arrests", status_code=201)
def record_arrest(link_id: IdPath, body: ArrestIn, session: SessionDep, principal: PrincipalDep):
    a = svc.record_arrest(session, principal, link_id, body)
    return {"id": a.id, "link_id": link_id, "arrested_on": a.arrested_on.isoformat()}


@router.post("/links/{link_id}/convictions", status_code=201)
def record_conviction(link_id: IdPath, body: ConvictionIn, session: SessionDep, principal: PrincipalDep):
    v = svc.record_conviction(session, principal, link_id, body)
    return {"id": v.id, "link_id": link_id, "convicted_on": v.convicted_on.isoformat()}


# ------------------------------------------------------------------------------------------ flag confirmation


@router.get("/flags/pending", summary="Flags awaiting your district's confirmation (raised from outside it)")
def pending_flags(session: SessionDep, principal: PrincipalDep):
    return {"items": labelled({"flags": svc.pending_flags(session, principal)})["flags"]}


@router.post(
    "/flags/{flag_id}/confirm", summary="Confirm or reject a flag raised from outside the home district"
)
def confirm_flag(flag_id: IdPath, body: FlagConfirmIn, session: SessionDep, principal: PrincipalDep):
    flag = svc.confirm_flag(session, principal, flag_id, body)
    return labelled({"flags": [svc.flag_dict(flag)]})["flags"][0]
