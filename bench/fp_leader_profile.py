"""Where LEADER's network spends its time: ONNX Runtime's own profiler, per operator type and per node.

    .venv/bin/python bench/fp_leader_profile.py [--per-set 2] [--top 25] [--full] [--model q.onnx]

One thread, the graph and session options of :class:`crms.fingerprint.leader_onnx.LeaderOnnx`, run on
the network inputs the default configuration makes from FVC images (the foreground's window; ``--full``:
the whole padded image), ``--per-set`` images from each of the 8 FVC B sets; ``--model``: profile that
ONNX file instead (the int8 graph of ``bench/fp_leader_int8.py``; the rest of the extraction stays
float). Kernel times are the profiler's (wall, per node); they are printed as shares of the total, per
image, with the node's output shape, so that a layer's cost can be compared with its multiply-adds
(``MMAC``, convolutions only). The last line is the floor: the convolutions' multiply-adds per input
against one thread's float32 matrix product rate on the same CPU.
Besides the network, the rest of an extraction (segmentation, quality map, direction and type heads
in numpy, template step) is timed with CPU time per step.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fp_eval import SETS, sample_images  # noqa: E402  (bench/ is on sys.path when run as a script)
from fp_extract_speed import cpu_description  # noqa: E402

from crms.fingerprint import extract  # noqa: E402
from crms.fingerprint.images import load_image  # noqa: E402
from crms.fingerprint.leader_onnx import build_model, session_options  # noqa: E402


def leader_params(config: str):
    """The :class:`LeaderParams` of a configuration's minutiae step."""
    return next(s.params for s in extract.pipeline(config).steps if s.fn is extract.step_leader)


def network_inputs(per_set: int, config: str = "leader") -> list[np.ndarray]:
    """The padded network inputs that ``config`` makes of ``per_set`` images per FVC set (its window, its
    scale), recorded as its extraction feeds them to LEADER: the first network call per image, so a
    print refilled at a lower threshold counts once."""
    from crms.fingerprint.leader_onnx import LeaderOnnx

    seen: list[np.ndarray] = []
    network = LeaderOnnx.network

    def record(self, padded: np.ndarray):
        seen.append(padded.copy())
        return network(self, padded)

    out = []
    LeaderOnnx.network = record  # type: ignore[method-assign]
    try:
        for year, db, dpi in SETS:
            for f in sample_images(year, db, per_set):
                seen.clear()
                extract.extract(load_image(f, dpi), config)
                out.append(seen[0])
    finally:
        LeaderOnnx.network = network  # type: ignore[method-assign]
    return out


def float_model(config: str = "leader"):
    """LEADER's float graph with the weights ``config`` runs (pyfing's, or an adaptation's), as
    :class:`LeaderOnnx` builds it."""
    return build_model(extract._alg("LEADER", leader_params(config)).weights)[0]


def session(model_bytes: bytes):
    """An ONNX Runtime session for a LEADER graph with the extractor's session options."""
    import onnxruntime as ort

    return ort.InferenceSession(model_bytes, session_options(), providers=["CPUExecutionProvider"])


def with_graph(config: str, onnx_file: str) -> str:
    """Register configuration ``CONFIG@FILE``: ``config`` with its LEADER network run by the graph in
    ``onnx_file`` (e.g. an int8 graph of the same weights from ``bench/fp_leader_int8.py``) instead of
    the float one, the rest of the extraction unchanged; returns its name."""
    return with_session(config, Path(onnx_file).name, session(Path(onnx_file).read_bytes()))


def with_session(config: str, label: str, graph) -> str:
    """Register configuration ``CONFIG@LABEL``: ``config`` with its LEADER network run by ``graph``, any
    object with an ONNX Runtime session's ``run(None, {"img": x})`` giving ``[nms, feat]``, the rest of
    the extraction unchanged; returns its name."""
    from dataclasses import replace

    name = f"{config}@{label}"

    def run(ctx: dict, p) -> None:
        leader = extract._alg("LEADER", p)
        plain, leader.session = leader.session, graph
        try:
            extract._leader(ctx, p)
        finally:
            leader.session = plain

    def step(ctx: dict, p) -> None:
        extract._fill(ctx, p, run)

    base = extract.pipeline(config)
    steps = tuple(replace(s, fn=step) if s.fn is extract.step_leader else s for s in base.steps)
    extract.CONFIGS[name] = extract.Pipeline(f"{base.name}, LEADER network {label}", steps)
    return name


def compare_networks(runners: dict, wins: list[np.ndarray]) -> None:
    """Time LEADER's network in each of ``runners`` (name -> function from the ``1x1xHxW`` float32 input
    to the NMS map) on the same windows, one after another in an order that turns at each window, and
    print CPU time and how the minutiae (NMS peaks at LEADER's threshold) of the first runner, the
    reference, are found by the others: at the same pixel and within 2 px."""
    from crms.fingerprint.extract import DEFAULT_LEADER

    thr = DEFAULT_LEADER.minutia_quality_threshold
    names = list(runners)
    for run in runners.values():  # warm-up
        run(wins[0].astype(np.float32)[None, None])
    cpu: dict[str, list[float]] = {k: [] for k in names}
    found = {k: [0, 0, 0, 0.0] for k in names[1:]}  # same pixel, within 2 px, minutiae, largest map diff
    n_ref = 0
    loads = [os.getloadavg()[0]]
    for i, win in enumerate(wins):
        x = win.astype(np.float32)[None, None]
        out = {}
        for k in names[i % len(names) :] + names[: i % len(names)]:
            c0 = time.process_time()
            out[k] = np.asarray(runners[k](x))[0, 0]
            cpu[k].append((time.process_time() - c0) * 1000)
        ref = np.argwhere(out[names[0]] >= thr)
        n_ref += len(ref)
        for k in names[1:]:
            got, f = np.argwhere(out[k] >= thr), found[k]
            f[2] += len(got)
            f[3] = max(f[3], float(np.abs(out[names[0]] - out[k]).max()))
            if len(ref) and len(got):
                diff = ref[:, None, :] - got[None, :, :]
                f[0] += int((np.abs(diff).max(axis=2).min(axis=1) == 0).sum())
                f[1] += int((np.hypot(diff[..., 0], diff[..., 1]).min(axis=1) <= 2).sum())
    loads.append(os.getloadavg()[0])
    print(f"{len(wins)} FVC windows, load average {min(loads):.1f}-{max(loads):.1f} ({cpu_description()})")
    for k, v in cpu.items():
        print(f"{k}: network CPU ms mean {np.mean(v):.1f}, median {np.median(v):.1f}")
    for k, (same, within, n, worst) in found.items():
        print(
            f"{k}: minutiae {n} against {names[0]}'s {n_ref}; same pixel {same / max(1, n_ref):.3f}, "
            f"within 2 px {within / max(1, n_ref):.3f}; largest NMS-map difference {worst:.2e}"
        )


def conv_macs(model) -> dict[str, tuple[int, ...]]:
    """Node name -> the weight shape of each Conv (multiply-adds = output pixels x prod(shape[1:]))."""
    inits = {i.name: tuple(i.dims) for i in model.graph.initializer}
    return {n.name: inits[n.input[1]] for n in model.graph.node if n.op_type == "Conv"}


def main() -> None:
    import onnxruntime as ort

    ap = argparse.ArgumentParser()
    ap.add_argument("--per-set", type=int, default=2)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--full", action="store_true", help="the whole padded image, not the window")
    ap.add_argument("--model", type=Path, default=None, help="an ONNX file to profile instead of the graph")
    a = ap.parse_args()
    extract.set_threads(1)
    leader = extract._alg("LEADER")
    inputs = network_inputs(a.per_set, "leader_full" if a.full else "leader")
    model = float_model()
    weights = conv_macs(model)
    with tempfile.TemporaryDirectory() as tmp:
        so = session_options()
        so.enable_profiling = True
        so.profile_file_prefix = str(Path(tmp) / "leader")
        graph = a.model.read_bytes() if a.model else model.SerializeToString()
        sess = ort.InferenceSession(graph, so, providers=["CPUExecutionProvider"])
        sess.run(None, {"img": inputs[0].astype(np.float32)[None, None]})
        c0 = time.process_time()
        for x in inputs:
            sess.run(None, {"img": x.astype(np.float32)[None, None]})
        cpu = (time.process_time() - c0) * 1000 / len(inputs)
        events = json.loads(Path(sess.end_profiling()).read_text())
    n = len(inputs)
    by_op: dict[str, float] = defaultdict(float)
    by_node: dict[str, float] = defaultdict(float)
    info: dict[str, tuple[str, list]] = {}
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        name = e["name"][: -len("_kernel_time")]
        by_op[e["args"]["op_name"]] += e["dur"]
        by_node[name] += e["dur"]
        shapes = e["args"].get("output_type_shape") or [{}]
        info[name] = (e["args"]["op_name"], next(iter(shapes[0].values()), []))
    scale = 1.0 / (1000 * (n + 1))  # n inputs and the warm-up run
    total = sum(by_op.values())
    pixels = np.mean([x.size for x in inputs])
    print(f"{n} network inputs, mean {pixels / 1000:.0f} k pixels, {cpu_description()}")
    print(f"network CPU time {cpu:.0f} ms per input (process time); profiler kernel sum below, ms per run")
    print("| operator | ms | share |")
    print("|---|---:|---:|")
    for op, us in sorted(by_op.items(), key=lambda kv: -kv[1]):
        print(f"| {op} | {us * scale:.1f} | {100 * us / total:.1f} % |")
    print("\n| node | operator | output | ms | share | MMAC (this shape) |\n|---|---|---|---:|---:|---:|")
    for name, us in sorted(by_node.items(), key=lambda kv: -kv[1])[: a.top]:
        op, shape = info[name]
        base = name.removesuffix("_nchwc")
        mac = ""
        if base in weights and shape:
            mac = f"{np.prod(shape) * np.prod(weights[base][1:]) / 1e6:.0f}"
        print(f"| {name} | {op} | {shape} | {us * scale:.1f} | {100 * us / total:.1f} % | {mac} |")
    # the rest of an extraction: CPU time per step
    steps: dict[str, list[float]] = defaultdict(list)
    network = leader.network

    def timed_network(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c0 = time.process_time()
        out = network(x)
        steps["network"].append((time.process_time() - c0) * 1000)
        return out

    leader.network = timed_network
    for year, db, dpi in SETS:
        for f in sample_images(year, db, a.per_set):
            img = load_image(f, dpi)
            ctx = {"image": img.pixels, "source_dpi": img.dpi}
            for step in extract.CONFIGS["leader_full" if a.full else "leader"].steps:
                c0 = time.process_time()
                step.fn(ctx, step.params)
                steps[step.name].append((time.process_time() - c0) * 1000)
    del leader.network
    print(
        "\nextraction steps, CPU ms per image (mean; 'minutiae' includes 'network'): "
        + ", ".join(f"{k} {np.mean(v):.1f}" for k, v in steps.items())
    )
    macs = np.mean([graph_macs(model, x.shape) for x in inputs]) / 1e6
    rate = sgemm_rate()
    conv_ms = by_op["Conv"] * scale
    print(
        f"\nfloor: the convolutions are {macs:.0f} M multiply-adds per input (mean); in the profile they "
        f"run at {macs / conv_ms:.1f} G/s, against {rate:.1f} G/s for one thread's float32 matrix product "
        f"(numpy, 1024 x 1024 x 1024) on this CPU: at that rate they alone take {macs / rate:.0f} ms"
    )


def graph_macs(model, shape: tuple[int, int]) -> float:
    """Multiply-adds of every convolution of the graph for one input of ``shape`` (H, W)."""
    import onnx
    from onnx import shape_inference

    m = onnx.ModelProto()
    m.CopyFrom(model)
    dims = m.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_value, dims[3].dim_value = shape
    m = shape_inference.infer_shapes(m)
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in list(m.graph.value_info) + list(m.graph.output)
    }
    inits = {i.name: tuple(i.dims) for i in m.graph.initializer}
    return float(
        sum(
            np.prod(shapes[n.output[0]]) * np.prod(inits[n.input[1]][1:])
            for n in m.graph.node
            if n.op_type == "Conv"
        )
    )


def sgemm_rate(n: int = 1024, repeats: int = 5) -> float:
    """One thread's float32 matrix-product rate, G multiply-adds per second (best of ``repeats``)."""
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(repeats))
    return n**3 / best / 1e9


def _timed(fn) -> float:
    c0 = time.process_time()
    fn()
    return time.process_time() - c0


if __name__ == "__main__":
    main()
