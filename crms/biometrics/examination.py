"""An examiner's review of a 1:N identification search: the probe kept for comparison, the probe and a
candidate's enrolled print side by side with the matcher's paired minutiae drawn, and the examiner's
decision (confirmed, rejected, inconclusive) with a reason.

Recorded in the audit trail (hash-chained, append-only), not in a table of its own:

* ``biometric.identify_search`` (target ``identification``, no id): the search as the examiner sees it -
  the probe fingers (name, position, references of the probe image and template in the encrypted store),
  the threshold and the candidate list with per-finger scores. Its audit entry id is the *search id*.
* ``biometric.identify_decision`` (target ``identification`` / the search id): one per candidate decided,
  with ``{"person": id, "decision": ..., "score": ...}`` and the reason. A candidate is decided once (a
  second examiner may revise the decision: a new entry with ``"revises": id``, the latest counting), and
  at most one candidate of a search is confirmed (the probe is one person's prints).
* ``biometric.image``: every side-by-side picture shown (decrypted only for ``biometric:confirm``).

So "every decision on person P" or "the decisions of search S" is an audit query (action + target).
"""

from __future__ import annotations

import io
import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from crms.access import audit
from crms.access.models import AuditEntry
from crms.access.policy import Permission, authorize, has_permission
from crms.access.principal import Principal
from crms.biometrics.identification import ProbeInput, identify, probe_templates
from crms.biometrics.models import EnrolmentStatus, Fingerprint
from crms.errors import Conflict, NotFound, PermissionDenied, ValidationError, rule_error

DECISIONS = ("confirmed", "rejected", "inconclusive")
SEARCH_ACTION = "biometric.identify_search"
DECISION_ACTION = "biometric.identify_decision"


def search(
    session: Session,
    principal: Principal,
    db,
    store,
    probes: list[ProbeInput],
    *,
    reason: str | None,
    top: int = 20,
) -> dict:
    """Identify ``probes`` (:func:`crms.biometrics.identification.identify`) and keep the probes (encrypted)
    for the side-by-side review; returns the candidate list with ``search_id``."""
    from crms.fingerprint import dumps

    authorize(principal, Permission.SEARCH_BIOMETRIC)
    if len({p.name for p in probes}) != len(probes):
        raise ValidationError("each probe finger needs its own name", field="probes")
    fingers = probe_templates(probes)  # extracted once: the search gets the templates
    as_templates = [ProbeInput(f.name, dumps(f.template), f.position) for f in fingers]
    out = identify(session, principal, db, as_templates, reason=reason, top=top)
    kept = []
    for p, f in zip(probes, fingers, strict=True):
        kept.append(
            {
                "name": p.name[:80],
                "position": f.position,
                "image": store.put("fingerprint", bytes(p.data)),
                "template": store.put("template", dumps(f.template)),
            }
        )
    entry = audit.record(
        session,
        principal,
        SEARCH_ACTION,
        target_type="identification",
        reason=(reason or "").strip(),
        query={"probes": kept, "threshold": out["threshold"], "threshold_basis": out["threshold_basis"],
               "fpir": out["fpir"], "gallery": out["gallery"], "candidates": out["candidates"]},
    )  # fmt: skip
    out["search_id"] = entry.id
    out["probes"] = [{"name": k["name"], "position": k["position"]} for k in kept]
    return out


def _entry(session: Session, principal: Principal, search_id: int) -> tuple[AuditEntry, dict]:
    e = session.get(AuditEntry, search_id)
    if e is None or e.action != SEARCH_ACTION:
        message = f"no identification search {search_id}"
        raise rule_error("search_id", "search_not_found", message, error=NotFound, search=search_id)
    if e.user_id != principal.user_id and not has_permission(principal, Permission.BIOMETRIC_CONFIRM):
        raise PermissionDenied("only the searcher or an examiner may see this search")
    return e, json.loads(e.query or "{}")


def _decisions(session: Session, search_id: int) -> dict[int, dict]:
    out: dict[int, dict] = {}
    for e in session.scalars(
        select(AuditEntry)
        .where(
            AuditEntry.action == DECISION_ACTION,
            AuditEntry.target_type == "identification",
            AuditEntry.target_id == str(search_id),
        )
        .order_by(AuditEntry.id)
    ):
        q = json.loads(e.query or "{}")
        out[int(q["person"])] = {
            "decision": q["decision"], "reason": e.reason, "by": e.username, "at": e.at, "id": e.id,
            "user_id": e.user_id, "revises": q.get("revises"),
        }  # fmt: skip
    return out


def get_search(
    session: Session,
    principal: Principal,
    search_id: int,
    *,
    names: bool = True,
    candidate: int | None = None,
) -> dict:
    """A search's candidate list with the decisions recorded so far (audited as a read). With ``names`` (a
    page, the API) each candidate carries its ``person``'s names, shown under ONE ``person.list`` entry
    naming the ids (reason "identification candidates"; not a read of each record, see
    :func:`crms.records.services.names_shown`). With ``candidate`` (one candidate's page) only that
    candidate's names are shown (reason "identification candidate"), NotFound where it is not one."""
    from crms.records.services import names_shown

    authorize(principal, Permission.SEARCH_BIOMETRIC)
    e, q = _entry(session, principal, search_id)
    if candidate is not None:
        _candidate(q, candidate)
    decided = _decisions(session, search_id)
    for c in q["candidates"]:
        c["decision"] = decided.get(int(c["person_id"]))
    audit.record(
        session, principal, "biometric.identify_view", target_type="identification", target_id=search_id
    )
    if names:
        shown = [int(c["person_id"]) for c in q["candidates"]] if candidate is None else [candidate]
        reason = "identification candidates" if candidate is None else "identification candidate"
        found = names_shown(session, principal, shown, reason=reason, query={"search": search_id})
        for c in q["candidates"]:
            if int(c["person_id"]) in shown:
                c["person"] = found.get(int(c["person_id"]))
    return {
        "search_id": e.id, "at": e.at, "by": e.username, "reason": e.reason, "threshold": q["threshold"],
        "threshold_basis": q.get("threshold_basis", "calibration"), "fpir": q.get("fpir"),
        "gallery": q.get("gallery"), "candidates": q["candidates"],
        "probes": [{"name": p["name"], "position": p["position"]} for p in q["probes"]],
    }  # fmt: skip


def _candidate(q: dict, person_id: int) -> dict:
    for c in q["candidates"]:
        if int(c["person_id"]) == person_id:
            return c
    raise NotFound(f"person {person_id} is not a candidate of this search", field="person_id")


def decide(
    session: Session,
    principal: Principal,
    search_id: int,
    person_id: int,
    decision: str,
    reason: str | None,
    *,
    revise: bool = False,
) -> dict:
    """The examiner's decision on one candidate of a search: confirmed, rejected or inconclusive. Each
    candidate is decided once; a second person is not confirmed where one already is (Conflict naming the
    confirmed person). With ``revise``, a second examiner (not the one who made it) replaces a candidate's
    decision with another, with a reason; both stay in the audit trail (the new entry names the one it
    revises) and the latest decision of each candidate (``_decisions``) is what counts."""
    authorize(principal, Permission.BIOMETRIC_CONFIRM)
    if decision not in DECISIONS:
        raise ValidationError("decision must be confirmed, rejected or inconclusive", field="decision")
    if not reason or not reason.strip():
        raise ValidationError("a reason is required", field="reason")
    _e, q = _entry(session, principal, search_id)
    c = _candidate(q, person_id)
    decided = _decisions(session, search_id)  # each candidate's latest decision
    before = decided.pop(person_id, None) if revise else decided.get(person_id)
    if not revise and before is not None:
        message = f"candidate {person_id} of search {search_id} is already decided"
        raise rule_error("person_id", "candidate_decided", message, error=Conflict, person=person_id)
    if revise:
        if before is None:
            message = f"candidate {person_id} of search {search_id} has no decision to revise"
            raise rule_error("person_id", "candidate_undecided", message, error=Conflict, person=person_id)
        if before["user_id"] == principal.user_id:
            message = f"the decision on candidate {person_id} is yours: a second examiner revises it"
            raise rule_error("person_id", "decision_own", message, error=Conflict, person=person_id)
        if before["decision"] == decision:
            message = f"the decision is already {decision}"
            raise rule_error("decision", "decision_same", message, word=decision)
    if decision == "confirmed":  # the prints are one person's: a search identifies at most one
        confirmed = [p for p, d in decided.items() if d["decision"] == "confirmed"]
        if confirmed:
            first = confirmed[0]
            by = decided[first]["by"]
            message = (
                f"person {first} is already confirmed for search {search_id} (by {by}): "
                f"a search identifies at most one person, so person {person_id} cannot be confirmed too"
            )
            values = {"person": person_id, "first": first, "by": by}
            raise rule_error("person_id", "search_confirmed", message, error=Conflict, **values)
    entry = audit.record(
        session, principal, DECISION_ACTION, target_type="identification", target_id=search_id,
        reason=reason.strip()[:500],
        query={"person": person_id, "decision": decision, "score": c["score"], "rank": c["rank"]}
        | ({"revises": before["id"]} if revise else {}),
    )  # fmt: skip
    out = {"id": entry.id, "search_id": search_id, "person_id": person_id, "decision": decision}
    return out | ({"revises": before["id"]} if revise else {})


def search_decisions(session: Session, principal: Principal, search_id: int) -> list[dict]:
    """The decisions recorded on a search's candidates, oldest first (the searcher's or an examiner's read,
    audited like :func:`get_search`)."""
    authorize(principal, Permission.SEARCH_BIOMETRIC)
    _entry(session, principal, search_id)
    out = [
        {"id": d["id"], "search_id": search_id, "person_id": person, "decision": d["decision"],
         "reason": d["reason"], "by": d["by"], "at": d["at"], "revises": d["revises"]}
        for person, d in sorted(_decisions(session, search_id).items(), key=lambda kv: kv[1]["id"])
    ]  # fmt: skip
    audit.record(
        session, principal, "biometric.identify_view", target_type="identification", target_id=search_id
    )
    return out


# How far back the examiners' work list looks: an identification older than this is no longer waiting.
AWAITING_DAYS = 90


def awaiting(session: Session, principal: Principal, *, limit: int = 50) -> list[dict]:
    """The examiners' work list: the searches of the last :data:`AWAITING_DAYS` days with a candidate above
    the threshold that no examiner has decided yet and no person confirmed, newest first (at most
    ``limit``). Each: ``search_id``, ``at``, ``by``, ``reason``, the ``waiting`` candidates (person id,
    rank, score) and ``decided`` (how many candidates already are). Audited as
    ``biometric.identify_queue``."""
    from datetime import timedelta

    from crms.timeutil import utcnow

    authorize(principal, Permission.BIOMETRIC_CONFIRM)
    if not 1 <= limit <= 200:
        raise ValidationError("limit must be 1-200", field="limit")
    since = utcnow() - timedelta(days=AWAITING_DAYS)
    searches = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == SEARCH_ACTION, AuditEntry.at >= since)
        .order_by(AuditEntry.id.desc())
    )
    decided: dict[str, dict[int, str]] = {}
    for e in session.execute(
        select(AuditEntry.target_id, AuditEntry.query)
        .where(AuditEntry.action == DECISION_ACTION, AuditEntry.at >= since)
        .order_by(AuditEntry.id)  # a revised decision: the latest counts
    ):
        q = json.loads(e.query or "{}")
        decided.setdefault(e.target_id, {})[int(q["person"])] = q["decision"]
    out = []
    for e in searches:
        done = decided.get(str(e.id), {})
        if "confirmed" in done.values():
            continue
        q = json.loads(e.query or "{}")
        waiting = [
            {"person_id": int(c["person_id"]), "rank": c["rank"], "score": c["score"]}
            for c in q.get("candidates", [])
            if c.get("hit") and int(c["person_id"]) not in done
        ]
        if waiting:
            out.append({"search_id": e.id, "at": e.at, "by": e.username, "reason": e.reason,
                        "waiting": waiting, "decided": len(done)})  # fmt: skip
            if len(out) == limit:
                break
    audit.record(
        session, principal, "biometric.identify_queue", target_type="identification",
        query={"shown": [s["search_id"] for s in out]},
    )  # fmt: skip
    return out


def decisions_for_person(session: Session, principal: Principal, person_id: int) -> list[dict]:
    """Every examiner decision naming ``person_id``, oldest first (a revised one too, and the revision
    naming it in ``revises``)."""
    authorize(principal, Permission.SEARCH_BIOMETRIC)
    out = []
    for e in session.scalars(
        select(AuditEntry)
        .where(
            AuditEntry.action == DECISION_ACTION,
            AuditEntry.query.like(f'%"person": {int(person_id)}%'),  # (sort_keys JSON) narrowed, then checked
        )
        .order_by(AuditEntry.id)
    ):
        q = json.loads(e.query or "{}")
        if int(q.get("person", -1)) == person_id:
            out.append({"id": e.id, "search_id": int(e.target_id), "decision": q["decision"],
                        "reason": e.reason, "by": e.username, "at": e.at,
                        "revises": q.get("revises")})  # fmt: skip
    return out


def identifications_of(
    session: Session, principal: Principal, person_id: int, *, audited: bool = True
) -> list[dict]:
    """The searches whose examiners' decision on ``person_id`` stands as confirmed (the latest decision of
    each search, a revision counting), oldest first: what the person's record shows as identifications.
    Audited as ``biometric.identifications`` of the person, unless the caller's own read of the record is
    (``audited=False``: the person page)."""
    from crms.records.models import Person
    from crms.records.services import person_not_found

    authorize(principal, Permission.SEARCH_BIOMETRIC)
    if session.get(Person, person_id) is None:
        raise person_not_found(person_id)
    latest: dict[int, dict] = {}
    for d in decisions_for_person(session, principal, person_id):
        latest[d["search_id"]] = d
    if audited:
        audit.record(
            session, principal, "biometric.identifications", target_type="person", target_id=person_id
        )
    return [d for d in latest.values() if d["decision"] == "confirmed"]


# ------------------------------------------------------------------------------------------ side by side


def _enrolled(session: Session, person_id: int) -> dict[int, Fingerprint]:
    return {
        int(f.id): f
        for f in session.scalars(
            select(Fingerprint).where(
                Fingerprint.person_id == person_id,
                Fingerprint.active.is_(True),
                Fingerprint.status == EnrolmentStatus.ENROLLED.value,
            )
        )
    }


def pairing(
    session: Session, principal: Principal, store, search_id: int, person_id: int, probe: int = 0
) -> dict:
    """The probe finger ``probe`` and the candidate's print it matched best: the matcher's pairing
    (:func:`crms.fingerprint.explain`) and a PNG of both side by side with the paired minutiae joined.
    Images decrypted only for ``biometric:confirm``, watermarked, audited as ``biometric.image``."""
    from crms import fingerprint as fp
    from crms.access.crypto import watermark_image, watermark_text

    authorize(principal, Permission.BIOMETRIC_CONFIRM)
    _e, q = _entry(session, principal, search_id)
    c = _candidate(q, person_id)
    if not 0 <= probe < len(q["probes"]):
        raise ValidationError(f"probe {probe} is not 0-{len(q['probes']) - 1}", field="probe")
    p = q["probes"][probe]
    prints = _enrolled(session, person_id)
    scored = [f for f in c["fingers"] if f.get("probe") == p["name"] and int(f["finger_id"]) in prints]
    if scored:
        best = max(scored, key=lambda f: f["score"])
        row = prints[int(best["finger_id"])]
    else:
        same = [f for f in prints.values() if p["position"] and f.position == p["position"]]
        if not same:
            raise NotFound("the candidate has no enrolled print to compare with this probe", field="probe")
        row = same[0]
    probe_t = fp.loads(store.get(p["template"]), "probe")
    cand_t = fp.loads(bytes(row.template), f"fingerprint {row.id}")
    ex = fp.explain(probe_t, cand_t)
    png = _draw(store.get(p["image"]), probe_t, store.get(row.image_ref), cand_t, ex["paired"])
    audit.record(
        session, principal, "biometric.image", target_type="person", target_id=person_id,
        query={"fingerprint": row.id, "position": row.position, "search": search_id, "probe": probe},
    )  # fmt: skip
    return {
        "png": watermark_image(png, watermark_text(principal.username)),
        "score": ex["score"], "pairs": len(ex["paired"]), "minutiae": ex["minutiae"],
        "rotation_deg": ex["alignment"]["rotation_deg"], "fingerprint_id": row.id, "position": row.position,
        "probe": {"name": p["name"], "position": p["position"]},
    }  # fmt: skip


def _draw(probe_img: bytes, probe_t, cand_img: bytes, cand_t, paired: list[dict], height: int = 420) -> bytes:
    """Both images at the same height, side by side; each pair numbered and joined by a line."""
    from PIL import Image, ImageDraw

    from crms import fingerprint as fp

    sides = []
    for data, t in ((probe_img, probe_t), (cand_img, cand_t)):
        pixels, _, _ = fp.decode_image(data, name="fingerprint")
        im = Image.fromarray(pixels).convert("RGB")
        k = height / im.height
        # explain()'s coordinates are 500 ppi pixels of the template's frame (width x height)
        sx = im.width * k / max(1, t.width)
        sy = height / max(1, t.height)
        sides.append((im.resize((max(1, round(im.width * k)), height), Image.Resampling.LANCZOS), sx, sy))
    gap = 12
    out = Image.new("RGB", (sides[0][0].width + gap + sides[1][0].width, height), "white")
    out.paste(sides[0][0], (0, 0))
    off = sides[0][0].width + gap
    out.paste(sides[1][0], (off, 0))
    d = ImageDraw.Draw(out)
    colours = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf"]
    for i, pr in enumerate(paired):
        col = colours[i % len(colours)]
        ax, ay = pr["a"]["x"] * sides[0][1], pr["a"]["y"] * sides[0][2]
        bx, by = off + pr["b"]["x"] * sides[1][1], pr["b"]["y"] * sides[1][2]
        d.line([(ax, ay), (bx, by)], fill=col, width=1)
        for x, y in ((ax, ay), (bx, by)):
            d.ellipse([x - 5, y - 5, x + 5, y + 5], outline=col, width=2)
            d.text((x + 6, y - 6), str(i + 1), fill=col)
    buf = io.BytesIO()
    out.save(buf, format="PNG")
    return buf.getvalue()
