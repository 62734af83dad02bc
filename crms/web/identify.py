"""Fingerprint identification and the probable-duplicate queue, as pages (``register(app)``).

* ``/identify``: 1-10 finger images (or one from the phone camera) with their positions and a reason ->
  ``biometrics.examination.search`` -> ``/identify/{search}``: the candidate list (rank, names in both
  scripts, score, per-finger scores, the threshold for the false-positive identification rate).
* ``/identify/{search}/candidates/{person}``: the probe and the candidate's print side by side with the
  paired minutiae (``examination.pairing``; examiners only) and the decision form (``examination.decide``).
* ``/duplicates``, ``/duplicates/{case}``: the examiners' queue (``biometrics.dedup.queue``), the two records'
  prints side by side, confirm/reject (``dedup.decide``) and a supervisor's merge (``dedup.merge_confirmed``).

Thin adapter: the services check permissions, validate and audit; the helpers come from ``crms.web.app``.
"""

from __future__ import annotations

import base64
import re

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from crms.access.principal import Principal
from crms.api.deps import biometric_store, get_db
from crms.api.params import IdPath
from crms.errors import CrmsError, ValidationError
from crms.web.app import FIELD_LABELS, N_, act, form_errors, plain_message, read_form, render, see_other

MAX_PROBES = 10
# Decisions and case statuses as the pages show them (``_(code)`` in the templates).
WORDS = (
    N_("confirmed"), N_("rejected"), N_("inconclusive"), N_("open"), N_("merged"), N_("resolved"),
    N_("Unknown finger"),
)  # fmt: skip


def _reshow(request: Request, again) -> Response:
    with get_db(request).transaction() as session:
        return again(session, request.state.principal)


def register(app: FastAPI) -> None:  # noqa: C901 - the pages of one workflow
    from crms.access.policy import Permission, authorize, has_permission

    FIELD_LABELS.update({"decision": N_("Decision"), "position": N_("Finger")})
    FIELD_LABELS["probes"] = N_("Fingerprint image")
    FIELD_LABELS.update({f"probe_{slot}": N_("Fingerprint image") for slot in range(1, MAX_PROBES + 1)})

    # ---------------------------------------------------------------- identification

    def search_form(request: Request, session: Session, who: Principal, status: int = 200, **ctx) -> Response:
        authorize(who, Permission.SEARCH_BIOMETRIC)
        ctx.setdefault("values", {})
        if has_permission(who, Permission.BIOMETRIC_CONFIRM):  # an examiner's work list above the form
            from crms.biometrics import examination

            ctx["awaiting"] = examination.awaiting(session, who)
        slots = range(1, MAX_PROBES + 1)
        more = [f"probe_{n}" for n in slots[1:]]  # the prints under "More fingers", opened on an error
        return render(request, "identify.html", status=status, slots=slots, more_probes=more, **ctx)

    @app.get("/identify", response_class=HTMLResponse, include_in_schema=False)
    def identify_page(request: Request):
        return act(request, lambda s, w: search_form(request, s, w))

    @app.post("/identify", include_in_schema=False)
    async def identify_post(request: Request):
        from crms.biometrics.identification import ProbeInput
        from crms.fingerprint import MAX_IMAGE_BYTES as MAX_BYTES

        data = await request.form()
        form = {"csrf_token": data.get("csrf_token"), "reason": str(data.get("reason") or "")}
        values = {"reason": form["reason"]}
        probes: list[ProbeInput] = []
        too_big: list[int] = []
        for slot in range(1, MAX_PROBES + 1):
            upload = data.get(f"probe_{slot}")
            position = str(data.get(f"position_{slot}") or "0")
            values[f"position_{slot}"] = position
            if upload is None or isinstance(upload, str) or not upload.filename:
                continue
            content = await upload.read(MAX_BYTES + 1)
            if len(content) > MAX_BYTES:
                too_big.append(slot)
            elif content:
                probes.append(ProbeInput(f"probe {slot}", content, position))  # checked by the service

        def work(session: Session, who: Principal) -> Response:
            from crms.biometrics import examination

            if too_big:
                raise ValidationError("image too large", field=f"probe_{too_big[0]}")
            if not probes:
                raise ValidationError("choose at least one fingerprint image", field="image")
            out = examination.search(
                session, who, get_db(request), biometric_store(request), probes, reason=form["reason"]
            )
            return see_other(f"/identify/{out['search_id']}")

        def bad(exc: CrmsError) -> Response:
            # An error about one print (the service names it "probe N", in the field or the message) is
            # shown once, in that print's box; any other at its field.
            m = re.match(r"probe (\d+)[.:]", exc.field or "") or re.match(r"probe (\d+): ", exc.message)
            if m is None:
                errors = form_errors(exc)
            else:
                name = f"probe_{m.group(1)}"  # the print's box: its image and its finger
                said = plain_message(exc.details[0]) if exc.details else None  # by its kind, if it has one
                errors = {name: said or exc.message, "_all": f"{name}: {exc.message}"}
            return _reshow(
                request, lambda s, w: search_form(request, s, w, 422, errors=errors, values=values)
            )

        return await run_in_threadpool(act, request, work, form=form, on_error=bad)

    @app.get("/identify/{search_id}", response_class=HTMLResponse, include_in_schema=False)
    def identify_result(request: Request, search_id: IdPath):
        def work(session: Session, who: Principal) -> Response:
            from crms.biometrics import examination

            result = examination.get_search(session, who, search_id)
            return render(request, "identify.html", result=result, slots=[], values={})

        return act(request, work)

    def candidate_view(
        request: Request, session: Session, who: Principal, search_id: int, person_id: int, probe: int,
        status: int = 200, **ctx,
    ) -> Response:  # fmt: skip
        from crms.biometrics import examination

        result = examination.get_search(session, who, search_id, candidate=person_id)
        cand = next(c for c in result["candidates"] if c["person_id"] == person_id)
        view = examination.pairing(session, who, biometric_store(request), search_id, person_id, probe)
        picture = "data:image/png;base64," + base64.b64encode(view.pop("png")).decode()
        return render(
            request, "candidate.html", status=status, result=result, cand=cand, view=view, picture=picture,
            person=cand.get("person") or {}, probe=probe, values=ctx.pop("values", {}), **ctx,
        )  # fmt: skip

    @app.get(
        "/identify/{search_id}/candidates/{person_id}", response_class=HTMLResponse, include_in_schema=False
    )
    def candidate_page(request: Request, search_id: IdPath, person_id: IdPath, probe: int = 0):
        return act(request, lambda s, w: candidate_view(request, s, w, search_id, person_id, probe))

    @app.post("/identify/{search_id}/candidates/{person_id}", include_in_schema=False)
    async def candidate_decide(request: Request, search_id: IdPath, person_id: IdPath):
        form = await read_form(request)
        raw = str(form.get("probe") or "0")
        probe = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 2 else 0

        def work(session: Session, who: Principal) -> Response:
            from crms.biometrics import examination

            examination.decide(
                session,
                who,
                search_id,
                person_id,
                str(form.get("decision") or ""),
                str(form.get("reason") or ""),
                revise=form.get("revise") == "1",
            )
            return see_other(f"/identify/{search_id}?decided={person_id}")

        def bad(exc: CrmsError) -> Response:
            return _reshow(
                request,
                lambda s, w: candidate_view(
                    request,
                    s,
                    w,
                    search_id,
                    person_id,
                    probe,
                    exc.status,
                    errors=form_errors(exc),
                    values=form,
                ),
            )

        return await run_in_threadpool(act, request, work, form=form, on_error=bad)

    # ---------------------------------------------------------------- probable duplicates

    @app.get("/duplicates", response_class=HTMLResponse, include_in_schema=False)
    def duplicates_page(request: Request, status: str = "open"):
        def work(session: Session, who: Principal) -> Response:
            from crms.biometrics import dedup

            cases = dedup.queue(session, who, None if status == "all" else status)
            return render(request, "duplicates.html", cases=cases, shown=status, case=None)

        return act(request, work)

    def case_view(request: Request, session: Session, who: Principal, case_id: int, status=200, **ctx):
        from crms.biometrics import dedup, thumbnails

        case = dedup.get_case(session, who, case_id)
        pairs = []
        for f in case["fingers"]:
            m = re.match(r"fingerprint (\d+)$", str(f.get("probe", "")))
            pairs.append({"position": f["position"], "score": f["score"], "a": int(m.group(1)) if m else None,
                          "b": f["finger_id"]})  # fmt: skip
        return render(
            request,
            "duplicates.html",
            status=status,
            case=case,
            pairs=pairs,
            cases=[],
            show_thumbs=thumbnails.may_view_thumbnails(who),
            **ctx,
        )

    @app.get("/duplicates/{case_id}", response_class=HTMLResponse, include_in_schema=False)
    def duplicate_case(request: Request, case_id: IdPath):
        return act(request, lambda s, w: case_view(request, s, w, case_id))

    @app.post("/duplicates/{case_id}/{step}", include_in_schema=False)
    async def duplicate_step(request: Request, case_id: IdPath, step: str):
        form = await read_form(request)

        def work(session: Session, who: Principal) -> Response:
            from crms.biometrics import dedup

            reason = str(form.get("reason") or "")
            if step == "merge":
                dedup.merge_confirmed(session, who, case_id, reason)
            elif step == "decide":
                dedup.decide(session, who, case_id, str(form.get("decision") or ""), reason)
            else:
                raise ValidationError(f"unknown step {step!r}", field="step")
            return see_other(f"/duplicates/{case_id}")

        def bad(exc: CrmsError) -> Response:
            return _reshow(
                request,
                lambda s, w: case_view(request, s, w, case_id, 422, errors=form_errors(exc), values=form),
            )

        return await run_in_threadpool(act, request, work, form=form, on_error=bad)
