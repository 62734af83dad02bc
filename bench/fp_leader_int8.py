"""LEADER's convolutions in int8 (ONNX Runtime static quantisation) on a CPU with VNNI: faster, same minutiae?

    .venv/bin/python bench/fp_leader_int8.py quantize q.onnx [--convs 1x1|dense] [--dynamic] [--config C]
    .venv/bin/python bench/fp_leader_int8.py speed q.onnx [--per-set 4] [--config C]
    .venv/bin/python bench/fp_leader_int8.py templates q.onnx T [--config C]   # then bench/matcher_eval.py

``--config`` (default ``leader``): the extractor configuration whose network is quantised and measured,
e.g. ``leader_a75`` (its adapted weights, the image scaled by 0.75); give the same one to all three.

``quantize`` builds LEADER's float graph (``crms.fingerprint.leader_onnx.build_model``) and quantises the
chosen convolutions with ``onnxruntime.quantization.quantize_static``: QDQ format, int8 weights per output
channel, uint8 activations (the x86 VNNI instruction multiplies unsigned by signed bytes). The activation
ranges are min-max over the calibration prints (the histogram calibrators keep every activation of every
print in memory: more than 24 GiB): the project's synthetic prints and NIST's 11 public-domain 500 ppi
prints, never FVC or SOCOFing. ``--convs 1x1``: the 1x1 convolutions with at least 8 input and 8 output
channels (the inverse-bottleneck expansions and reductions, the separable blocks' pointwise halves);
``dense``: every convolution that is not depthwise and has at least 8 input and 8 output channels (adds
the attention's three dilated 3x3 convolutions). Depthwise convolutions, the stems (one input channel),
LayerNormalization and GELU stay float. ``--dynamic``: ``quantize_dynamic`` instead (ConvInteger, uint8
weights, each input's range measured at every run, float outputs; no calibration).

``speed``: the network alone (one thread), float and int8 taking turns on the same padded FVC windows
(the configuration's windows), CPU time, and the NMS maps compared: the minutiae (NMS
peaks at LEADER's threshold) the float graph finds that the int8 one finds at the same pixel and within
2 px, and how many int8 finds in all (``fp_leader_profile.compare_networks``). The CPU model is printed:
int8 needs VNNI (AVX-512 or AVX-VNNI) to pay.

``templates``: all 8 FVC B sets extracted with the configuration, its LEADER graph the int8 one (one
process: ``fp_leader_profile.with_graph``), written as ``bench/fp_cache_templates.py`` writes them, for
``bench/matcher_eval.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fp_cache_templates import DATA, write_templates_in_process  # noqa: E402
from fp_leader_profile import (  # noqa: E402
    compare_networks,
    float_model,
    leader_params,
    network_inputs,
    session,
    with_graph,
)
from fp_leader_prune import calibration, pad32  # noqa: E402


def chosen_convs(model, which: str) -> list[str]:
    """Names of the Conv nodes to quantise (see the module docstring)."""
    shapes = {t.name: tuple(t.dims) for t in model.graph.initializer}
    out = []
    for n in model.graph.node:
        if n.op_type != "Conv":
            continue
        o, i, kh, kw = shapes[n.input[1]]
        group = next((a.i for a in n.attribute if a.name == "group"), 1)
        if group != 1 or i < 8 or o < 8 or which == "1x1" and (kh, kw) != (1, 1):
            continue
        out.append(n.name)
    return out


def quantize(
    out: str, images: list[np.ndarray], convs: str = "1x1", dynamic: bool = False, config: str = "leader"
) -> int:
    """Write the int8 graph of ``config``'s network to ``out``, ranges calibrated on ``images`` (padded to
    multiples of 32) or, ``dynamic``, measured at run time; returns the number of convolutions quantised."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    model = float_model(config)
    nodes = chosen_convs(model, convs)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(images)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {"img": x.astype(np.float32)[None, None]}

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "leader.onnx"
        src.write_bytes(model.SerializeToString())
        if dynamic:
            kinds = {"op_types_to_quantize": ["Conv"], "nodes_to_quantize": nodes}
            quantize_dynamic(str(src), out, weight_type=QuantType.QUInt8, **kinds)
        else:
            quantize_static(
                str(src),
                out,
                Reader(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                nodes_to_quantize=nodes,
                calibrate_method=CalibrationMethod.MinMax,
                extra_options={"CalibTensorRangeSymmetric": False},
            )
    return len(nodes)


def cmd_quantize(a: argparse.Namespace) -> None:
    import cv2

    images = [] if a.dynamic else calibration(a.synthetic, a.seed)
    s = leader_params(a.config).network_scale
    if s != 1.0:
        images = [pad32(cv2.resize(x, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)) for x in images]
    t0 = time.time()
    n = quantize(a.out, images, a.convs, a.dynamic, a.config)
    print(f"{a.out}: {n} convolutions quantised, {len(images)} calibration prints, {time.time() - t0:.0f} s")


def cmd_speed(a: argparse.Namespace) -> None:
    sessions = {
        "float": session(float_model(a.config).SerializeToString()),
        "int8": session(Path(a.model).read_bytes()),
    }
    runners = {k: (lambda x, s=s: s.run(None, {"img": x})[0]) for k, s in sessions.items()}
    compare_networks(runners, network_inputs(a.per_set, a.config))


def cmd_templates(a: argparse.Namespace) -> None:
    write_templates_in_process(Path(a.out), with_graph(a.config, a.model))


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("quantize")
    p.add_argument("out")
    p.add_argument("--convs", choices=("1x1", "dense"), default="1x1")
    p.add_argument("--dynamic", action="store_true", help="ranges measured at run time, no calibration")
    p.add_argument("--synthetic", type=int, default=40)
    p.add_argument("--seed", type=int, default=31)
    p = sub.add_parser("speed")
    p.add_argument("model")
    p.add_argument("--per-set", type=int, default=4)
    p = sub.add_parser("templates")
    p.add_argument("model")
    p.add_argument("out")
    for p in sub.choices.values():
        p.add_argument("--config", default="leader", help="the extractor configuration (default leader)")
    a = ap.parse_args()
    if not DATA.exists() and a.cmd != "quantize":
        sys.exit(f"shared data not found: {DATA}")
    {"quantize": cmd_quantize, "speed": cmd_speed, "templates": cmd_templates}[a.cmd](a)


if __name__ == "__main__":
    main()
