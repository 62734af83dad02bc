"""``crms synth fingers``: a synthetic fingerprint set with known mates, FVC naming, 500 ppi PNG.

  crms synth fingers --count N --impressions K --out DIR [--seed S] [--latent] [--jobs J] [--difficulty D]

Finger i (from 1) impression k (from 1) is written as ``DIR/i_k.png``. Finger i is the same for a given seed
whatever --count or --jobs, so a plain set and a --latent set made with the same seed are mates. A
``manifest.csv`` (finger, class) is written beside the images. Heavy libraries load inside the command.
"""

from __future__ import annotations

from pathlib import Path

import typer

synth_app = typer.Typer(help="Synthetic fingerprints (SFinGe-style generator).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(synth_app, name="synth")


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)


def _make_finger(args: tuple[int, int, int, bool, str, float]) -> tuple[int, str]:
    """Worker: generate finger ``index`` (0-based) and write its impressions. Returns (index, class)."""
    from crms.fingerprint import (
        fvc_name,
        generate_master,
        render_impression,
        render_latent,
        write_png,
    )

    seed, index, impressions, latent, out, difficulty = args
    master = generate_master(seed, index)
    for k in range(impressions):
        img = render_latent(master, k) if latent else render_impression(master, k, difficulty=difficulty)
        write_png(Path(out) / fvc_name(index + 1, k + 1), img)
    return index, master.fp_class


@synth_app.command("fingers")
def fingers(
    count: int = typer.Option(..., "--count", min=1, max=1_000_000, help="How many fingers."),
    impressions: int = typer.Option(..., "--impressions", min=1, max=100, help="Impressions per finger."),
    out: Path = typer.Option(..., "--out", help="Folder for FINGER_IMPRESSION.png files (created)."),
    seed: int = typer.Option(0, "--seed", min=0, max=2**63 - 1, help="Seed: same seed, same bytes."),
    latent: bool = typer.Option(
        False, "--latent", help="Latent-like impressions (partial, smudged, textured)."
    ),
    jobs: int = typer.Option(1, "--jobs", min=1, max=64, help="Worker processes (output is the same)."),
    difficulty: float = typer.Option(
        0.0,
        "--difficulty",
        min=0.0,
        max=1.0,
        help="Plain impressions: 0 clean .. 1 very hard (see docs/BENCHMARKS.md).",
    ),
) -> None:
    """Generate COUNT synthetic fingers with IMPRESSIONS mated impressions each, at 500 ppi."""
    import csv
    from concurrent.futures import ProcessPoolExecutor

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

    if out.exists() and not out.is_dir():
        typer.echo(f"error: --out {out}: exists and is not a folder", err=True)
        raise typer.Exit(2)
    out.mkdir(parents=True, exist_ok=True)
    tasks = [(seed, i, impressions, latent, str(out), difficulty) for i in range(count)]
    classes: dict[int, str] = {}
    kind = "latent" if latent else "plain"
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ) as progress:
        bar = progress.add_task(f"{kind} fingers", total=count)
        if jobs == 1:
            _init_worker()
            for task in tasks:
                i, cls = _make_finger(task)
                classes[i] = cls
                progress.advance(bar)
        else:
            with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker) as pool:
                for i, cls in pool.map(_make_finger, tasks, chunksize=4):
                    classes[i] = cls
                    progress.advance(bar)
    with (out / "manifest.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["finger", "class", "seed", "impressions", "kind", "difficulty"])
        for i in range(count):
            w.writerow([i + 1, classes[i], seed, impressions, kind, difficulty])
    typer.echo(f"{count * impressions} {kind} impressions of {count} fingers written to {out}")
