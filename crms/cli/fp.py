"""``crms fp``: fingerprint extraction, 1:1 scores and FVC-protocol evaluation.

Output formats are stable (release checks read them):
  crms fp extract INPUT OUTDIR [--dpi N|auto] [--trace DIR]
      one JSON line per image {"file","ms","minutiae","quality","dpi","dpi_source","dpi_reason"}
  crms fp score PAIRS.tsv | A B [--dpi N|auto] [--trace DIR]
      a<TAB>b<TAB>score per pair, in input order (resolutions used on standard error)
  crms fp eval DIR [--dpi N|auto] [--json]      a summary, or exactly one JSON object
``--trace DIR``: extract writes each step's intermediates (PNG + trace.json) under DIR/<stem>/; score
writes the matcher's pairing of each pair (paired minutiae, alignment, the four features) as
DIR/pair_<n>.json.
Heavy libraries are imported inside the commands.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from crms.cli.fp_common import extract_many, fail, load_templates, parse_dpi, resolution

fp_app = typer.Typer(help="Fingerprint engine: extract templates, score pairs, evaluate on an FVC-style set.")


def _input_images(inp: Path) -> list[Path]:
    from crms import fingerprint as fp

    if inp.is_dir():
        files = fp.list_images(inp)
        if not files:
            fail(f"{inp}: no images (png, jpg, tif, bmp, wsq, jp2) in this folder")
        return files
    if inp.is_file():
        return [inp]
    fail(f"{inp}: no such file or folder")
    return []


@fp_app.command("extract")
def extract_cmd(
    input: Path = typer.Argument(..., help="An image or a folder of images."),
    outdir: Path = typer.Argument(..., help="Folder for the templates (<stem>.tpl, CRMS format)."),
    dpi: str = typer.Option(None, "--dpi", help="Source resolution in ppi, or 'auto' to estimate it."),
    iso: bool = typer.Option(False, "--iso", help="Also write <stem>.iso (ISO/IEC 19794-2:2005)."),
    trace: Path = typer.Option(
        None,
        "--trace",
        "--debug",
        help="Write each step's intermediates (PNG images and trace.json) under this folder, one per image.",
    ),
) -> None:
    """Extract one template per image; print one JSON line per image."""
    d = parse_dpi(dpi)
    files = _input_images(input)
    stems = [f.stem for f in files]
    if len(set(stems)) != len(stems):
        fail(f"{input}: two images share a stem; templates would overwrite each other")
    outdir.mkdir(parents=True, exist_ok=True)
    from crms import fingerprint as fp

    if trace is not None:
        from crms.errors import CrmsError

        fp.set_threads(1)
        for f in files:
            try:
                fp.extract_template(fp.load_image(f, d), trace=fp.TraceFolder(trace / f.stem))
            except CrmsError:
                pass  # reported with the extraction below
    failed = 0
    for f, r in zip(files, extract_many(files, d), strict=True):
        if r.error:
            failed += 1
            typer.echo(f"error: {r.error}", err=True)
            continue
        (outdir / f"{f.stem}.tpl").write_bytes(r.template)
        if iso:
            (outdir / f"{f.stem}.iso").write_bytes(fp.iso_dumps(fp.loads(r.template)))
        if r.dpi_source != "caller":
            typer.echo(f"{f}: resolution {r.dpi:g} ppi ({r.dpi_source})", err=True)
        line = {"file": str(f), "ms": round(r.ms, 1), "minutiae": r.minutiae, "quality": r.quality}
        line.update(resolution(r))
        typer.echo(json.dumps(line))
    if failed:
        raise typer.Exit(1)


@fp_app.command("score")
def score_cmd(
    inputs: list[Path] = typer.Argument(
        ..., help="A TSV file with one 'a<TAB>b' per line, or two paths A B (images or templates)."
    ),
    dpi: str = typer.Option(None, "--dpi", help="Resolution of the images in ppi, or 'auto'."),
    trace: Path = typer.Option(
        None, "--trace", help="Write each pair's pairing (minutiae, alignment, features) as JSON here."
    ),
) -> None:
    """Score each pair; print a<TAB>b<TAB>score in input order (score ≈ 10·log10(1/FMR))."""
    d = parse_dpi(dpi)
    rows: list[tuple[str, str]] = []
    if len(inputs) == 2:
        pairs = Path(".")
        rows.append((str(inputs[0]), str(inputs[1])))
    elif len(inputs) == 1:
        pairs = inputs[0]
        try:
            text = pairs.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"{pairs}: cannot read ({exc})")
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.rstrip("\r").split("\t")
            if len(parts) != 2 or not parts[0] or not parts[1]:
                fail(f"{pairs}: line {n}: expected two paths separated by one tab")
            rows.append((parts[0], parts[1]))
    else:
        fail("give a TSV file of pairs, or two paths A B")

    def resolve(s: str) -> Path:
        p = Path(s)
        if not p.exists() and not p.is_absolute() and (pairs.parent / p).exists():
            p = pairs.parent / p
        return p

    unique: dict[str, Path] = {}
    for n, (a, b) in enumerate(rows, 1):
        for s in (a, b):
            if s not in unique:
                p = resolve(s)
                if not p.is_file():
                    fail(f"{pairs}: pair {n}: {s}: no such file")
                unique[s] = p
    notes: dict = {}
    templates = load_templates(list(dict.fromkeys(unique.values())), d, notes)
    for p, note in notes.items():
        if note["dpi_source"] != "caller":
            typer.echo(f"{p}: resolution {note['dpi']:g} ppi ({note['dpi_source']})", err=True)
    from crms import fingerprint as fp

    prepared = {p: fp.prepare(t) for p, t in templates.items()}
    if trace is not None:
        trace.mkdir(parents=True, exist_ok=True)
    for n, (a, b) in enumerate(rows, 1):
        s = float(fp.score(prepared[unique[a]], prepared[unique[b]]))
        sys.stdout.write(f"{a}\t{b}\t{s:.3f}\n")
        if trace is not None:
            e = fp.explain(prepared[unique[a]], prepared[unique[b]])
            e["a"] = {"file": a, **notes.get(unique[a], {"template": True})}
            e["b"] = {"file": b, **notes.get(unique[b], {"template": True})}
            (trace / f"pair_{n}.json").write_text(json.dumps(e, indent=1))
    sys.stdout.flush()


def run_eval(folder: Path, dpi, processes: int | None = None) -> dict:
    """The FVC protocol on one folder; returns the JSON-ready summary (rates in percent)."""
    from crms import fingerprint as fp

    try:
        return fp.evaluate_folder(folder, dpi, processes)
    except ValueError as exc:
        fail(str(exc))
    return {}


@fp_app.command("eval")
def eval_cmd(
    folder: Path = typer.Argument(..., help="Folder of images named FINGER_IMPRESSION.ext (e.g. 101_1.png)."),
    dpi: str = typer.Option(None, "--dpi", help="Resolution of the images in ppi, or 'auto'."),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object."),
) -> None:
    """FVC protocol: all pairs i<j, genuine = same FINGER; EER (FVC2000), FMR100, FMR1000, ZeroFMR."""
    if not folder.is_dir():
        fail(f"{folder}: not a folder")
    res = run_eval(folder, parse_dpi(dpi))
    if as_json:
        typer.echo(json.dumps(res))
        return
    typer.echo(
        f"{folder}: {res['images']} images, {res['genuine']} genuine and {res['impostor']} impostor pairs\n"
        f"  EER      {res['eer_percent']:.2f} %\n"
        f"  FMR100   {res['fmr100_percent']:.2f} %\n"
        f"  FMR1000  {res['fmr1000_percent']:.2f} %\n"
        f"  ZeroFMR  {res['zerofmr_percent']:.2f} %\n"
        f"  extraction {res['extract_ms']:.0f} ms/image (one thread per worker), "
        f"comparison {res['compare_us']:.1f} µs/pair\n"
        "  resolution "
        + ", ".join(
            f"{k}: {v['images']} images at {v['min_dpi']:g}-{v['max_dpi']:g} ppi"
            for k, v in res["resolution"].items()
        )
    )


def register(app: typer.Typer) -> None:
    app.add_typer(fp_app, name="fp")
