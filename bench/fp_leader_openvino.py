"""LEADER's network in OpenVINO against ONNX Runtime, one thread, on the same FVC windows.

    OPENVINO_SITE=DIR .venv/bin/python bench/fp_leader_openvino.py [--per-set 4] [--precision f32]

OpenVINO is not a dependency: ``pip install --target DIR openvino`` outside the project (the wheel is
about 60 MB, 250 MB installed), then ``OPENVINO_SITE=DIR``; the folder goes at the end of ``sys.path``, so
the project's own numpy stays first. The graph is the one :class:`crms.fingerprint.leader_onnx.LeaderOnnx`
runs (``crms.fingerprint.leader_onnx.build_model`` from the shipped weights), read by OpenVINO from the same
ONNX bytes and compiled once per input shape, untimed (static shapes: OpenVINO's fastest mode on a CPU),
with one inference thread, one stream and the latency hint; ``--precision``: OpenVINO's inference
precision hint (``f32``; ``bf16`` only where the CPU has it). ONNX Runtime runs with the extractor's own
session options. The two take turns window by window (the default ``leader`` configuration's windows,
``--per-set`` images from each FVC B set); printed: CPU time of each, and how many of ONNX Runtime's
minutiae (NMS peaks at LEADER's threshold) OpenVINO finds at the same pixel and within 2 px.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fp_eval import DATA  # noqa: E402
from fp_leader_profile import compare_networks, float_model, network_inputs, session  # noqa: E402


def openvino_runner(model_bytes: bytes, precision: str):
    """A function from the network input to the NMS map, OpenVINO compiling once per input shape."""
    import openvino as ov

    core = ov.Core()
    core.set_property(
        "CPU",
        {
            "INFERENCE_NUM_THREADS": 1,
            "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": precision,
            "ENABLE_CPU_PINNING": False,
        },
    )
    requests: dict[tuple[int, ...], object] = {}

    def run(x: np.ndarray) -> np.ndarray:
        if x.shape not in requests:
            model = core.read_model(model_bytes, b"")
            model.reshape({model.inputs[0].any_name: list(x.shape)})
            requests[x.shape] = core.compile_model(model, "CPU").create_infer_request()
        request = requests[x.shape]
        request.infer({0: x})
        return request.get_output_tensor(0).data.copy()

    print(f"OpenVINO {ov.__version__}, precision hint {precision}")
    return run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-set", type=int, default=4)
    ap.add_argument("--precision", default="f32", help="OpenVINO's inference precision hint: f32, bf16")
    a = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"shared data not found: {DATA}")
    site = os.environ.get("OPENVINO_SITE")
    if site:
        sys.path.append(site)
    try:
        import openvino  # noqa: F401
    except ImportError:
        sys.exit("OpenVINO not found: pip install --target DIR openvino, then OPENVINO_SITE=DIR")
    model = float_model().SerializeToString()
    ort = session(model)
    wins = network_inputs(a.per_set)
    ov_run = openvino_runner(model, a.precision)
    for w in wins:  # compile every shape before timing
        ov_run(w.astype(np.float32)[None, None])
    runners = {
        "ONNX Runtime": lambda x: ort.run(None, {"img": x})[0],
        "OpenVINO": ov_run,
    }
    compare_networks(runners, wins)


if __name__ == "__main__":
    main()
