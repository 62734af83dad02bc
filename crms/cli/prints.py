"""A person's fingerprints from the command line, through the same services and permission checks as the API
and the enrolment page (crms.biometrics.enrolment, crms.biometrics.capture_check):

``crms fp capture PERSON_ID FINGER=FILE... [--ppi N] [--source S] [--json]`` stores the prints of one or
more fingers (``1=right_thumb.wsq 2=right_index.png``, ANSI/NIST positions 1-10), all in one transaction: if
one file is refused, none is stored. Each file is decoded in the decoder sandbox, its resolution chosen
(``--ppi``, else the file's tag where plausible, else the estimate from the ridge spacing) and its quality
measured before the transaction opens; each line says the quality, why a poor print falls short, and the
resolution and why. The templates are extracted by the server's enrol worker, or by ``crms fp enrol-pending``.
Needs ``biometric:enrol``.

``crms fp prints PERSON_ID [--history] [--reason TEXT] [--json]`` lists the person's fingers: each one's
print (status, quality, minutiae, resolution), the mark of a finger that cannot be printed, or nothing yet.
Audited as a read of the biometric record (``--reason``, default: env CRMS_REASON).

Exit codes: 0 done, 1 no such person, 2 invalid input, 3 not authenticated / not allowed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer


def _pair(text: str) -> tuple[int, Path]:
    """``FINGER=FILE`` (the ANSI/NIST position, 1-10, and the image's path)."""
    from crms.errors import ValidationError

    position, sep, path = text.partition("=")
    if not sep or not position.strip().isdecimal() or not path:
        raise ValidationError(f"{text!r}: write FINGER=FILE, e.g. 1=right_thumb.png", field="image")
    return int(position), Path(path)


def _read(position: int, path: Path) -> bytes:
    from crms.errors import ValidationError
    from crms.fingerprint import MAX_IMAGE_BYTES

    try:
        with path.open("rb") as f:
            data = f.read(MAX_IMAGE_BYTES + 1)
    except OSError as exc:
        raise ValidationError(
            f"{path}: cannot read ({exc.strerror or exc})", field=f"finger_{position}"
        ) from None
    if len(data) > MAX_IMAGE_BYTES:
        message = f"{path}: larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB"
        raise ValidationError(message, field=f"finger_{position}")
    return data


def _quality_words(q: dict) -> str:
    if q["ok"]:
        return f"quality {q['score']} ✓"
    return f"{q['reason']}: capture the finger again"


def _resolution_words(image: dict) -> str:
    source = image.get("ppi_source")
    return f"{image['ppi']} ppi" + (f" ({source}: {image['ppi_reason']})" if source else "")


def capture_cmd(
    person_id: int = typer.Argument(..., min=1, help="The person's id."),
    prints: list[str] = typer.Argument(
        ...,
        help="FINGER=FILE, one per finger: 1 right thumb ... 10 left little (ANSI/NIST).",
        show_default=False,
    ),
    ppi: int = typer.Option(
        None, "--ppi", help="The scanner's resolution, for every file (default: each file's, or estimated)."
    ),
    source: str = typer.Option("livescan", "--source", help="livescan, or card (a scanned inked card)."),
    as_json: bool = typer.Option(False, "--json", help="Print the captured prints as one JSON object."),
) -> None:
    """Capture the prints of one or more fingers of a person (one transaction; templates extracted later)."""
    from crms.access.crypto import EncryptedStore
    from crms.access.policy import Permission, authorize
    from crms.biometrics import enrolment
    from crms.biometrics.capture_check import check_capture, refuse_finger_twice
    from crms.biometrics.worker import wake
    from crms.cli.auth import cli_action, cli_errors
    from crms.config import get_settings
    from crms.errors import ValidationError

    settings = get_settings()
    with cli_action(f"crms fp capture {person_id}") as (_session, principal):  # allowed before any decoding
        authorize(principal, Permission.BIOMETRIC_ENROL)
    with cli_errors():
        pairs = [_pair(p) for p in prints]
        refuse_finger_twice(((position, str(path)) for position, path in pairs), "captured")
        files = dict(pairs)
        if ppi is not None:
            enrolment.refuse_ppi_outside(ppi)
        checked = {}
        for position, path in pairs:  # decoded before the transaction: no lock held while a decoder works
            try:
                checked[position] = check_capture(_read(position, path), position, name=str(path), ppi=ppi)
            except ValidationError as exc:
                raise exc.at(f"finger_{position}") from None
    with cli_action(f"crms fp capture {person_id}") as (session, principal):
        store = EncryptedStore.from_settings(settings)
        out = []
        for position, (image, quality) in checked.items():
            try:
                row = enrolment.capture(session, principal, store, person_id, position, image, ppi=ppi,
                                        source=source)  # fmt: skip
            except ValidationError as exc:
                raise exc.at(f"finger_{position}") from None
            out.append(
                {**enrolment.fingerprint_dict(row), "file": str(files[position]), "capture_quality": quality}
            )
    pending = any(p["status"] == "pending" for p in out)
    if pending:
        wake(settings.data_dir)  # the server's enrol worker, where one runs
    if as_json:
        typer.echo(json.dumps({"person_id": person_id, "captured": out}, ensure_ascii=False))
        return
    for p in out:
        q = p["capture_quality"]
        typer.echo(
            f"finger {p['position']} ({p['finger']}): print {p['id']} {p['status']} · {_quality_words(q)} · "
            f"{_resolution_words(p['image'])}"
        )
    if pending:
        typer.echo(
            "templates: extracted by the server's enrol worker, or run crms fp enrol-pending", err=True
        )


def prints_cmd(
    person_id: int = typer.Argument(..., min=1, help="The person's id."),
    history: bool = typer.Option(False, "--history", help="Also the retired prints and marks."),
    reason: str = typer.Option(None, "--reason", "-r", help="Why you read them (default: env CRMS_REASON)."),
    as_json: bool = typer.Option(False, "--json", help="Print the answer as one JSON object."),
) -> None:
    """A person's fingers: each one's print (status, quality, resolution), its mark, or nothing yet."""
    from crms.biometrics import enrolment
    from crms.cli.auth import cli_action

    reason = reason or os.environ.get("CRMS_REASON")
    with cli_action(f"crms fp prints {person_id}") as (session, principal):
        out = enrolment.fingerprints_of(session, principal, person_id, history=history, reason=reason)
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    if out["redirected_from"]:
        typer.echo(f"person {out['redirected_from']} was merged into person {out['person_id']}: its prints")
    counts = f"{out['enrolled']} enrolled, {out['pending']} pending, {out['failed']} failed"
    typer.echo(f"person {out['person_id']}: {counts}")
    for finger in out["fingers"]:
        line = f"{finger['position']:>2} {finger['finger']}: "
        p, mark = finger["print"], finger["mark"]
        if p is not None:
            line += f"print {p['id']} {p['status']}"
            if p["quality"] is not None:
                line += f", quality {p['quality']}, {p['minutiae']} minutiae"
            line += f", {_resolution_words(p['image'])}"
            if p["status"] == "failed" and p["error"]:
                line += f" — {p['error']}"
            if finger["recapture"] is not None:
                line += f"; a recapture (print {finger['recapture']['id']}) waits for its template"
            if (failed := finger["recapture_failed"]) is not None:
                line += f"; a later capture (print {failed['id']}) could not be enrolled — "
                line += failed["error"] or "capture the finger again"
        elif mark is not None:
            line += f"cannot be printed: {mark['reason']}" + (
                f" — {mark['note']}" if mark.get("note") else ""
            )
        else:
            line += "not captured"
        typer.echo(line)
    if history:
        for p in out["fingerprints"]:
            if not p["active"]:
                typer.echo(
                    f"   retired print {p['id']} of finger {p['position']}: {p['status']}, {p['retired_at']}"
                )


def register(app: typer.Typer) -> None:
    from crms.cli.fp import fp_app

    fp_app.command("capture")(capture_cmd)
    fp_app.command("prints")(prints_cmd)
