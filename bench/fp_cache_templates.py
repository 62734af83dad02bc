"""Extract templates for the 8 FVC B sets (true resolutions) into a cache folder, for matcher work.

.venv/bin/python bench/fp_cache_templates.py [DATA_DIR/cache/templates] [--config leader]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from _cache import cache_dir  # noqa: E402  (bench/ is on sys.path when run as a script)
from fp_eval import DATA, SETS  # noqa: E402

from crms.fingerprint.images import list_images  # noqa: E402
from crms.fingerprint.workers import ExtractorPool  # noqa: E402


def write_templates(out: Path, extract_files: Callable[[list[Path], int], list], only: str = "") -> None:
    """Each FVC B set's templates under ``out``/year/db, extracted by ``extract_files(files, dpi)`` (a list
    of ``crms.fingerprint.workers.ExtractResult``); ``only``: the sets whose year/db contains it."""
    t0 = time.time()
    for year, db, dpi in SETS:
        if only not in f"{year}/{db}":
            continue
        files = list_images(DATA / year / db)
        res = extract_files(files, dpi)
        d = out / year / db
        d.mkdir(parents=True, exist_ok=True)
        for f, r in zip(files, res, strict=True):
            if r.error:
                print(f"{f}: {r.error}", file=sys.stderr)
                continue
            (d / (f.stem + ".tpl")).write_bytes(r.template)
        ms = sum(r.ms for r in res) / len(res)
        nm = sum(r.minutiae for r in res) / len(res)
        print(f"{year}/{db}: {len(res)} templates, {ms:.0f} ms/image, {nm:.1f} minutiae", flush=True)
    print(f"total {time.time() - t0:.0f} s")


def write_templates_in_process(out: Path, config: str) -> None:
    """``write_templates`` with configuration ``config`` in this one process: for a configuration registered
    here (``fp_leader_profile.with_graph`` / ``with_session``), which worker processes would not know."""
    from crms.fingerprint import extract
    from crms.fingerprint.workers import extract_many

    extract._state["config"] = config  # what extract_many runs in this process
    write_templates(out, lambda files, dpi: extract_many(files, dpi, processes=1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?", default=str(cache_dir("templates")))
    ap.add_argument("--config", default="leader")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--only", default="", help="only sets whose year/db contains this text")
    a = ap.parse_args()
    with ExtractorPool(a.processes, config=a.config) as pool:
        write_templates(Path(a.out), pool.map, a.only)


if __name__ == "__main__":
    main()
