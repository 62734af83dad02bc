"""Extraction speed per FVC image, single thread, several extractor configurations on the same images.

    .venv/bin/python bench/fp_extract_speed.py [--per-set 4] [--configs leader_full,leader,leader_torch]
        [--configs leader,leader@COMMIT]   # ``leader`` with LEADER's ONNX graph as of COMMIT (an A/B)

One process, one thread (ONNX Runtime, torch, OpenCV and numpy's BLAS), models loaded and one image
extracted per configuration before timing. The configurations take turns image by image, so that load
from other jobs on the machine falls on all of them alike. CPU time (time.process_time) is the main
figure; wall time and the load average are printed beside it. The first configuration's minutiae are
compared with each other one's ("agree": share of the first's minutiae that the other finds within 2 px).
The CPU model and its widest vector extension are printed too: the figures depend on them (ONNX Runtime
and PyTorch pick AVX-512 kernels where the CPU has them; the machines lent to sessions differ).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # numpy's BLAS too: one thread (read when numpy loads)

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fp_eval import DATA, SETS, sample_images  # noqa: E402  (bench/ is on sys.path when run as a script)

from crms.fingerprint import extract  # noqa: E402
from crms.fingerprint.images import list_images, load_image  # noqa: E402


def cpu_description() -> str:
    """'model name, widest SIMD' from /proc/cpuinfo (Linux), e.g. 'Intel(R) Xeon(R) Processor, AVX-512'."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:  # pragma: no cover - not Linux
        return "unknown CPU"
    model, flags = "unknown CPU", set()
    for line in info.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model == "unknown CPU":
            model = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    simd = next(
        (name for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX")) if flag in flags),
        "SSE",
    )
    return f"{model}, {simd}"


def register_leader_at(commit: str) -> str:
    """Add the configuration ``leader@COMMIT``: ``leader`` with crms/fingerprint/leader_onnx.py as of that
    commit (read with ``git show``), so that two versions of the graph take turns in one process."""
    import subprocess
    import types

    src = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{commit}:crms/fingerprint/leader_onnx.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = types.ModuleType(f"leader_onnx_at_{commit}")
    exec(compile(src, f"leader_onnx.py@{commit}", "exec"), module.__dict__)
    name, key = f"leader@{commit}", f"alg_LEADER@{commit}"

    def step(ctx: dict, p: object) -> None:
        if key not in extract._state:
            params = extract._alg("LEADER", p).parameters
            init = [q for q in inspect.signature(module.LeaderOnnx.__init__).parameters if q != "self"]
            # LeaderOnnx took a pyfing Leader (a Keras model) before it read the weights file itself
            arg = params if init[0] == "parameters" else extract._pyfing().Leader(params)
            extract._state[key] = module.LeaderOnnx(arg, threads=1)
        ctx["raw_minutiae"] = extract._state[key].run(ctx["image"], 500)  # type: ignore[attr-defined]

    base = extract.CONFIGS["leader"]
    steps = tuple(replace(s, fn=step) if s.name == "minutiae" else s for s in base.steps)
    extract.CONFIGS[name] = extract.Pipeline(f"{base.name} (graph of {commit})", steps)
    return name


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-set", type=int, default=4)
    ap.add_argument("--configs", default="leader_full,leader")
    ap.add_argument("--json-out", type=Path, default=None)
    a = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"shared data not found: {DATA}")
    configs = [register_leader_at(c[7:]) if c.startswith("leader@") else c for c in a.configs.split(",")]
    extract.set_threads(1)
    first = load_image(list_images(DATA / "fvc2002" / "DB1_B")[0])
    for c in configs:
        extract.warm(c)
        extract.extract(first, c)
    cpu: dict[str, list[float]] = {c: [] for c in configs}
    wall: dict[str, list[float]] = {c: [] for c in configs}
    steps: dict[str, dict[str, list[float]]] = {c: {} for c in configs}
    agree: dict[str, list[float]] = {c: [] for c in configs[1:]}
    loads = [os.getloadavg()[0]]
    for year, db, dpi in SETS:
        for f in sample_images(year, db, a.per_set):
            img = load_image(f, dpi)
            ref = None
            for c in configs:
                c0, w0 = time.process_time(), time.perf_counter()
                r = extract.extract(img, c)
                cpu[c].append((time.process_time() - c0) * 1000)
                wall[c].append((time.perf_counter() - w0) * 1000)
                for k, v in r.timings.items():
                    steps[c].setdefault(k, []).append(v)
                m = r.template.minutiae
                if ref is None:
                    ref = m
                elif len(ref):
                    d = np.hypot(ref[:, None, 0] - m[None, :, 0], ref[:, None, 1] - m[None, :, 1])
                    agree[c].append(float((d.min(axis=1) <= 2).mean()) if len(m) else 0.0)
        loads.append(os.getloadavg()[0])
    out = {}
    cpu_name = cpu_description()
    print(
        f"{len(cpu[configs[0]])} images, load average {min(loads):.1f}-{max(loads):.1f} "
        f"({os.cpu_count()} cores: {cpu_name})"
    )
    print("| configuration | CPU ms mean | CPU ms median | wall ms median | steps (wall ms, mean) | agree |")
    print("|---|---:|---:|---:|---|---:|")
    for c in configs:
        st = ", ".join(f"{k} {np.mean(v):.0f}" for k, v in steps[c].items())
        ag = f"{100 * np.mean(agree[c]):.1f} %" if c in agree else "–"
        cm, cd, wd = np.mean(cpu[c]), np.median(cpu[c]), np.median(wall[c])
        print(f"| `{c}` | {cm:.0f} | {cd:.0f} | {wd:.0f} | {st} | {ag} |")
        out[c] = {
            "cpu_ms_mean": float(np.mean(cpu[c])),
            "cpu_ms_median": float(np.median(cpu[c])),
            "wall_ms_median": float(np.median(wall[c])),
            "steps_wall_ms": {k: float(np.mean(v)) for k, v in steps[c].items()},
            "agree_with_first": float(np.mean(agree[c])) if c in agree else None,
        }
    if a.json_out:
        a.json_out.write_text(
            json.dumps(
                {"images": len(cpu[configs[0]]), "load": loads, "cpu": cpu_name, "configs": out}, indent=1
            )
        )


if __name__ == "__main__":
    main()
