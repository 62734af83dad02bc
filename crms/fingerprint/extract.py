"""Minutia extraction: a pipeline of named steps, each a plain function over a context dict.

pyfing (GMFS segmentation, the classical algorithms, LEADER's post-processing) is imported only inside the
steps that need it, without Keras unless Keras is installed (:mod:`crms.fingerprint._pyfing`). LEADER's
network runs in ONNX Runtime through :mod:`crms.fingerprint.leader_onnx` (graph built in memory from the
weights file pyfing ships, read with h5py by :mod:`crms.fingerprint.leader_weights`). The PyTorch port
:mod:`crms.fingerprint.leader_torch` stays selectable where the ``fingerprint-torch`` extra is installed
(configuration ``leader_torch``; ``CRMS_LEADER_KERAS=1`` runs the Keras model there).

Configurations (``CONFIGS``):
  - ``leader``: GMFS segmentation (mask and quality) + LEADER end-to-end minutiae (ONNX Runtime), the
    network run on the window of the padded image that covers the foreground's bounding box + 64 px, its
    edges on the network's grid of 32 (``_leader_crop``): less background, the same minutiae but for a
    few near the window's edge (docs/BENCHMARKS.md). A print left with fewer than 8 minutiae once the
    border rule has run is filled to 8 from the network's other candidates down to quality 0.1
    (``LeaderParams.min_minutiae``).
  - ``leader_full``: the same with the network on the whole image (the default before the window).
  - ``leader_s90`` / ``leader_s80`` / ``leader_s50``: ``leader`` with the network reading the image scaled
    by 0.9 / 0.8 / 0.5 (16 % / 32 % / about 70 % less network CPU, less accurate on FVC:
    docs/BENCHMARKS.md), so not the default; ``leader_s50+FILE.npz`` measures an adaptation to 0.5.
  - ``leader_a75``: ``leader`` with the network reading the image scaled by 0.75 and its spatial layers
    retrained for that scale (``LeaderParams.adapted``, ``leader_weights.adapted_weights``): about 35 %
    less CPU, less accurate on FVC than ``leader`` (docs/BENCHMARKS.md), so not the default.
  - ``leader_nofill`` / ``leader_fill10``: ``leader`` without filling prints left with few minutiae, and
    with them filled to 10 instead of 8 (``LeaderParams.min_minutiae``; docs/BENCHMARKS.md).
  - ``leader_torch``: ``leader`` with the PyTorch port of the network (the default before ONNX Runtime).
  - ``classic``: GMFS + GBFOE orientation + XSFFE frequency + GBFEN enhancement + SBMEX minutiae.
  - ``NAME+FILE.npz`` (:func:`pipeline`): configuration NAME with LEADER's weights changed by an adaptation
    or pruning file that bench/fp_leader_adapt.py or bench/fp_leader_prune.py wrote, to measure it.
Each step is a function of the context and of its own frozen parameter object
(:mod:`crms.fingerprint.params`); the pyfing algorithm objects are cached per parameter object and never
changed. ``extract(..., trace=sink)`` hands each step's intermediates to ``sink(step, data)``;
:class:`TraceFolder` is a sink that writes them as PNG images and JSON (``crms fp extract --trace DIR``).
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from crms.fingerprint import quality as q
from crms.fingerprint.images import FingerImage
from crms.fingerprint.params import (
    LeaderParams,
    PyfingParams,
    QualityParams,
    SegmentParams,
    TemplateParams,
    as_dict,
)
from crms.fingerprint.template import (
    MINUTIA_BIFURCATION,
    MINUTIA_ENDING,
    MINUTIA_OTHER,
    Template,
)

DEFAULT_CONFIG = "leader"
DEFAULT_SEGMENT = SegmentParams()
DEFAULT_LEADER = LeaderParams()
FULL_LEADER = LeaderParams(crop_margin=None)
DEFAULT_TEMPLATE = TemplateParams()
DEFAULT_QUALITY = q.DEFAULT_QUALITY

_state: dict[Any, object] = {}
# pyfing's import and the algorithm objects are made once per process, under this lock: threads that extract
# at once (crms fp identify with several prints) must not see a half-imported pyfing or build a model twice.
_init_lock = threading.RLock()


def _pyfing():
    """Import pyfing once per process (Keras, when installed, on the torch backend, gradients off)."""
    pf = _state.get("pf")
    if pf is not None:
        return pf
    with _init_lock:
        if "pf" not in _state:
            from crms.fingerprint._pyfing import import_pyfing

            module = import_pyfing()
            torch = sys.modules.get("torch")
            if torch is not None and "threads" in _state:
                torch.set_num_threads(int(_state["threads"]))  # type: ignore[arg-type]
            _state["pf"] = module  # published only once fully imported
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


def _alg(kind: str, params: Any = None):
    """The algorithm object for (kind, parameter object), made once per process and never changed:
    kind "pyfing" (``params`` a PyfingParams), "LEADER" (ONNX Runtime) or "LEADER_TORCH" (LeaderParams,
    default ``DEFAULT_LEADER``)."""
    if params is None and kind in ("LEADER", "LEADER_TORCH"):
        params = DEFAULT_LEADER
    if kind in ("LEADER", "LEADER_TORCH"):  # one network per threshold it runs with, not per setting
        params = replace(
            params,
            low_res_threshold=None,
            crop_margin=None,
            network_scale=1.0,
            min_minutiae=None,
            fill_threshold=0.0,
        )
    key = ("alg", kind, params)
    made = _state.get(key)
    if made is not None:
        return made
    with _init_lock:
        return _make_alg(key, kind, params)


def _make_alg(key: tuple, kind: str, params: Any):
    if key not in _state:
        pf = _pyfing()
        if kind == "pyfing":
            cls = getattr(pf, params.algorithm)
            _state[key] = cls(getattr(pf, params.algorithm + "Parameters")(**dict(params.values)))
        elif kind in ("LEADER", "LEADER_TORCH"):
            lp = pf.LeaderParameters(
                dnn_input_size_multiple=params.input_size_multiple,
                minutia_quality_threshold=params.minutia_quality_threshold,
                type_threshold=params.type_threshold,
            )
            if kind == "LEADER":
                from crms.fingerprint.leader_onnx import LeaderOnnx

                weights = None
                if params.adapted is not None:
                    from crms.fingerprint.leader_weights import adapted_weights

                    weights = adapted_weights(params.adapted)
                threads = int(_state.get("threads", 1))
                _state[key] = LeaderOnnx(lp, threads=threads, weights=weights)  # type: ignore[arg-type]
            else:
                leader = pf.Leader(lp)
                if os.environ.get("KERAS_BACKEND") == "torch" and os.environ.get("CRMS_LEADER_KERAS") != "1":
                    from crms.fingerprint.leader_torch import LeaderFast

                    leader = LeaderFast(leader)  # same network in NCHW PyTorch: ~2.5x faster on a CPU
                _state[key] = leader
        else:  # pragma: no cover
            raise ValueError(kind)
    return _state[key]


# ------------------------------------------------------------------------------------------ steps
Ctx = dict
Trace = Callable[[str, dict[str, Any]], None]


def step_segment(ctx: Ctx, p: SegmentParams) -> None:
    ctx["mask"] = _alg("pyfing", p.as_pyfing()).run(ctx["image"])


def step_quality(ctx: Ctx, p: QualityParams) -> None:
    ctx["quality"] = q.assess(ctx["image"], ctx.get("mask"), p=p)


def _for_image(ctx: Ctx, p: LeaderParams) -> LeaderParams:
    """``p`` with the quality threshold for this image's source resolution (a network per threshold:
    thresholding after a run at a lower one moves directions by float rounding)."""
    t = p.threshold_for(ctx.get("source_dpi"))
    return p if t == p.minutia_quality_threshold else replace(p, minutia_quality_threshold=t)


@dataclass(frozen=True)
class Refill:
    """What the template step needs to fill a print left with fewer than ``to`` minutiae: the network
    again at quality ``floor`` (``again()``: its raw minutiae); ``threshold`` is the print's own."""

    to: int
    threshold: float
    floor: float
    again: Callable[[], list]


def _fill(ctx: Ctx, p: LeaderParams, run: Callable[[Ctx, LeaderParams], None]) -> None:
    """``run`` at the image's threshold; with ``p.min_minutiae``, leave the template step a ``Refill``
    (run only for a print that keeps fewer than that many minutiae once the border rule has dropped
    its own)."""
    p = _for_image(ctx, p)
    run(ctx, p)
    if p.min_minutiae and p.fill_threshold < p.minutia_quality_threshold:

        def again() -> list:
            scratch = dict(ctx)
            run(scratch, replace(p, minutia_quality_threshold=p.fill_threshold))
            return scratch["raw_minutiae"]

        ctx["refill"] = Refill(p.min_minutiae, p.minutia_quality_threshold, p.fill_threshold, again)


def _leader(ctx: Ctx, p: LeaderParams) -> None:
    if p.network_scale != 1.0:
        _leader_scaled(ctx, p)
    elif p.crop_margin is not None and ctx.get("mask") is not None:  # no mask: the whole image
        _leader_crop(ctx, p)
    else:
        ctx["raw_minutiae"] = _alg("LEADER", p).run(ctx["image"], 500)


def step_leader(ctx: Ctx, p: LeaderParams) -> None:
    _fill(ctx, p, _leader)


def _leader_scaled(ctx: Ctx, p: LeaderParams) -> None:
    """LEADER on the image scaled by ``p.network_scale`` (area interpolation), then its minutiae's
    positions scaled back to the image (pixel centres, rounded); with a mask, on the scaled foreground's
    window as in ``_leader_crop`` (margin in network pixels)."""
    import cv2

    img, mask, s = ctx["image"], ctx.get("mask"), p.network_scale
    h, w = img.shape
    sw, sh = max(1, round(w * s)), max(1, round(h * s))
    small = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA)
    box = None
    if mask is not None and p.crop_margin is not None:
        b = foreground_box(mask)
        if b is None:
            ctx["raw_minutiae"] = []
            return
        fy, fx = sh / h, sw / w
        box = (
            int(b[0] * fy),
            min(sh, math.ceil(b[1] * fy)),
            int(b[2] * fx),
            min(sw, math.ceil(b[3] * fx)),
        )
    raw = _alg("LEADER", p).run(small, 500, box=box, margin=int(p.crop_margin or 0))
    ctx["raw_minutiae"] = [
        (
            min(w - 1, max(0, round((x + 0.5) * w / sw - 0.5))),
            min(h - 1, max(0, round((y + 0.5) * h / sh - 0.5))),
            d,
            t,
            q,
        )
        for x, y, d, t, q in raw
    ]


def _leader_torch(ctx: Ctx, p: LeaderParams) -> None:
    ctx["raw_minutiae"] = _alg("LEADER_TORCH", p).run(ctx["image"], 500)


def step_leader_torch(ctx: Ctx, p: LeaderParams) -> None:
    _fill(ctx, p, _leader_torch)


def foreground_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1), the bounding box of a segmentation mask's foreground; None when it is empty."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _leader_crop(ctx: Ctx, p: LeaderParams) -> None:
    """LEADER on the window of the padded image around the foreground's bounding box (plus
    ``p.crop_margin``, edges on the network's grid: :func:`crms.fingerprint.leader_onnx.network_window`):
    less background to push through. Minutiae outside the mask are dropped by the template step
    anyway, so an empty mask gives none."""
    box = foreground_box(ctx["mask"])
    if box is None:
        ctx["raw_minutiae"] = []
        return
    ctx["raw_minutiae"] = _alg("LEADER", p).run(ctx["image"], 500, box=box, margin=int(p.crop_margin or 0))


def step_orientation(ctx: Ctx, p: PyfingParams) -> None:
    ctx["orientation"] = _alg("pyfing", p).run(ctx["image"], ctx["mask"], 500)[0]


def step_frequency(ctx: Ctx, p: PyfingParams) -> None:
    ctx["period"] = _alg("pyfing", p).run(ctx["image"], ctx["mask"], ctx["orientation"], 500)


def step_enhance(ctx: Ctx, p: PyfingParams) -> None:
    ctx["enhanced"] = _alg("pyfing", p).run(ctx["image"], ctx["mask"], ctx["orientation"], ctx["period"], 500)


def step_sbmex(ctx: Ctx, p: PyfingParams) -> None:
    ctx["raw_minutiae"] = _alg("pyfing", p).run(ctx["enhanced"], ctx["mask"], 500)


_TYPES = {"E": MINUTIA_ENDING, "B": MINUTIA_BIFURCATION}


def _as_array(raw: list) -> np.ndarray:
    """pyfing minutiae (x, y, direction, "E"/"B", quality 0-1) -> (N, 5) float32, quality 0-100."""
    return np.array(
        [
            (x, y, math.fmod(d, 2 * math.pi) % (2 * math.pi), _TYPES.get(t, MINUTIA_OTHER), qq * 100)
            for x, y, d, t, qq in raw
        ],
        dtype=np.float32,
    ).reshape(-1, 5)


def _inside(m: np.ndarray, mask: np.ndarray | None, border_px: int) -> np.ndarray:
    """The minutiae at least ``border_px`` inside the segmentation mask (all of them without a mask)."""
    import cv2

    if mask is None or not m.shape[0]:
        return m
    inner = cv2.erode((mask > 0).astype(np.uint8), np.ones((2 * border_px + 1,) * 2, np.uint8))
    h, w = inner.shape
    xi = np.clip(m[:, 0].astype(int), 0, w - 1)
    yi = np.clip(m[:, 1].astype(int), 0, h - 1)
    return m[inner[yi, xi] > 0]


def fill_keep(quality: np.ndarray, threshold: float, to: int, floor: float = 0.0) -> np.ndarray:
    """Which minutiae a filled print keeps (qualities 0-100, thresholds 0-1): every one at or above
    ``threshold``, then the best of the others at or above ``floor`` until there are ``to``."""
    keep = quality >= threshold * 100 - 1e-3
    order = np.argsort(-quality, kind="stable")
    keep[order[quality[order] >= floor * 100 - 1e-3][:to]] = True
    return keep


def step_to_template(ctx: Ctx, p: TemplateParams) -> None:
    """pyfing minutiae -> (N, 5) array; drop those at the segmentation border; a print left with too few
    is filled (``Refill``: all it had, then the best of the network's others down to the floor, up to
    the minimum); keep the best ``max_minutiae``."""
    m = _inside(_as_array(ctx["raw_minutiae"]), ctx.get("mask"), p.border_px)
    refill: Refill | None = ctx.get("refill")
    if refill is not None and m.shape[0] < refill.to:
        ctx["fill_minutiae"] = refill.again()
        m = _inside(_as_array(ctx["fill_minutiae"]), ctx.get("mask"), p.border_px)
        m = m[fill_keep(m[:, 4], refill.threshold, refill.to)]
        ctx["fill"] = {"to": refill.to, "threshold": refill.threshold, "floor": refill.floor}
    if m.shape[0] > p.max_minutiae:
        keep = np.sort(np.argsort(-m[:, 4], kind="stable")[: p.max_minutiae])
        m = m[keep]
    ctx["minutiae"] = m


# What each step leaves in the context (handed to a trace sink after the step).
STEP_OUTPUTS: dict[str, tuple[str, ...]] = {
    "segment": ("mask",),
    "quality": ("quality",),
    "orientation": ("orientation",),
    "frequency": ("period",),
    "enhance": ("enhanced",),
    "minutiae": ("raw_minutiae",),
    "template": ("fill", "fill_minutiae", "minutiae"),
}


@dataclass(frozen=True)
class Step:
    """A named step: ``fn(ctx, params)``."""

    name: str
    fn: Callable[[Ctx, Any], None]
    params: Any = None


@dataclass(frozen=True)
class Pipeline:
    name: str
    steps: tuple[Step, ...] = ()

    def params(self) -> dict[str, Any]:
        """Each step's parameters, JSON-ready."""
        return {s.name: (as_dict(s.params) if s.params is not None else None) for s in self.steps}


def pipeline(config: str) -> Pipeline:
    """The pipeline of a configuration name: one of ``CONFIGS``, or ``NAME+FILE.npz`` for configuration
    NAME with its LEADER weights changed by that file (``leader_weights.adapted_weights``: an adaptation
    or a pruning written by bench/fp_leader_adapt.py or bench/fp_leader_prune.py), for measuring one."""
    if config not in CONFIGS and "+" in config:
        base, path = config.split("+", 1)
        if base in CONFIGS and path.endswith(".npz") and Path(path).is_file():
            steps = tuple(
                replace(s, params=replace(s.params, adapted=path)) if s.fn is step_leader else s
                for s in CONFIGS[base].steps
            )
            CONFIGS[config] = Pipeline(f"{CONFIGS[base].name}, LEADER weights from {Path(path).name}", steps)
    if config not in CONFIGS:
        raise ValueError(
            f"unknown extractor configuration {config!r}; choose from {sorted(CONFIGS)} "
            "(or NAME+FILE.npz, an existing weights file)"
        )
    return CONFIGS[config]


def _algorithms(config: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for s in pipeline(config).steps:
        if s.fn is step_segment:
            out.append(("pyfing", s.params.as_pyfing()))
        elif s.fn is step_leader:
            out.append(("LEADER", s.params))
        elif s.fn is step_leader_torch:
            out.append(("LEADER_TORCH", s.params))
        elif isinstance(s.params, PyfingParams):
            out.append(("pyfing", s.params))
    return out


def warm(config: str = DEFAULT_CONFIG) -> None:
    """Load the models of a configuration (done once per process, outside the timed extraction)."""
    for kind, params in _algorithms(config):
        _alg(kind, params)


def _leader_pipeline(name: str, minutiae: Step) -> Pipeline:
    return Pipeline(
        name,
        (
            Step("segment", step_segment, DEFAULT_SEGMENT),
            Step("quality", step_quality, DEFAULT_QUALITY),
            minutiae,
            Step("template", step_to_template, DEFAULT_TEMPLATE),
        ),
    )


CONFIGS: dict[str, Pipeline] = {
    "leader": _leader_pipeline(
        "GMFS + LEADER on the foreground's window", Step("minutiae", step_leader, DEFAULT_LEADER)
    ),
    "leader_full": _leader_pipeline(
        "GMFS + LEADER on the whole image", Step("minutiae", step_leader, FULL_LEADER)
    ),
    "leader_torch": _leader_pipeline(
        "GMFS + LEADER (PyTorch port)", Step("minutiae", step_leader_torch, DEFAULT_LEADER)
    ),
    "leader_s90": _leader_pipeline(
        "GMFS + LEADER at 0.9 scale on the foreground's window",
        Step("minutiae", step_leader, LeaderParams(network_scale=0.9)),
    ),
    "leader_s80": _leader_pipeline(
        "GMFS + LEADER at 0.8 scale on the foreground's window",
        Step("minutiae", step_leader, LeaderParams(network_scale=0.8)),
    ),
    "leader_s50": _leader_pipeline(
        "GMFS + LEADER at 0.5 scale on the foreground's window",
        Step("minutiae", step_leader, LeaderParams(network_scale=0.5)),
    ),
    "leader_a75": _leader_pipeline(
        "GMFS + LEADER adapted to 0.75 scale on the foreground's window",
        Step("minutiae", step_leader, LeaderParams(network_scale=0.75, adapted="scale075")),
    ),
    # Filling of prints left with few minutiae (docs/BENCHMARKS.md, "Few minutiae: filling").
    "leader_nofill": _leader_pipeline(
        "GMFS + LEADER on the foreground's window, no filling",
        Step("minutiae", step_leader, replace(DEFAULT_LEADER, min_minutiae=None)),
    ),
    "leader_fill10": _leader_pipeline(
        "GMFS + LEADER, prints with < 10 minutiae filled from threshold 0.1",
        Step("minutiae", step_leader, replace(DEFAULT_LEADER, min_minutiae=10)),
    ),
    "classic": Pipeline(
        "GMFS + GBFOE + XSFFE + GBFEN + SBMEX",
        (
            Step("segment", step_segment, DEFAULT_SEGMENT),
            Step("quality", step_quality, DEFAULT_QUALITY),
            Step("orientation", step_orientation, PyfingParams("Gbfoe")),
            Step("frequency", step_frequency, PyfingParams("Xsffe")),
            Step("enhance", step_enhance, PyfingParams("Gbfen")),
            Step("minutiae", step_sbmex, PyfingParams("Sbmex")),
            Step("template", step_to_template, DEFAULT_TEMPLATE),
        ),
    ),
}


@dataclass
class Extraction:
    template: Template
    ms: float
    timings: dict[str, float]
    quality: q.QualityResult


def resolution_info(img: FingerImage) -> dict[str, Any]:
    """Which source resolution was used for an image and why (for every output that names one)."""
    info: dict[str, Any] = {"dpi": img.dpi, "dpi_source": img.dpi_source}
    for k in ("dpi_file", "dpi_estimate", "dpi_reason"):
        v = getattr(img, k, None)
        if v is not None:
            info[k] = v
    return info


def extract(
    img: FingerImage,
    config: str = DEFAULT_CONFIG,
    debug_dir: str | Path | None = None,
    trace: Trace | None = None,
) -> Extraction:
    """Run a pipeline on a 500 ppi image and return the template (with timings per step).

    ``trace``: called as ``trace(step, data)`` with the input (step "image") and after each step with
    what that step produced (see ``STEP_OUTPUTS``) and its parameters; ``debug_dir`` is a shortcut for
    ``trace=TraceFolder(debug_dir)``. Tracing changes nothing in the result."""
    pipe = pipeline(config)
    if trace is None and debug_dir is not None:
        trace = TraceFolder(Path(debug_dir))
    warm(config)
    ctx: Ctx = {"image": img.pixels, "source_dpi": img.dpi}
    if trace is not None:
        trace(
            "image",
            {"image": img.pixels, "config": config, "pipeline": pipe.name, **resolution_info(img)},
        )
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    for step in pipe.steps:
        t = time.perf_counter()
        step.fn(ctx, step.params)
        timings[step.name] = (time.perf_counter() - t) * 1000
        if trace is not None:
            data = {k: ctx[k] for k in STEP_OUTPUTS.get(step.name, ()) if k in ctx}
            data["params"] = as_dict(step.params) if step.params is not None else None
            trace(step.name, data)
    ms = (time.perf_counter() - t0) * 1000
    qual: q.QualityResult = ctx["quality"]
    tpl = Template(
        width=img.width,
        height=img.height,
        minutiae=ctx["minutiae"],
        quality=qual.score,
        dpi=int(round(img.dpi)),
    )
    return Extraction(tpl, ms, timings, qual)


def _minutiae_json(m: np.ndarray) -> list[dict[str, Any]]:
    kinds = {MINUTIA_ENDING: "ending", MINUTIA_BIFURCATION: "bifurcation"}
    return [
        {
            "x": round(float(x), 2),
            "y": round(float(y), 2),
            "direction_deg": round(math.degrees(float(d)), 2),
            "type": kinds.get(int(t), "other"),
            "quality": round(float(qq), 2),
        }
        for x, y, d, t, qq in np.asarray(m, dtype=np.float64).reshape(-1, 5)
    ]


class TraceFolder:
    """A trace sink that writes each step's intermediates under a folder: images as PNG
    (``<n>_<step>_<what>.png``) and everything else, with the parameters, in ``trace.json``."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.steps: list[dict[str, Any]] = []
        self._image: np.ndarray | None = None

    def _png(self, name: str, pixels: np.ndarray) -> str:
        import cv2

        fname = f"{len(self.steps)}_{name}.png"
        cv2.imwrite(str(self.folder / fname), pixels)
        return fname

    def __call__(self, step: str, data: dict[str, Any]) -> None:
        rec: dict[str, Any] = {"step": step, "files": []}
        for k, v in data.items():
            if k == "image":
                self._image = v
                rec["files"].append(self._png("image", v))
                rec["size"] = [int(v.shape[1]), int(v.shape[0])]
            elif k in ("mask", "enhanced"):
                rec["files"].append(self._png(f"{step}_{k}", np.asarray(v, dtype=np.uint8)))
            elif k == "quality":
                import cv2

                loc = v.local
                big = cv2.resize(
                    (loc * 255).astype(np.uint8),
                    None,
                    fx=q.BLOCK,
                    fy=q.BLOCK,
                    interpolation=cv2.INTER_NEAREST,
                )
                if self._image is not None:  # blocks cover the image but its last partial ones
                    full = np.zeros(self._image.shape, np.uint8)
                    hh, ww = min(full.shape[0], big.shape[0]), min(full.shape[1], big.shape[1])
                    full[:hh, :ww] = big[:hh, :ww]
                    big = full
                rec["files"].append(self._png(f"{step}_map", big))
                rec["quality"] = {
                    "score": v.score,
                    "area_mm2": round(v.area_mm2, 1),
                    "clarity": round(v.clarity, 3),
                }
            elif k == "orientation":  # 0..pi as 0..255
                rec["files"].append(self._png(f"{step}_field", np.uint8(np.mod(v, np.pi) / np.pi * 255)))
            elif k == "period":
                rec["files"].append(
                    self._png(f"{step}_period", np.uint8(np.clip(np.asarray(v) * 12, 0, 255)))
                )
            elif k in ("raw_minutiae", "fill_minutiae", "minutiae"):
                if k == "minutiae":
                    m = np.asarray(v, dtype=np.float64).reshape(-1, 5)
                else:  # pyfing's minutiae: x, y, direction, "E"/"B", quality 0-1
                    m = np.array(
                        [(x, y, d, _TYPES.get(t, MINUTIA_OTHER), qq * 100) for x, y, d, t, qq in v],
                        np.float64,
                    ).reshape(-1, 5)
                rec[k] = _minutiae_json(m)
                if self._image is not None:
                    what = "fill_overlay" if k == "fill_minutiae" else "overlay"
                    rec["files"].append(self._png(f"{step}_{what}", draw_minutiae(self._image, m)))
            else:
                rec[k] = v
        self.steps.append(rec)
        (self.folder / "trace.json").write_text(
            json.dumps({"steps": self.steps}, indent=1, default=_json_default)
        )


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


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
