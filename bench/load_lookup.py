"""CNIC lookups under concurrent load against `crms serve` as shipped, over loopback HTTP.

Starts `crms serve --workers W` on 127.0.0.1 against a database that bench/records_bench.py loaded (its --dir;
SQLite file records.sqlite3 there unless --url names another), then C concurrent keep-alive clients send a
bounded number of CNIC lookups (random existing CNICs, each with a reason; every lookup authenticated by an
API token, audited and rate limited as in production). Reports requests/s, latency p50/p95/p99 and the
server's CPU per request (all its processes, from /proc), PostgreSQL's (its processes on this machine), the
client's own CPU per request, and the load average.

    .venv/bin/python bench/load_lookup.py --dir /tmp/crms-bench-1m --workers 2 --clients 16 --requests 10000

The client is a minimal HTTP/1.1 keep-alive client on asyncio (no httpx: it would spend more CPU per request
than the server on the same cores). Loopback only; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _processes() -> list[tuple[int, str, int, float]]:
    """Every live process: pid, command name, parent pid, user + system CPU seconds (from /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
        out.append((int(entry), raw[raw.index("(") + 1 : raw.rindex(")")], int(fields[1]), cpu))
    return out


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU of ``root`` and all its descendants (live ones)."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    for pid, _name, ppid, cpu in _processes():
        children.setdefault(ppid, []).append(pid)
        times[pid] = cpu
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        total += times.get(pid, 0.0)
        stack.extend(children.get(pid, []))
    return total


def postgres_cpu_seconds() -> float:
    """User + system CPU of this machine's PostgreSQL processes (live ones: the pool's backends live through a
    run); 0.0 when none runs here."""
    return sum(cpu for _pid, name, _ppid, cpu in _processes() if name == "postgres")


async def client(
    host: str,
    port: int,
    paths,
    auth: str,
    expect: int,
    latencies: list[float],
    errors: list[str],
    trace: list[tuple[int, float, float]] | None = None,
    number: int = 0,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for path in paths:  # (an iterator shared by all clients: each takes the next lookup when it is free)
            request = (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: {auth}\r\n"
                "Accept: application/json\r\n\r\n"
            ).encode()
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            latencies.append((time.perf_counter() - t0) * 1000)
            if trace is not None:  # (client, sent at, latency ms)
                trace.append((number, t0, latencies[-1]))
            if status != expect:
                errors.append(f"{path}: HTTP {status}")
    finally:
        writer.close()


async def run_load(
    host: str, port: int, paths: list[str], auth: str, expect: int, clients: int, trace: list | None = None
):
    latencies: list[float] = []
    errors: list[str] = []
    # One queue of lookups for all clients (closed loop: a client sends its next lookup as soon as it has
    # the answer to the last), so that a client whose connection a less busy worker serves keeps working
    # instead of finishing a fixed share early and leaving the run's end to the busier worker alone.
    queue = iter(paths)
    t0 = time.perf_counter()
    runs = (client(host, port, queue, auth, expect, latencies, errors, trace, i) for i in range(clients))
    await asyncio.gather(*runs)
    return time.perf_counter() - t0, latencies, errors


def wait_ready(host: str, port: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"crms serve exited with {proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("crms serve did not start")


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def audit_seq(db) -> int:
    """The audit chain's last sequence number."""
    with db.engine.connect() as conn:
        return int(conn.exec_driver_sql("select seq from audit_head where id = 1").scalar() or 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, required=True, help="a bench/records_bench.py --dir")
    ap.add_argument("--url", default="", help="database URL (default: SQLite records.sqlite3 in --dir)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=5000, help="measured lookups (bounded)")
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--port", type=int, default=0, help="default: a random free port")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--rate-search", default="1000000/60", help="CRMS_RATE_SEARCH (on, never reached)")
    ap.add_argument("--no-access-log", action="store_true")
    ap.add_argument("--trace", type=Path, help="write each lookup: client, sent at (s), latency (ms)")
    a = ap.parse_args()
    if not 1 <= a.requests <= 200_000:
        raise SystemExit("--requests must be 1..200000")
    import records_bench as rb

    from crms.db import Database

    url = a.url or f"sqlite:///{a.dir / 'records.sqlite3'}"
    data_dir = a.dir / "data"
    db = Database(url)
    from crms.access.audit import bind_data_dir

    bind_data_dir(db, data_dir)
    with db.engine.connect() as conn:
        n_persons = conn.exec_driver_sql("select max(id) from persons").scalar()
    targets = rb._targets(db, n_persons, a.requests + a.warmup, a.seed)
    seq0 = audit_seq(db)
    db.dispose()
    urls, expect = targets["urls"]["cnic_lookup"]
    paths = [urlsplit(u).path + "?" + urlsplit(u).query if "://" in u else u for u in urls]
    random.Random(a.seed).shuffle(paths)
    auth = targets["headers"]["Authorization"]

    port = a.port or random.randint(20000, 60000)
    env = {
        **os.environ,
        "CRMS_DATABASE_URL": url,
        "CRMS_DATA_DIR": str(data_dir),
        "CRMS_RATE_SEARCH": a.rate_search,
    }
    cmd = [sys.executable, "-m", "crms.cli.main", "serve", "--port", str(port)]
    if a.workers != 1:  # (so that code from before --workers existed can be measured with --workers 1)
        cmd += ["--workers", str(a.workers)]
    if a.no_access_log:
        cmd.append("--no-access-log")
    server = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_ready("127.0.0.1", port, server)
        warm = paths[: a.warmup]
        measured = paths[a.warmup : a.warmup + a.requests]
        asyncio.run(run_load("127.0.0.1", port, warm, auth, expect, min(a.clients, len(warm) or 1)))
        # The client's own collector pauses (its heap holds SQLAlchemy and the lookups) would show as
        # server latency: everything allocated so far is frozen out of the collections.
        gc.collect()
        gc.freeze()
        load0 = os.getloadavg()[0]
        s0, c0, pg0 = tree_cpu_seconds(server.pid), time.process_time(), postgres_cpu_seconds()
        trace: list | None = [] if a.trace else None
        wall, lat, errors = asyncio.run(run_load("127.0.0.1", port, measured, auth, expect, a.clients, trace))
        s1, c1, pg1 = tree_cpu_seconds(server.pid), time.process_time(), postgres_cpu_seconds()
        load1 = os.getloadavg()[0]
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    n = len(lat)
    audited = audit_seq(db) - seq0  # every answered lookup (warm-up included) has its entry in the chain
    db.dispose()
    if a.trace:
        t_first = min(t for _c, t, _l in trace)
        a.trace.write_text("".join(f"{c}\t{t - t_first:.6f}\t{ms:.3f}\n" for c, t, ms in trace))
    pg_cpu = f", PostgreSQL CPU {(pg1 - pg0) * 1000 / n:.2f} ms/lookup" if "postgresql" in url else ""
    print(
        f"{db.engine.dialect.name}, {n_persons} persons, workers {a.workers}, clients {a.clients}: "
        f"{n} lookups in {wall:.2f} s = {n / wall:.0f}/s; latency ms p50 {quantile(lat, 0.5):.1f} "
        f"p95 {quantile(lat, 0.95):.1f} p99 {quantile(lat, 0.99):.1f} (mean {statistics.mean(lat):.1f}); "
        f"server CPU {(s1 - s0) * 1000 / n:.2f} ms/lookup, client CPU {(c1 - c0) * 1000 / n:.2f} ms/lookup"
        f"{pg_cpu}; "
        f"load average {load0:.1f} -> {load1:.1f} on {os.cpu_count()} cores; errors {len(errors)}; "
        f"audit entries written {audited} for {n + len(warm)} lookups"
    )
    if audited != n + len(warm):
        errors.append(f"{audited} audit entries for {n + len(warm)} lookups")
    if errors:
        print("first errors:", errors[:5])
        raise SystemExit(1)


if __name__ == "__main__":
    main()
