"""Extract SOCOFing Real and Altered-Easy templates into a cache folder, for the 1:N benchmarks.

    nice -n 10 .venv/bin/python bench/identify_cache_socofing.py CACHE [--dpi size|auto] [--processes 1] \
        [--config leader] [--base size]

Resolution rule ``size`` (the default): 500 ppi for the 241 x 298 images, 170 ppi for every other image
(SOCOFING.md). ``auto``: each image's resolution is estimated from its ridge frequency. Templates land in
CACHE/<rule>/<folder>/<stem>.tpl (CACHE/<rule>-<config>/... for an extractor configuration other than
``leader``, the default; bench/identify_socofing.py reads it with ``--rule <rule>-<config>``); files already
there are kept, so the job can be stopped and resumed. ``--base RULE`` with a configuration that fills prints
left with fewer than ``min_minutiae`` minutiae: the templates of CACHE/RULE with at least that many minutiae
are copied (the rule never touches those prints) and only the other images are extracted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from crms.fingerprint.extract import CONFIGS, DEFAULT_CONFIG  # noqa: E402
from crms.fingerprint.images import list_images  # noqa: E402
from crms.fingerprint.serialise import load_template  # noqa: E402
from crms.fingerprint.workers import ExtractorPool  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "fingerprints" / "socofing"


def size_dpi(path: Path) -> int:
    with Image.open(path) as im:
        return 500 if im.size == (241, 298) else 170


def copy_unfilled(base: Path, out: Path, config: str) -> int:
    """Copy the templates of ``base`` that ``config``'s filling rule leaves as they are; how many."""
    floor = max((getattr(s.params, "min_minutiae", None) or 0) for s in CONFIGS[config].steps)
    if not floor:
        raise SystemExit(f"--base needs a configuration that fills prints; {config!r} does not")
    n = 0
    for f in base.glob("*.tpl"):
        if not (out / f.name).exists() and len(load_template(f).minutiae) >= floor:
            (out / f.name).write_bytes(f.read_bytes())
            n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cache", type=Path)
    ap.add_argument("--dpi", default="size", choices=["size", "auto"])
    ap.add_argument("--processes", type=int, default=1)
    ap.add_argument("--folders", default="Real,Altered-Easy")
    ap.add_argument("--config", default=DEFAULT_CONFIG, help="crms.fingerprint.extract configuration")
    ap.add_argument("--base", default="", help="rule folder whose unfilled templates are copied")
    ap.add_argument("--reverse", action="store_true", help="last file first (a second job meets the first)")
    a = ap.parse_args()
    t0 = time.time()
    rule = a.dpi if a.config == DEFAULT_CONFIG else f"{a.dpi}-{a.config}"
    with ExtractorPool(a.processes, config=a.config) as pool:
        for folder in a.folders.split(","):
            out = a.cache / rule / folder
            out.mkdir(parents=True, exist_ok=True)
            if a.base:
                n = copy_unfilled(a.cache / a.base / folder, out, a.config)
                print(f"{folder}: {n} templates copied from {a.base}", flush=True)
            todo = [f for f in list_images(DATA / folder) if not (out / (f.stem + ".tpl")).exists()]
            if a.reverse:
                todo.reverse()
            for i in range(0, len(todo), 50):
                chunk = [f for f in todo[i : i + 50] if not (out / (f.stem + ".tpl")).exists()]
                futs = [pool.submit(f, size_dpi(f) if a.dpi == "size" else "auto") for f in chunk]
                for f, fut in zip(chunk, futs, strict=True):
                    r = fut.result()
                    if r.error:
                        print(f"{f.name}: {r.error}", file=sys.stderr)
                        (out / (f.stem + ".err")).write_text(r.error)
                        continue
                    (out / (f.stem + ".tpl")).write_bytes(r.template)
                print(f"{folder}: {i + len(chunk)}/{len(todo)} {time.time() - t0:.0f} s", flush=True)
    print(f"total {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
