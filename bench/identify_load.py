"""1:N identification under concurrent load: ``POST /api/v1/identify`` against `crms serve` as shipped,
over loopback HTTP, with a gallery of N synthetic fingers in the database.

Build (once, ``--build``): a SQLite database in DIR with N/10 persons (bench/records_bench.py's loader, one
case each) and ten synthetic fingers per person (``synthetic_templates.bulk``: impressions of 2,000 masters,
as ``crms bench identify``), stored as CRMS templates in ``fingerprints`` (status enrolled), and an
investigating officer's API token. It then measures what a server start pays to load the gallery: from the
table (parse every template, compute every descriptor) and from the snapshot, in this process.

Load: starts `crms serve --workers W`, times the first identification (the gallery's load), then C concurrent
keep-alive clients send a bounded number of identify requests (one finger of a random enrolled person, another
impression of it, position known, as a CRMS template in a multipart form with a reason; authenticated,
audited and kept for an examiner's review as in production). Reports requests/s, latency p50/p95/p99, rank-1
of the answers, the server's CPU per request (all its processes, from /proc), the client's, and the load
average.

    nice -n 10 .venv/bin/python bench/identify_load.py --dir DIR --build --fingers 100000
    nice -n 10 .venv/bin/python bench/identify_load.py --dir DIR --clients 4 --requests 400
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from load_lookup import quantile, tree_cpu_seconds, wait_ready  # noqa: E402

BOUNDARY = "crmsbenchboundary7f3a"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def build(directory: Path, fingers: int, seed: int) -> None:
    import numpy as np
    import records_bench as rb

    from crms.access.audit import bind_data_dir
    from crms.access.tokens import issue_token
    from crms.access.users import create_user
    from crms.db import Database
    from crms.fingerprint import synthetic_templates as S
    from crms.fingerprint.serialise import dumps
    from crms.fingerprint.template import Template
    from crms.records.reference import load_reference_data

    directory.mkdir(parents=True, exist_ok=True)
    data_dir = directory / "data"
    data_dir.mkdir(exist_ok=True)
    path = directory / "identify.sqlite3"
    if path.exists():
        raise SystemExit(f"{path} exists: measure it without --build, or remove it")
    db = Database(f"sqlite:///{path}")
    bind_data_dir(db, data_dir)
    db.upgrade()
    with db.transaction() as s:
        load_reference_data(s)
    persons = fingers // 10
    rb.load(db, persons, persons, seed)
    log(f"generating {fingers:,} synthetic fingers")
    rng = np.random.default_rng(seed)
    q, counts = S.bulk(fingers, rng, distinct=min(2000, max(10, persons)))
    off = np.concatenate([[0], np.cumsum(counts)])
    now = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime())
    cols = ["person_id", "position", "source", "image_ref", "image_format", "image_ppi", "image_width",
            "image_height", "image_sha256", "status", "template", "quality", "minutiae", "extractor",
            "enrolled_at", "captured_at", "active", "created_at", "updated_at"]  # fmt: skip
    raw = db.engine.raw_connection()
    cur = raw.driver_connection.cursor()
    rows = []
    for i in range(fingers):
        m = q[off[i] : off[i + 1]].astype(np.float64)
        t = Template(S.WIDTH + 60, S.HEIGHT + 60, np.column_stack([
            m[:, 0] / 8, m[:, 1] / 8, m[:, 2] * (2 * np.pi / 65536), np.ones(len(m)), np.full(len(m), 60.0)
        ]).astype(np.float32))  # fmt: skip
        rows.append((i // 10 + 1, i % 10 + 1, "synthetic", f"fingerprint/{i:032x}", "png", 500, 300, 400,
                     "0" * 64, "enrolled", dumps(t), 60, len(m), "bench", now, now, 1, now, now))  # fmt: skip
        if len(rows) == 20_000 or i == fingers - 1:
            marks = ",".join("?" * len(cols))
            cur.executemany(f"INSERT INTO fingerprints ({','.join(cols)}) VALUES ({marks})", rows)
            rows = []
            log(f"fingerprints {i + 1:,}/{fingers:,}")
    raw.commit()
    cur.execute("ANALYZE")
    raw.commit()
    raw.close()
    with db.transaction() as s:
        user = create_user(s, "bench_identify", "investigating_officer", unit="BA", password=None)
        token = issue_token(s, user)
    (directory / "token").write_text(token)
    (directory / "gallery.json").write_text(json.dumps({"fingers": fingers, "seed": seed}))
    log(f"built {path}")
    measure_loading(directory)


def measure_loading(directory: Path) -> None:
    """What a start pays for the gallery: from the table, then from the snapshot (in this process)."""
    from crms.access.audit import bind_data_dir
    from crms.access.crypto import load_data_key
    from crms.biometrics.identification import GalleryStore
    from crms.db import Database

    data_dir = directory / "data"
    db = Database(f"sqlite:///{directory / 'identify.sqlite3'}")
    bind_data_dir(db, data_dir)
    key = load_data_key(data_dir)
    snap = data_dir / "gallery" / "snapshot"
    snap.unlink(missing_ok=True)
    import hashlib

    digest = hashlib.sha256(str(db.engine.url).encode()).hexdigest()[:16]
    out = {}
    for label in ("table", "snapshot"):
        st = GalleryStore(snap, key, digest)
        t, c = time.perf_counter(), cpu_s()
        with db.read_transaction() as s:
            r = st.sync(s)
        out[label] = {"wall_s": round(time.perf_counter() - t, 2), "cpu_s": round(cpu_s() - c, 2),
                      "fingers": r["fingers"], "source": st.last_load["source"]}  # fmt: skip
        t, c = time.perf_counter(), cpu_s()
        with db.read_transaction() as s:
            st.sync(s)
        out[label]["sync_in_step_ms"] = round((time.perf_counter() - t) * 1000, 1)
        t, c = time.perf_counter(), cpu_s()
        with db.read_transaction() as s:
            st._reconcile(s)  # the census (at load, then every CENSUS_EVERY)
        out[label]["census_ms"] = round((time.perf_counter() - t) * 1000, 1)
        out[label]["census_cpu_ms"] = round((cpu_s() - c) * 1000, 1)
    out["snapshot_bytes"] = snap.stat().st_size
    out["load_average"] = round(os.getloadavg()[0], 1)
    print("gallery load:", json.dumps(out))
    db.dispose()


def probes(directory: Path, n: int, seed: int, fingers_per_probe: int) -> list[tuple[bytes, int]]:
    """(multipart body, expected person) per request: impressions of enrolled fingers, positions known."""
    import numpy as np
    from sqlalchemy import select

    from crms.biometrics.models import Fingerprint
    from crms.db import Database
    from crms.fingerprint import synthetic_templates as S
    from crms.fingerprint.serialise import dumps, loads

    db = Database(f"sqlite:///{directory / 'identify.sqlite3'}")
    rng = np.random.default_rng(seed)
    with db.engine.connect() as conn:
        persons = int(conn.exec_driver_sql("select max(person_id) from fingerprints").scalar())
    out = []
    with db.transaction() as s:
        for _ in range(n):
            pid = int(rng.integers(1, persons + 1))
            positions = sorted(rng.choice(np.arange(1, 11), fingers_per_probe, replace=False).tolist())
            rows = s.execute(
                select(Fingerprint.position, Fingerprint.template).where(
                    Fingerprint.person_id == pid, Fingerprint.position.in_(positions)
                )
            ).all()
            parts = []
            for pos, blob in rows:
                probe = dumps(S.impression(loads(bytes(blob)), rng))
                parts.append(
                    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="print"; filename="f{pos}.tpl"\r\n'
                    "Content-Type: application/octet-stream\r\n\r\n".encode()
                    + probe
                    + b"\r\n"
                )
                field = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="position"\r\n\r\n{pos}\r\n'
                parts.append(field.encode())
            parts.append(
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="reason"\r\n\r\nload test\r\n'
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="top"\r\n\r\n10\r\n--{BOUNDARY}--\r\n'
                .encode()
            )  # fmt: skip
            out.append((b"".join(parts), pid))
    db.dispose()
    return out


async def client(host, port, work, auth, latencies, errors, hits) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for body, pid in work:
            head = (
                f"POST /api/v1/identify HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: {auth}\r\n"
                f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {len(body)}\r\n"
                "Accept: application/json\r\n\r\n"
            ).encode()
            t0 = time.perf_counter()
            writer.write(head + body)
            got = await reader.readuntil(b"\r\n\r\n")
            status = int(got[9:12])
            length = 0
            for line in got.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            payload = await reader.readexactly(length) if length else b""
            latencies.append((time.perf_counter() - t0) * 1000)
            if status != 200:
                errors.append(f"HTTP {status}: {payload[:200]!r}")
                continue
            cands = json.loads(payload)["candidates"]
            hits.append(bool(cands) and cands[0]["person_id"] == pid)
    finally:
        writer.close()


async def run_load(host, port, work, auth, clients):
    latencies: list[float] = []
    errors: list[str] = []
    hits: list[bool] = []
    shares = [work[i::clients] for i in range(clients)]
    t0 = time.perf_counter()
    await asyncio.gather(*(client(host, port, s, auth, latencies, errors, hits) for s in shares))
    return time.perf_counter() - t0, latencies, errors, hits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, required=True)
    ap.add_argument("--build", action="store_true", help="build the database first")
    ap.add_argument("--fingers", type=int, default=100_000, help="gallery size (with --build)")
    ap.add_argument("--measure-loading", action="store_true", help="only the gallery load figures")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--requests", type=int, default=400, help="measured requests (bounded)")
    ap.add_argument("--warmup", type=int, default=8)
    ap.add_argument("--probe-fingers", type=int, default=1, help="fingers per request (1-10)")
    ap.add_argument("--snapshot", choices=("on", "off"), default="on", help="CRMS_GALLERY_SNAPSHOT")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--rate-search", default="1000000/60", help="CRMS_RATE_SEARCH (on, never reached)")
    a = ap.parse_args()
    if not 1 <= a.requests <= 20_000 or not 1 <= a.probe_fingers <= 10:
        raise SystemExit("--requests must be 1..20000, --probe-fingers 1..10")
    if a.build:
        build(a.dir, a.fingers, a.seed)
        return
    if a.measure_loading:
        measure_loading(a.dir)
        return
    work = probes(a.dir, a.requests + a.warmup + 1, a.seed + 1, a.probe_fingers)
    auth = "Bearer " + (a.dir / "token").read_text().strip()
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "CRMS_DATABASE_URL": f"sqlite:///{a.dir / 'identify.sqlite3'}",
        "CRMS_DATA_DIR": str(a.dir / "data"),
        "CRMS_GALLERY_SNAPSHOT": a.snapshot,
        "CRMS_RATE_SEARCH": a.rate_search,
    }
    cmd = [sys.executable, "-m", "crms.cli.main", "serve", "--port", str(port), "--no-access-log",
           "--no-enrol-worker", "--workers", str(a.workers)]  # fmt: skip
    t_start = time.perf_counter()
    server = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_ready("127.0.0.1", port, server)
        ready = time.perf_counter() - t_start
        s0 = tree_cpu_seconds(server.pid)
        first, _lat, errors, _h = asyncio.run(run_load("127.0.0.1", port, work[:1], auth, 1))
        first_cpu = tree_cpu_seconds(server.pid) - s0
        if errors:
            raise SystemExit(f"first request failed: {errors[0]}")
        log(f"server answering after {ready:.1f} s; first identify {first:.2f} s ({first_cpu:.2f} s CPU)")
        warm = work[1 : 1 + a.warmup]
        asyncio.run(run_load("127.0.0.1", port, warm, auth, min(a.clients, len(warm) or 1)))
        measured = work[1 + a.warmup :]
        load0 = os.getloadavg()
        s0, c0 = tree_cpu_seconds(server.pid), time.process_time()
        wall, lat, errors, hits = asyncio.run(run_load("127.0.0.1", port, measured, auth, a.clients))
        s1, c1 = tree_cpu_seconds(server.pid), time.process_time()
        load1 = os.getloadavg()
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    n = len(lat)
    meta = json.loads((a.dir / "gallery.json").read_text())
    result = {
        "fingers": meta["fingers"], "workers": a.workers, "clients": a.clients,
        "probe_fingers": a.probe_fingers, "snapshot": a.snapshot, "requests": n, "wall_s": round(wall, 2),
        "requests_per_s": round(n / wall, 2),
        "latency_ms": {"p50": round(quantile(lat, 0.5), 1), "p95": round(quantile(lat, 0.95), 1),
                       "p99": round(quantile(lat, 0.99), 1), "mean": round(statistics.mean(lat), 1)},
        "rank1": round(sum(hits) / max(1, len(hits)), 4),
        "server_cpu_ms_per_request": round((s1 - s0) * 1000 / n, 1),
        "client_cpu_ms_per_request": round((c1 - c0) * 1000 / n, 2),
        "server_ready_s": round(ready, 1), "first_identify_s": round(first, 2),
        "first_identify_server_cpu_s": round(first_cpu, 2),
        "load_average_before": [round(x, 1) for x in load0],
        "load_average_after": [round(x, 1) for x in load1],
        "cores": os.cpu_count(), "errors": len(errors),
    }  # fmt: skip
    print(json.dumps(result))
    if errors:
        print("first errors:", errors[:3])
        raise SystemExit(1)


if __name__ == "__main__":
    main()
