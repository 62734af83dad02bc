"""``crms fp``: fingerprint extraction, 1:1 scores and FVC-protocol evaluation.

Output formats are stable (release checks read them):
  crms fp extract INPUT OUTDIR [--dpi N|auto]   one JSON line per image {"file","ms","minutiae","quality"}
  crms fp score PAIRS.tsv [--dpi N|auto]        a<TAB>b<TAB>score per input line, in input order
  crms fp eval DIR [--dpi N|auto] [--json]      a summary, or exactly one JSON object
Heavy libraries are imported inside the commands.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

fp_app = typer.Typer(help="Fingerprint engine: extract templates, score pairs, evaluate on an FVC-style set.")


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _dpi(value: str | None):
    from crms import fingerprint as fp
    from crms.errors import CrmsError

    try:
        return fp.parse_dpi(value)
    except CrmsError as exc:
        _fail(exc.message)


def _extract_many(paths: list[Path], dpi, processes: int | None = None) -> list:
    """Extract images in a worker pool (both cores) or in-process for a handful."""
    from crms import fingerprint as fp

    return fp.extract_many(paths, dpi, processes)


def _input_images(inp: Path) -> list[Path]:
    from crms import fingerprint as fp

    if inp.is_dir():
        files = fp.list_images(inp)
        if not files:
            _fail(f"{inp}: no images (png, jpg, tif, bmp, wsq, jp2) in this folder")
        return files
    if inp.is_file():
        return [inp]
    _fail(f"{inp}: no such file or folder")
    return []


@fp_app.command("extract")
def extract_cmd(
    input: Path = typer.Argument(..., help="An image or a folder of images."),
    outdir: Path = typer.Argument(..., help="Folder for the templates (<stem>.tpl, CRMS format)."),
    dpi: str = typer.Option(None, "--dpi", help="Source resolution in ppi, or 'auto' to estimate it."),
    iso: bool = typer.Option(False, "--iso", help="Also write <stem>.iso (ISO/IEC 19794-2:2005)."),
    debug: Path = typer.Option(
        None, "--debug", help="Write each step's intermediate images under this folder."
    ),
) -> None:
    """Extract one template per image; print one JSON line per image."""
    d = _dpi(dpi)
    files = _input_images(input)
    stems = [f.stem for f in files]
    if len(set(stems)) != len(stems):
        _fail(f"{input}: two images share a stem; templates would overwrite each other")
    outdir.mkdir(parents=True, exist_ok=True)
    from crms import fingerprint as fp

    if debug is not None:
        fp.set_threads(1)
        for f in files:
            fp.extract_template(fp.load_image(f, d), debug_dir=debug / f.stem)
    failed = 0
    for f, r in zip(files, _extract_many(files, d), strict=True):
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
        typer.echo(json.dumps(line))
    if failed:
        raise typer.Exit(1)


def _load_templates(paths: list[Path], dpi) -> dict[Path, object]:
    """Templates for a list of unique paths: template files are read, images extracted."""
    from crms import fingerprint as fp
    from crms.errors import CrmsError

    out: dict[Path, object] = {}
    images = []
    for p in paths:
        if fp.is_template_file(p):
            try:
                out[p] = fp.load_template(p)
            except CrmsError as exc:
                _fail(exc.message)
        else:
            images.append(p)
    for p, r in zip(images, _extract_many(images, dpi) if images else [], strict=True):
        if r.error:
            _fail(r.error)
        out[p] = fp.loads(r.template)
    return out


@fp_app.command("score")
def score_cmd(
    pairs: Path = typer.Argument(..., help="TSV file: one 'a<TAB>b' per line (image or template paths)."),
    dpi: str = typer.Option(None, "--dpi", help="Resolution of the images in ppi, or 'auto'."),
) -> None:
    """Score each pair; print a<TAB>b<TAB>score in input order (score ≈ 10·log10(1/FMR))."""
    d = _dpi(dpi)
    try:
        text = pairs.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"{pairs}: cannot read ({exc})")
    rows: list[tuple[str, str]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.rstrip("\r").split("\t")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            _fail(f"{pairs}: line {n}: expected two paths separated by one tab")
        rows.append((parts[0], parts[1]))

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
                    _fail(f"{pairs}: pair {n}: {s}: no such file")
                unique[s] = p
    templates = _load_templates(list(dict.fromkeys(unique.values())), d)
    from crms import fingerprint as fp

    prepared = {p: fp.prepare(t) for p, t in templates.items()}
    for a, b in rows:
        s = float(fp.score(prepared[unique[a]], prepared[unique[b]]))
        sys.stdout.write(f"{a}\t{b}\t{s:.3f}\n")
    sys.stdout.flush()


def run_eval(folder: Path, dpi, processes: int | None = None) -> dict:
    """The FVC protocol on one folder; returns the JSON-ready summary (rates in percent)."""
    from crms import fingerprint as fp

    try:
        return fp.evaluate_folder(folder, dpi, processes)
    except ValueError as exc:
        _fail(str(exc))
    return {}


@fp_app.command("eval")
def eval_cmd(
    folder: Path = typer.Argument(..., help="Folder of images named FINGER_IMPRESSION.ext (e.g. 101_1.png)."),
    dpi: str = typer.Option(None, "--dpi", help="Resolution of the images in ppi, or 'auto'."),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object."),
) -> None:
    """FVC protocol: all pairs i<j, genuine = same FINGER; EER (FVC2000), FMR100, FMR1000, ZeroFMR."""
    if not folder.is_dir():
        _fail(f"{folder}: not a folder")
    res = run_eval(folder, _dpi(dpi))
    if as_json:
        typer.echo(json.dumps(res))
        return
    typer.echo(
        f"{folder}: {res['images']} images, {res['genuine']} genuine and {res['impostor']} impostor pairs\n"
        f"  EER      {res['eer']:.2f} %\n"
        f"  FMR100   {res['fmr100']:.2f} %\n"
        f"  FMR1000  {res['fmr1000']:.2f} %\n"
        f"  ZeroFMR  {res['zerofmr']:.2f} %\n"
        f"  extraction {res['extract_ms']:.0f} ms/image (one thread per worker), "
        f"comparison {res['compare_us']:.1f} µs/pair"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(fp_app, name="fp")
