"""Time of the README's demo start (``scripts/run-demo.sh`` without the install step) to a usable server,
and the CPU per finger of the background fingerprint work.

Steps, each a real ``crms`` subprocess on a fresh data dir (SQLite), timed wall and CPU (the child and its
worker processes, from getrusage):
  1. ``crms db upgrade`` and ``crms demo --stage records --people N`` (what runs before the server starts);
  2. ``crms serve`` until ``GET /api/docs`` answers 200;
  3. ``crms demo --stage fingerprints --no-templates --people K``: ten synthetic fingers for the first K
     persons (generation + encrypted storage + rows), with ``--jobs J``;
  4. ``crms fp enrol-pending --jobs J`` (as the demo operator): their templates; then the minutiae and
     quality of the enrolled prints.
Steps 3 and 4 together are what the background job does for every person; K < N keeps the run short.

  .venv/bin/python bench/demo_bench.py [--people 500] [--finger-people 10] [--jobs 2]
  .venv/bin/python bench/demo_bench.py --steady 20

``--steady N`` instead measures, in this one process after a warm-up, the CPU per finger without start-up
costs: generating the demo image (``crms.demo.builder.finger_png``) and extracting its template (one thread),
which is what the background job spends per finger once its workers run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CRMS = str(ROOT / ".venv" / "bin" / "crms")


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(args: list[str], env: dict) -> tuple[float, float, str]:
    w0, c0 = time.perf_counter(), _children_cpu()
    p = subprocess.run([CRMS, *args], env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"crms {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return time.perf_counter() - w0, _children_cpu() - c0, p.stdout


def prints_summary(path: Path) -> dict:
    """Minutiae and quality of the enrolled demo prints (the extractor's view of the generated images)."""
    import sqlite3

    with sqlite3.connect(path) as con:
        rows = con.execute("SELECT minutiae, quality FROM fingerprints WHERE status = 'enrolled'").fetchall()
    if not rows:
        return {}
    minutiae = sorted(m for m, _ in rows)
    return {
        "enrolled": len(rows),
        "minutiae_mean": round(sum(minutiae) / len(rows), 1),
        "minutiae_p10_p90": [minutiae[len(rows) // 10], minutiae[(9 * len(rows)) // 10]],
        "share_30_80": round(sum(30 <= m <= 80 for m in minutiae) / len(rows), 2),
        "quality_mean": round(sum(q for _, q in rows) / len(rows), 1),
    }


def steady(n: int) -> dict:
    from crms.demo.builder import finger_png
    from crms.fingerprint.extract import set_threads
    from crms.fingerprint.workers import extract_one

    set_threads(1)
    extract_one(finger_png(99, 0, 1), 500)  # compile, load models
    gen = ext = 0.0
    for i in range(n):
        c0 = time.process_time()
        png = finger_png(98, i // 10, i % 10 + 1)
        c1 = time.process_time()
        r = extract_one(png, 500)
        c2 = time.process_time()
        assert r.error is None, r.error
        gen += c1 - c0
        ext += c2 - c1
    return {
        "fingers": n,
        "generate_cpu_per_finger_s": round(gen / n, 3),
        "extract_cpu_per_finger_s": round(ext / n, 3),
        "load": os.getloadavg(),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=500)
    ap.add_argument("--finger-people", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--steady", type=int, default=0)
    a = ap.parse_args()
    if a.steady:
        sys.path.insert(0, str(ROOT))
        print(json.dumps(steady(a.steady), indent=1))
        return
    data = Path(tempfile.mkdtemp(prefix="crms-demo-bench-"))
    env = dict(os.environ, CRMS_DATA_DIR=str(data))
    env.pop("CRMS_DATABASE_URL", None)
    out: dict[str, object] = {"people": a.people, "finger_people": a.finger_people, "jobs": a.jobs}
    out["load_before"] = os.getloadavg()

    w1, c1, _ = run(["db", "upgrade"], env)
    w2, c2, o2 = run(["demo", "--stage", "records", "--people", str(a.people), "--json"], env)
    operator = next(u for u in json.loads(o2)["users"] if u["username"] == "demo_operator")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    server = subprocess.Popen([CRMS, "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/docs", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
            if time.perf_counter() - t0 > 120:
                sys.exit("server did not answer within 120 s")
        w3 = time.perf_counter() - t0
    finally:
        server.terminate()
        server.wait()
    out["upgrade_s"] = [round(w1, 1), round(c1, 1)]
    out["records_s"] = [round(w2, 1), round(c2, 1)]
    out["serve_ready_s"] = round(w3, 1)
    out["to_usable_server_s"] = round(w1 + w2 + w3, 1)

    k = str(a.finger_people)
    j = str(a.jobs)
    stage = ["demo", "--stage", "fingerprints", "--no-templates", "--people", k, "--jobs", j, "--json"]
    w4, c4, o4 = run(stage, env)
    fingers = json.loads(o4)["fingerprints"]
    login = dict(env, CRMS_USER=operator["username"], CRMS_PASSWORD=operator["password"])
    new = "bench " + secrets.token_urlsafe(16)  # demo passwords work once: set a new one first
    run(["passwd"], dict(login, CRMS_NEW_PASSWORD=new))
    login["CRMS_PASSWORD"] = new
    w5, c5, o5 = run(["fp", "enrol-pending", "--jobs", j, "--json"], login)
    enrolled = json.loads(o5)["enrolled"]
    out["fingers"] = fingers
    out["generate_s"] = [round(w4, 1), round(c4, 1)]
    out["generate_cpu_per_finger_s"] = round(c4 / max(1, fingers), 3)
    out["enrolled"] = enrolled
    out["enrol_s"] = [round(w5, 1), round(c5, 1)]
    out["enrol_cpu_per_finger_s"] = round(c5 / max(1, enrolled), 3)
    per = (c4 + c5) / max(1, fingers)
    out["background_cpu_per_finger_s"] = round(per, 3)
    out["background_cpu_all_people_min"] = round(per * 10 * a.people / 60, 1)
    out["prints"] = prints_summary(data / "crms.sqlite3")
    out["load_after"] = os.getloadavg()
    out["data_dir"] = str(data)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
