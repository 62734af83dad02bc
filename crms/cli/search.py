"""``crms fp search|identify|decide|decisions|duplicates|duplicate|duplicate-merge`` and
``crms bench identify``: 1:N identification.

Output formats are stable:
  crms fp search GALLERY PROBES [--top K] [--dpi N|auto]   probe<TAB>rank<TAB>candidate<TAB>score, rank 1..K
  crms fp identify IMAGE... [--finger N] --reason TEXT     rank<TAB>person_id<TAB>score<TAB>hit (a login);
                                                           "# search ID ..." on stderr
  crms fp decide SEARCH PERSON confirmed|rejected|inconclusive --reason TEXT   an examiner's decision (JSON)
  crms fp decisions SEARCH [--json]                        rank<TAB>person_id<TAB>score<TAB>decision<TAB>by
  crms fp duplicates [--status S] [--json]                 the examiners' queue of probable duplicates
  crms fp duplicate CASE confirm|reject --reason TEXT      an examiner's decision (JSON)
  crms fp duplicate-merge CASE --reason TEXT               a supervisor merges a confirmed case (JSON)
  crms bench identify --fingers N                          one JSON object (synthetic template gallery)
GALLERY and PROBES are folders of images or templates; a candidate is a file stem.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

bench_app = typer.Typer(help="Benchmarks that are part of the product (synthetic data, no database).")


def _files(folder: Path, what: str) -> list[Path]:
    from crms.cli.fp_common import fail
    from crms.fingerprint import IMAGE_SUFFIXES, is_template_file

    if not folder.is_dir():
        fail(f"{what} {folder}: no such folder")
    files = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and (p.suffix.lower() in IMAGE_SUFFIXES or is_template_file(p))
    )
    if not files:
        fail(f"{what} {folder}: no images or templates in this folder")
    return files


def search_cmd(
    gallery: Path = typer.Argument(..., help="Folder of images or templates (candidate = file stem)."),
    probes: Path = typer.Argument(..., help="Folder of images or templates to search."),
    top: int = typer.Option(20, "--top", min=1, max=1000, help="Candidates per probe."),
    dpi: str = typer.Option(None, "--dpi", help="Resolution of the images of both folders, or 'auto'."),
    brute_force: bool = typer.Option(False, "--brute-force", help="Skip the first stage (full match all)."),
) -> None:
    """Search every probe against the gallery; print probe<TAB>rank<TAB>candidate<TAB>score."""
    from crms.cli.fp_common import fail, load_templates, parse_dpi
    from crms.errors import CrmsError
    from crms.fingerprint import Gallery, ProbeFinger

    d = parse_dpi(dpi)
    gfiles, pfiles = _files(gallery, "gallery"), _files(probes, "probes")
    stems = [f.stem for f in gfiles]
    if len(set(stems)) != len(stems):
        fail(f"gallery {gallery}: two files share a stem")
    templates = load_templates(list(dict.fromkeys(gfiles + pfiles)), d)
    g = Gallery(capacity=len(gfiles))
    try:
        g.insert_many((i, i, 0, templates[f]) for i, f in enumerate(gfiles))
    except CrmsError as exc:
        fail(exc.message)
    out = sys.stdout
    for p in pfiles:
        try:
            r = g.search([ProbeFinger(templates[p], 0, p.name)], top=top, brute_force=brute_force)
        except CrmsError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            continue
        for rank, c in enumerate(r.candidates, 1):
            out.write(f"{p.stem}\t{rank}\t{stems[c.person]}\t{c.score:.3f}\n")
    out.flush()


def identify_cmd(
    images: list[Path] = typer.Argument(..., help="1-10 fingerprint images or templates of one person."),
    finger: list[int] = typer.Option(
        None, "--finger", help="ANSI/NIST position (1-10) of each image, in order."
    ),
    reason: str = typer.Option(..., "--reason", help="Why this search is made (audited)."),
    top: int = typer.Option(20, "--top", min=1, max=100),
    dpi: str = typer.Option(None, "--dpi", help="Resolution of the images in ppi, or 'auto'."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object."),
) -> None:
    """Search the prints against every enrolled person (needs a login with search:biometric). The search is
    kept under its search id for an examiner's decision (crms fp decide)."""
    from crms.access.crypto import EncryptedStore
    from crms.biometrics.examination import search
    from crms.biometrics.identification import ProbeInput, positions_for
    from crms.cli.auth import cli_errors, cli_principal, open_db, unit_of_work
    from crms.cli.fp_common import fail, parse_dpi
    from crms.config import get_settings

    d = parse_dpi(dpi)
    with cli_errors():  # one --finger per image, or none: the service's rule, as for the API
        positions = positions_for(len(images), list(finger or []))
    probes = []
    for p, pos in zip(images, positions, strict=True):
        try:
            data = p.read_bytes()
        except OSError as exc:
            fail(f"{p}: cannot read ({exc.strerror or exc})")
        probes.append(ProbeInput(p.name, data, pos, d))
    with cli_errors():
        db = open_db()
        principal = cli_principal()
        store = EncryptedStore.from_settings(get_settings())
        with unit_of_work(db, principal, "crms fp identify") as s:
            out = search(s, principal, db, store, probes, reason=reason, top=top)
    if as_json:
        typer.echo(json.dumps(out))
        return
    raised = ", raised to this gallery's impostors" if out["threshold_basis"] == "gallery" else ""
    typer.echo(
        f"# search {out['search_id']}: {out['gallery']['persons']} persons, threshold {out['threshold']}"
        f" (FPIR {out['fpir']}{raised})",
        err=True,
    )
    for c in out["candidates"]:
        typer.echo(f"{c['rank']}\t{c['person_id']}\t{c['score']:.2f}\t{'hit' if c['hit'] else '-'}")


def decide_cmd(
    search_id: int = typer.Argument(..., help="The search id (crms fp identify, the web, the API)."),
    person_id: int = typer.Argument(..., help="The candidate decided on."),
    decision: str = typer.Argument(..., help="confirmed, rejected or inconclusive"),
    reason: str = typer.Option(..., "--reason", help="Why (recorded with the decision)."),
    revise: bool = typer.Option(
        False,
        "--revise",
        help="Replace the candidate's decision (a second examiner, not the one who made it).",
    ),
) -> None:
    """A fingerprint examiner's decision on one candidate of an identification search (once per candidate;
    a second examiner revises one with --revise)."""
    from crms.biometrics.examination import decide
    from crms.cli.auth import cli_action

    with cli_action("crms fp decide") as (s, principal):
        out = decide(s, principal, search_id, person_id, decision, reason, revise=revise)
    typer.echo(json.dumps(out))


def decisions_cmd(
    search_id: int = typer.Argument(..., help="The search id."),
    as_json: bool = typer.Option(False, "--json", help="The search as one JSON object."),
) -> None:
    """A search's candidates with the decisions recorded so far: rank, person, score, decision, by."""
    from crms.biometrics.examination import get_search
    from crms.cli.auth import cli_action

    with cli_action("crms fp decisions") as (s, principal):
        out = get_search(s, principal, search_id, names=as_json)  # names only where they are shown
    if as_json:
        typer.echo(json.dumps(out, default=str))
        return
    for c in out["candidates"]:
        d = c.get("decision") or {}
        typer.echo(
            f"{c['rank']}\t{c['person_id']}\t{c['score']:.2f}\t{d.get('decision', '-')}\t{d.get('by', '-')}"
        )


def awaiting_cmd(
    limit: int = typer.Option(50, "--limit", help="At most this many searches (1-200)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON array."),
) -> None:
    """The searches awaiting an examiner (a candidate above the threshold undecided), newest first: search,
    when, by whom, the candidates waiting."""
    from crms.biometrics.examination import awaiting
    from crms.cli.auth import cli_action

    with cli_action("crms fp awaiting") as (s, principal):
        out = awaiting(s, principal, limit=limit)
    if as_json:
        typer.echo(json.dumps(out, default=str))
        return
    for a in out:
        people = ", ".join(f"{w['person_id']} ({w['score']:.1f})" for w in a["waiting"])
        typer.echo(f"{a['search_id']}\t{a['at']:%Y-%m-%d %H:%M}\t{a['by']}\t{people}")


def duplicates_cmd(
    status: str = typer.Option(
        "open", "--status", help="open, confirmed, merged, rejected, resolved or all."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON array."),
) -> None:
    """The examiners' queue of probable duplicate enrolments."""
    from crms.biometrics.dedup import queue
    from crms.cli.auth import cli_action

    with cli_action("crms fp duplicates") as (s, principal):
        rows = queue(s, principal, None if status == "all" else status, names=as_json)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for r in rows:
        typer.echo(f"{r['id']}\t{r['person_id']}\t{r['candidate_id']}\t{r['score']:.2f}\t{r['status']}")


def duplicate_cmd(
    case: int = typer.Argument(..., help="The case id (crms fp duplicates)."),
    decision: str = typer.Argument(..., help="confirm or reject"),
    reason: str = typer.Option(..., "--reason", help="Why (recorded with the decision)."),
) -> None:
    """An examiner's decision on a probable duplicate (confirm merges when the examiner may merge)."""
    from crms.biometrics.dedup import decide
    from crms.cli.auth import cli_action

    with cli_action("crms fp duplicate") as (s, principal):
        out = decide(s, principal, case, decision, reason)
    typer.echo(json.dumps(out))


def duplicate_merge_cmd(
    case: int = typer.Argument(..., help="The case id (crms fp duplicates --status confirmed)."),
    reason: str = typer.Option(..., "--reason", help="Why (recorded with the merge)."),
) -> None:
    """A supervisor merges the two records of a duplicate an examiner confirmed (a record merged away since
    is followed to its survivor; a case whose records are one already is closed as resolved)."""
    from crms.biometrics.dedup import merge_confirmed
    from crms.cli.auth import cli_action

    with cli_action("crms fp duplicate-merge") as (s, principal):
        out = merge_confirmed(s, principal, case, reason)
    typer.echo(json.dumps(out))


@bench_app.command("identify")
def bench_identify_cmd(
    fingers: int = typer.Option(100_000, "--fingers", min=10, help="Synthetic gallery size in fingers."),
    repeats: int = typer.Option(5, "--repeats", min=1, help="Searches of each kind (median reported)."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Build a synthetic template gallery of N fingers, search it, print one JSON object."""
    from crms.fingerprint import run_identify_bench as run

    typer.echo(json.dumps(run(fingers, repeats=repeats, seed=seed)))


def register(app: typer.Typer) -> None:
    from crms.cli.fp import fp_app

    fp_app.command("search")(search_cmd)
    fp_app.command("identify")(identify_cmd)
    fp_app.command("decide")(decide_cmd)
    fp_app.command("decisions")(decisions_cmd)
    fp_app.command("awaiting")(awaiting_cmd)
    fp_app.command("duplicates")(duplicates_cmd)
    fp_app.command("duplicate")(duplicate_cmd)
    fp_app.command("duplicate-merge")(duplicate_merge_cmd)
    app.add_typer(bench_app, name="bench")
