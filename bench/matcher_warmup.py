"""First use of the matcher after an install: ``crms.fingerprint.warm_matcher`` (the kernels of a score, a
many-to-one score, the side-by-side comparison and a 1:N search) in a fresh process, first with numba's
cache empty (as after an install or upgrade), then with the cache that run wrote. Each run is its own
interpreter with ``NUMBA_CACHE_DIR`` set to a new folder, so the tree's own cache is neither used nor
changed. Reports wall and CPU seconds of the warm-up and the process's peak RSS against one that only
imports the API application.

With --steps, what the first officer after an install meets without a warm-up: in a fresh process with
an empty cache, the wall time of a first score, then of the first side-by-side comparison (``explain``),
then of a first 1:N search, each after the ones before.

With --serve, what an officer meets meanwhile: ``crms serve`` started with an empty cache (a new data
directory and numba cache folder), a GET of the sign-in page every 0.2 s until the server logs that the
kernels are ready, then as many requests to a server started with CRMS_WARM_MATCHER=off; the latencies
of both.

    .venv/bin/python bench/matcher_warmup.py --runs 2
    .venv/bin/python bench/matcher_warmup.py --runs 0 --steps --serve
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from cli_startup import _cpu_model  # noqa: E402
from records_bench import percentiles  # noqa: E402

CHILD = """
import json, resource, time
from crms.api.app import create_app
create_app()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
wall = 0.0
cpu = time.process_time()
if WARM:
    import crms.fingerprint as fp
    wall = fp.warm_matcher()
cpu = time.process_time() - cpu
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"wall": wall, "cpu": cpu, "rss_app_mb": base / 1024, "rss_mb": rss / 1024}))
"""

STEPS = """
import json, time
from crms.fingerprint import Gallery, ProbeFinger, explain, score
from crms.fingerprint.warmup import sample_pair
a, b = sample_pair()
out = {}
t = time.perf_counter(); score(a, b); out["first score"] = time.perf_counter() - t
t = time.perf_counter(); explain(a, b); out["then the first comparison's pairing"] = time.perf_counter() - t
g = Gallery(capacity=16)
t = time.perf_counter()
g.insert_many([(1, 1, 1, a)]); g.search([ProbeFinger(b, 1)])
out["then the first 1:N search"] = time.perf_counter() - t
print(json.dumps(out))
"""


def _env(cache: Path, data: Path) -> dict[str, str]:
    """This environment without CRMS settings, with numba's cache and the data directory named."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMS_")}
    env.update(NUMBA_CACHE_DIR=str(cache), CRMS_DATA_DIR=str(data))
    return env


def _child(cache: Path, data: Path, warm: bool, code: str = CHILD) -> dict:
    code = code.replace("WARM", str(warm))
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=_env(cache, data), capture_output=True, text=True
    )
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(tmp: Path, warm: bool, count: int | None) -> list[float]:
    """Latencies (s) of GET /login every 0.2 s: until the log says the kernels are ready (COUNT None),
    or COUNT of them."""
    env = _env(tmp / "numba", tmp / "data")
    env["CRMS_WARM_MATCHER"] = "on" if warm else "off"
    port = _port()
    log = tmp / "serve.log"
    crms = Path(sys.executable).parent / "crms"
    cmd = [str(crms), "serve", "--port", str(port), "--no-enrol-worker", "--no-access-log"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/login"
        for _ in range(600):
            try:
                urllib.request.urlopen(url, timeout=5).read()
                break
            except OSError:
                time.sleep(0.1)
        times: list[float] = []
        while (count is None and b"Matcher kernels ready" not in log.read_bytes()) or (
            count is not None and len(times) < count
        ):
            t = time.perf_counter()
            urllib.request.urlopen(url, timeout=60).read()
            times.append(time.perf_counter() - t)
            time.sleep(0.2)
        return times
    finally:
        proc.terminate()
        proc.wait(30)


def _describe(label: str, times: list[float]) -> None:
    p = percentiles(times)
    print(f"{label}: {p['n']} requests, median {p['p50_ms']} ms, p95 {p['p95_ms']} ms, p99 {p['p99_ms']} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=2, help="cold/cached pairs, each with a new empty cache")
    ap.add_argument("--steps", action="store_true", help="first uses without a warm-up (above)")
    ap.add_argument("--serve", action="store_true", help="latency of a server while it warms up (above)")
    args = ap.parse_args()
    print(f"CPU: {_cpu_model()} ({os.cpu_count()} cores), Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        app = _child(Path(tmp) / "none", Path(tmp) / "data", warm=False)
        print(f"API application only: peak RSS {app['rss_mb']:.0f} MB")
        for run in range(args.runs):
            cache = Path(tmp) / f"cache{run}"
            for label in ("empty cache", "cached"):
                r = _child(cache, Path(tmp) / "data", warm=True)
                print(
                    f"run {run + 1}, {label}: warm_matcher {r['wall']:.2f} s wall, {r['cpu']:.2f} s CPU; "
                    f"peak RSS {r['rss_mb']:.0f} MB (+{r['rss_mb'] - r['rss_app_mb']:.0f})"
                )
        if args.steps:
            first = _child(Path(tmp) / "steps", Path(tmp) / "data", warm=False, code=STEPS)
            print("empty cache, no warm-up: " + ", ".join(f"{k} {v:.1f} s" for k, v in first.items()))
        if args.serve:
            during = _serve(Path(tempfile.mkdtemp(dir=tmp)), warm=True, count=None)
            _describe("GET /login while a new server warms up from an empty cache", during)
            _describe("GET /login, warm-up off", _serve(Path(tempfile.mkdtemp(dir=tmp)), False, len(during)))


if __name__ == "__main__":
    main()
