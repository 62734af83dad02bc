"""Minutia extraction: a pipeline of named steps, each a plain function over a context dict.

pyfing (GMFS segmentation, the classical algorithms, LEADER's post-processing) is imported only inside the
steps that need it, without Keras unless Keras is installed (:mod:`crms.fingerprint._pyfing`). LEADER's
network runs in ONNX Runtime through :mod:`crms.fingerprint.leader_onnx` (graph built in memory from the
weights file pyfing ships, read with h5py by :mod:`crms.fingerprint.leader_weights`). The PyTorch port
:mod:`crms.fingerprint.leader_torch` stays selectable where the ``fingerprint-torch`` extra is installed
(configuration ``leader_torch``; ``CRMS_LEADER_KERAS=1`` runs the Keras model there).

Configurations (``CONFIGS``):
  - ``leader``: GMFS segmentation (mask and quality) + LEADER end-to-end minutiae (ONNX Runtime).
  - ``leader_crop`` / ``leader_crop64``: the same, LEADER run on the foreground's bounding box plus 32 / 64 px
    only (see step_leader_crop); 6-15 % less CPU, but less accurate at low FMR on FVC2004 DB1
    (docs/BENCHMARKS.md), so not the default.
  - ``leader_torch``: ``leader`` with the PyTorch port of the network (the default before ONNX Runtime).
  - ``classic``: GMFS + GBFOE orientation + XSFFE frequency + GBFEN enhancement + SBMEX minutiae.
Intermediate results (mask, quality map, enhanced image, minutiae overlay) are written to a folder
when one is given, for inspection.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from crms.fingerprint import quality as q
from crms.fingerprint.images import FingerImage
from crms.fingerprint.template import (
    MINUTIA_BIFURCATION,
    MINUTIA_ENDING,
    MINUTIA_OTHER,
    Template,
)

DEFAULT_CONFIG = "leader"
LEADER_THRESHOLD = 0.6  # pyfing's default; see docs/BENCHMARKS.md
BORDER_PX = 6  # minutiae this close to the segmentation border are dropped (pixels at 500 ppi)
MAX_MINUTIAE = 150

_state: dict[str, object] = {}


def _pyfing():
    """Import pyfing once per process (Keras, when installed, on the torch backend, gradients off)."""
    if "pf" not in _state:
        from crms.fingerprint._pyfing import import_pyfing

        _state["pf"] = import_pyfing()
        torch = sys.modules.get("torch")
        if torch is not None and "threads" in _state:
            torch.set_num_threads(int(_state["threads"]))  # type: ignore[arg-type]
    return _state["pf"]


def set_threads(n: int) -> None:
    """Limit the deep-learning backend to ``n`` threads (1 in pool workers and benchmarks).

    ONNX Runtime takes its thread count when the LEADER session is made (the first extraction)."""
    _state["threads"] = max(1, n)
    torch = sys.modules.get("torch")  # only with the fingerprint-torch extra, once pyfing loaded Keras
    if torch is not None:
        torch.set_num_threads(max(1, n))
    import cv2

    cv2.setNumThreads(max(1, n))


def _alg(name: str):
    key = "alg_" + name
    if key not in _state:
        pf = _pyfing()
        if name == "GMFS":
            _state[key] = pf.Gmfs()
        elif name == "GBFOE":
            _state[key] = pf.Gbfoe()
        elif name == "XSFFE":
            _state[key] = pf.Xsffe()
        elif name == "GBFEN":
            _state[key] = pf.Gbfen()
        elif name == "SBMEX":
            _state[key] = pf.Sbmex()
        elif name == "LEADER":
            from crms.fingerprint.leader_onnx import LeaderOnnx

            params = pf.LeaderParameters(minutia_quality_threshold=LEADER_THRESHOLD)
            _state[key] = LeaderOnnx(params, threads=int(_state.get("threads", 1)))  # type: ignore[arg-type]
        elif name == "LEADER_TORCH":
            leader = pf.Leader(pf.LeaderParameters(minutia_quality_threshold=LEADER_THRESHOLD))
            if os.environ.get("KERAS_BACKEND") == "torch" and os.environ.get("CRMS_LEADER_KERAS") != "1":
                from crms.fingerprint.leader_torch import LeaderFast

                leader = LeaderFast(leader)  # same network in NCHW PyTorch: ~2.5x faster on a CPU
            _state[key] = leader
        else:  # pragma: no cover
            raise ValueError(name)
    return _state[key]


# ------------------------------------------------------------------------------------------ steps
Ctx = dict


def step_segment(ctx: Ctx) -> None:
    alg = _alg("GMFS")
    alg.parameters.image_dpi = 500
    ctx["mask"] = alg.run(ctx["image"])


def step_quality(ctx: Ctx) -> None:
    ctx["quality"] = q.assess(ctx["image"], ctx.get("mask"))


def step_leader(ctx: Ctx) -> None:
    ctx["raw_minutiae"] = _alg("LEADER").run(ctx["image"], 500)


def step_leader_torch(ctx: Ctx) -> None:
    ctx["raw_minutiae"] = _alg("LEADER_TORCH").run(ctx["image"], 500)


CROP_MARGIN = 32  # pixels of context kept around the foreground for the ``leader_crop`` configuration
NET_MULTIPLE = 32  # LEADER's input sides are multiples of 32 (pyfing pads to them)


def crop_range(
    lo: int, hi: int, size: int, margin: int = CROP_MARGIN, multiple: int = NET_MULTIPLE
) -> tuple[int, int]:
    """[lo, hi) widened by ``margin``, then to a multiple of ``multiple`` with real pixels where the
    image has them (the network pads to that multiple anyway), clipped to [0, size)."""
    a, b = max(0, lo - margin), min(size, hi + margin)
    want = min(size, -(-(b - a) // multiple) * multiple)
    extra = want - (b - a)
    a = max(0, a - extra // 2)
    b = min(size, a + want)
    return max(0, b - want), b


def step_leader_crop(ctx: Ctx, margin: int = CROP_MARGIN) -> None:
    """LEADER on the foreground's bounding box (plus a margin) only: less background to push through.

    The box is widened to the network's multiple of 32 with image pixels, and any padding uses the
    whole image's top-left pixel (the background), as for the full image."""
    img, mask = ctx["image"], ctx["mask"]
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        ctx["raw_minutiae"] = []
        return
    h, w = img.shape
    y0, y1 = crop_range(int(ys.min()), int(ys.max()) + 1, h, margin)
    x0, x1 = crop_range(int(xs.min()), int(xs.max()) + 1, w, margin)
    raw = _alg("LEADER").run(np.ascontiguousarray(img[y0:y1, x0:x1]), 500, fill=int(img[0, 0]))
    ctx["raw_minutiae"] = [(x + x0, y + y0, d, t, qq) for x, y, d, t, qq in raw]


def step_orientation(ctx: Ctx) -> None:
    ctx["orientation"] = _alg("GBFOE").run(ctx["image"], ctx["mask"], 500)[0]


def step_frequency(ctx: Ctx) -> None:
    ctx["period"] = _alg("XSFFE").run(ctx["image"], ctx["mask"], ctx["orientation"], 500)


def step_enhance(ctx: Ctx) -> None:
    ctx["enhanced"] = _alg("GBFEN").run(ctx["image"], ctx["mask"], ctx["orientation"], ctx["period"], 500)


def step_sbmex(ctx: Ctx) -> None:
    ctx["raw_minutiae"] = _alg("SBMEX").run(ctx["enhanced"], ctx["mask"], 500)


_TYPES = {"E": MINUTIA_ENDING, "B": MINUTIA_BIFURCATION}


def step_to_template(ctx: Ctx) -> None:
    """pyfing minutiae -> (N, 5) array; drop those at the segmentation border; keep the best."""
    import cv2

    raw = ctx["raw_minutiae"]
    m = np.array(
        [
            (x, y, math.fmod(d, 2 * math.pi) % (2 * math.pi), _TYPES.get(t, MINUTIA_OTHER), qq * 100)
            for x, y, d, t, qq in raw
        ],
        dtype=np.float32,
    ).reshape(-1, 5)
    mask = ctx.get("mask")
    if mask is not None and m.shape[0]:
        inner = cv2.erode((mask > 0).astype(np.uint8), np.ones((2 * BORDER_PX + 1,) * 2, np.uint8))
        h, w = inner.shape
        xi = np.clip(m[:, 0].astype(int), 0, w - 1)
        yi = np.clip(m[:, 1].astype(int), 0, h - 1)
        m = m[inner[yi, xi] > 0]
    if m.shape[0] > MAX_MINUTIAE:
        keep = np.sort(np.argsort(-m[:, 4], kind="stable")[:MAX_MINUTIAE])
        m = m[keep]
    ctx["minutiae"] = m


@dataclass
class Pipeline:
    name: str
    steps: list[tuple[str, Callable[[Ctx], None]]] = field(default_factory=list)
    algorithms: tuple[str, ...] = ()  # loaded before timing starts


def warm(config: str = DEFAULT_CONFIG) -> None:
    """Load the models of a configuration (done once per process, outside the timed extraction)."""
    for name in CONFIGS[config].algorithms:
        _alg(name)


CONFIGS: dict[str, Pipeline] = {
    "leader": Pipeline(
        "GMFS + LEADER",
        [
            ("segment", step_segment),
            ("quality", step_quality),
            ("minutiae", step_leader),
            ("template", step_to_template),
        ],
        ("GMFS", "LEADER"),
    ),
    "leader_torch": Pipeline(
        "GMFS + LEADER (PyTorch port)",
        [
            ("segment", step_segment),
            ("quality", step_quality),
            ("minutiae", step_leader_torch),
            ("template", step_to_template),
        ],
        ("GMFS", "LEADER_TORCH"),
    ),
    "leader_crop": Pipeline(
        "GMFS + LEADER on the foreground box",
        [
            ("segment", step_segment),
            ("quality", step_quality),
            ("minutiae", step_leader_crop),
            ("template", step_to_template),
        ],
        ("GMFS", "LEADER"),
    ),
    "leader_crop64": Pipeline(
        "GMFS + LEADER on the foreground box + 64 px",
        [
            ("segment", step_segment),
            ("quality", step_quality),
            ("minutiae", partial(step_leader_crop, margin=64)),
            ("template", step_to_template),
        ],
        ("GMFS", "LEADER"),
    ),
    "classic": Pipeline(
        "GMFS + GBFOE + XSFFE + GBFEN + SBMEX",
        [
            ("segment", step_segment),
            ("quality", step_quality),
            ("orientation", step_orientation),
            ("frequency", step_frequency),
            ("enhance", step_enhance),
            ("minutiae", step_sbmex),
            ("template", step_to_template),
        ],
        ("GMFS", "GBFOE", "XSFFE", "GBFEN", "SBMEX"),
    ),
}


@dataclass
class Extraction:
    template: Template
    ms: float
    timings: dict[str, float]
    quality: q.QualityResult


def extract(
    img: FingerImage, config: str = DEFAULT_CONFIG, debug_dir: str | Path | None = None
) -> Extraction:
    """Run a pipeline on a 500 ppi image and return the template (with timings per step)."""
    if config not in CONFIGS:
        raise ValueError(f"unknown extractor configuration {config!r}; choose from {sorted(CONFIGS)}")
    warm(config)
    ctx: Ctx = {"image": img.pixels}
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    for name, fn in CONFIGS[config].steps:
        t = time.perf_counter()
        fn(ctx)
        timings[name] = (time.perf_counter() - t) * 1000
    ms = (time.perf_counter() - t0) * 1000
    qual: q.QualityResult = ctx["quality"]
    tpl = Template(
        width=img.width,
        height=img.height,
        minutiae=ctx["minutiae"],
        quality=qual.score,
        dpi=int(round(img.dpi)),
    )
    if debug_dir is not None:
        write_intermediates(ctx, Path(debug_dir))
    return Extraction(tpl, ms, timings, qual)


def write_intermediates(ctx: Ctx, folder: Path) -> None:
    """Write each intermediate result of a pipeline run as PNG/NPY files for inspection."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / "0_image.png"), ctx["image"])
    if "mask" in ctx:
        cv2.imwrite(str(folder / "1_mask.png"), ctx["mask"])
    if "quality" in ctx:
        loc = ctx["quality"].local
        cv2.imwrite(
            str(folder / "2_quality.png"),
            cv2.resize(
                (loc * 255).astype(np.uint8), None, fx=q.BLOCK, fy=q.BLOCK, interpolation=cv2.INTER_NEAREST
            ),
        )
    if "orientation" in ctx:
        np.save(folder / "3_orientation.npy", ctx["orientation"])
    if "period" in ctx:
        np.save(folder / "4_period.npy", ctx["period"])
    if "enhanced" in ctx:
        cv2.imwrite(str(folder / "5_enhanced.png"), ctx["enhanced"])
    if "minutiae" in ctx:
        cv2.imwrite(str(folder / "6_minutiae.png"), draw_minutiae(ctx["image"], ctx["minutiae"]))


def draw_minutiae(pixels: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Overlay: endings red, bifurcations blue; a tick shows the direction (counter-clockwise, y down)."""
    import cv2

    out = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    for x, y, d, t, _ in m:
        color = (
            (0, 0, 255) if t == MINUTIA_ENDING else (255, 0, 0) if t == MINUTIA_BIFURCATION else (0, 200, 0)
        )
        p = (int(round(x)), int(round(y)))
        cv2.circle(out, p, 4, color, 1, cv2.LINE_AA)
        cv2.line(
            out,
            p,
            (int(round(x + 10 * math.cos(d))), int(round(y - 10 * math.sin(d)))),
            color,
            1,
            cv2.LINE_AA,
        )
    return out
