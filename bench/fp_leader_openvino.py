"""LEADER's network in OpenVINO against ONNX Runtime, one thread, on the same FVC windows.

    OPENVINO_SITE=DIR .venv/bin/python bench/fp_leader_openvino.py [speed] [--per-set 4] [--precision f32]
        [--model q.onnx] [--nms-after] [--config leader]
    OPENVINO_SITE=DIR .venv/bin/python bench/fp_leader_openvino.py templates T [same options]

OpenVINO is not a dependency: ``pip install --target DIR openvino`` outside the project (the wheel is
about 60 MB, 250 MB installed), then ``OPENVINO_SITE=DIR``; the folder goes at the end of ``sys.path``, so
the project's own numpy stays first. The graph is the one :class:`crms.fingerprint.leader_onnx.LeaderOnnx`
runs (``crms.fingerprint.leader_onnx.build_model`` from the configuration's weights), or with ``--model``
another ONNX file of it (the int8 QDQ graph of ``bench/fp_leader_int8.py quantize``, which OpenVINO runs
with int8 kernels), read by OpenVINO from the same ONNX bytes and compiled once per input shape, untimed
(static shapes: OpenVINO's fastest mode on a CPU), with one inference thread, one stream and the latency
hint; ``--precision``: OpenVINO's inference precision hint (``f32``; ``bf16`` only where the CPU has it:
AMX or AVX-512 BF16). ``--nms-after``: OpenVINO runs the graph up to the position map and the non-maximum
suppression (the 5x5 blur, the 7x7 maximum, keeping the pixels equal to it) is done after it in float32
with OpenCV, as the graph does it. In bf16 the graph's own NMS finds plateaus: neighbouring pixels rounded
to the same value all pass the equality, and the minutiae multiply.

``speed`` (the default): ONNX Runtime (the extractor's session options) and OpenVINO take turns window
by window (the configuration's windows, ``--per-set`` images from each FVC B set); printed: CPU time of
each, and how many of ONNX Runtime's minutiae (NMS peaks at LEADER's threshold) OpenVINO finds at the
same pixel and within 2 px. ``templates T``: all 8 FVC B sets extracted with the configuration, its
LEADER network run by OpenVINO (the rest of the extraction unchanged, one process;
``fp_leader_profile.with_session``; compiling each new window shape is inside the extraction), written as
``bench/fp_cache_templates.py`` writes them, for ``bench/matcher_eval.py``.
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
from fp_leader_profile import (  # noqa: E402
    compare_networks,
    float_model,
    network_inputs,
    session,
    with_session,
)


def cut_before_nms(model) -> tuple[bytes, np.ndarray]:
    """The graph with its first output the position map (before blur and NMS) instead of the NMS map,
    and the blur's kernel."""
    import onnx
    from onnx import helper, numpy_helper

    cut = onnx.ModelProto()
    cut.CopyFrom(model)
    g = cut.graph
    pos = next(n for n in reversed(g.node) if n.op_type == "DepthToSpace").output[0]
    blur = next(n for n in g.node if n.op_type == "Conv" and n.input[0] == pos)
    kernel = next(numpy_helper.to_array(t) for t in g.initializer if t.name == blur.input[1])
    outputs = list(g.output)
    outputs[0] = helper.make_tensor_value_info(pos, onnx.TensorProto.FLOAT, [1, 1, "H", "W"])
    del g.output[:]
    g.output.extend(outputs)
    return cut.SerializeToString(), np.ascontiguousarray(kernel[0, 0], np.float32)


def nms_after(pos: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The graph's NMS of a position map (H, W) in float32: 5x5 blur with zero padding, kept where it
    equals the 7x7 maximum around it."""
    import cv2

    blurred = cv2.filter2D(pos, -1, kernel, borderType=cv2.BORDER_CONSTANT)
    peak = cv2.dilate(blurred, np.ones((7, 7), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=-1.0)
    return blurred * (blurred == peak)


class OpenVinoLeader:
    """LEADER's graph in OpenVINO, in place of the extractor's ONNX Runtime session:
    ``run(None, {"img": x})`` gives ``[nms, feat]``."""

    def __init__(self, model, precision: str, nms_outside: bool) -> None:
        import openvino as ov

        self.core = ov.Core()
        self.core.set_property(
            "CPU",
            {
                "INFERENCE_NUM_THREADS": 1,
                "NUM_STREAMS": 1,
                "PERFORMANCE_HINT": "LATENCY",
                "INFERENCE_PRECISION_HINT": precision,
                "ENABLE_CPU_PINNING": False,
            },
        )
        self.kernel = None
        self.model_bytes = model.SerializeToString()
        if nms_outside:
            self.model_bytes, self.kernel = cut_before_nms(model)
        self.requests: dict[tuple[int, ...], object] = {}
        where = "after" if nms_outside else "in"
        print(f"OpenVINO {ov.__version__}, precision hint {precision}, NMS {where} the graph")

    def run(self, _names, feeds: dict) -> list[np.ndarray]:
        x = feeds["img"]
        if x.shape not in self.requests:
            model = self.core.read_model(self.model_bytes, b"")
            model.reshape({model.inputs[0].any_name: list(x.shape)})
            self.requests[x.shape] = self.core.compile_model(model, "CPU").create_infer_request()
        request = self.requests[x.shape]
        request.infer({0: x})
        first, feat = (request.get_output_tensor(i).data.copy() for i in range(2))
        if self.kernel is not None:
            first = nms_after(first[0, 0], self.kernel)[None, None]
        return [first, feat]


def import_openvino() -> None:
    """OpenVINO from ``OPENVINO_SITE`` (appended to sys.path), or exit saying how to install it."""
    site = os.environ.get("OPENVINO_SITE")
    if site and site not in sys.path:
        sys.path.append(site)
    try:
        import openvino  # noqa: F401
    except ImportError:
        sys.exit("OpenVINO not found: pip install --target DIR openvino, then OPENVINO_SITE=DIR")


def with_openvino(config: str, precision: str) -> str:
    """Register configuration ``CONFIG@openvino-PRECISION``: ``config`` with its LEADER network run by
    OpenVINO at that precision hint, the NMS after the graph unless in f32."""
    import_openvino()
    graph = OpenVinoLeader(float_model(config), precision, precision != "f32")
    return with_session(config, f"openvino-{precision}", graph)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", nargs="?", choices=("speed", "templates"), default="speed")
    ap.add_argument("out", nargs="?", help="templates: the folder to write")
    ap.add_argument("--per-set", type=int, default=4)
    ap.add_argument("--precision", default="f32", help="OpenVINO's inference precision hint: f32, bf16")
    ap.add_argument("--model", help="an ONNX file of LEADER's graph instead of the float one (e.g. int8)")
    ap.add_argument("--nms-after", action="store_true", help="NMS in float32 after OpenVINO's graph")
    ap.add_argument("--config", default="leader", help="the extractor configuration (default leader)")
    a = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"shared data not found: {DATA}")
    if a.cmd == "templates" and not a.out:
        sys.exit("templates needs the folder to write")
    import_openvino()
    import onnx

    reference = float_model(a.config)
    model = onnx.load_from_string(Path(a.model).read_bytes()) if a.model else reference
    ov_leader = OpenVinoLeader(model, a.precision, a.nms_after)
    if a.cmd == "templates":
        from fp_cache_templates import write_templates_in_process

        write_templates_in_process(Path(a.out), with_session(a.config, f"openvino-{a.precision}", ov_leader))
        return
    ort = session(reference.SerializeToString())
    wins = network_inputs(a.per_set, a.config)
    for w in wins:  # compile every shape before timing
        ov_leader.run(None, {"img": w.astype(np.float32)[None, None]})
    runners = {
        "ONNX Runtime": lambda x: ort.run(None, {"img": x})[0],
        "OpenVINO": lambda x: ov_leader.run(None, {"img": x})[0],
    }
    compare_networks(runners, wins)


if __name__ == "__main__":
    main()
