"""CPU per request of the CRMS app called directly as ASGI: no HTTP parsing, no client, one request at a time
on a uvloop event loop; what the app and the framework cost (CPU of every thread of this process, so the
thread-pool work is counted). Optional cProfile of the event-loop thread.

.venv/bin/python bench/api_inprocess.py --dir /tmp/crms-bench-1m [--url URL] [--requests 1000]
    [--label cnic_lookup|cnic_lookup_unknown|person_record|baseline_auth_me] [--profile OUT.prof]

The database is one that bench/records_bench.py loaded (its --dir; SQLite file records.sqlite3 there unless
--url names another).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


async def call(app, url: str, auth: bytes) -> int:
    path, _, qs = url.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": qs.encode(), "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", auth)],
        "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000), "state": {},
    }  # fmt: skip
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", type=Path, required=True)
    ap.add_argument("--url", default="")
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--label", default="cnic_lookup")
    ap.add_argument("--profile", default="")
    ap.add_argument("--rate-search", default="1000000/60")
    a = ap.parse_args()
    os.environ["CRMS_RATE_SEARCH"] = a.rate_search
    import records_bench as rb

    from crms.access.audit import bind_data_dir
    from crms.api.app import create_app
    from crms.config import Settings
    from crms.db import Database

    url = a.url or f"sqlite:///{a.dir / 'records.sqlite3'}"
    data_dir = a.dir / "data"
    db = Database(url)
    bind_data_dir(db, data_dir)
    with db.engine.connect() as conn:
        n_persons = conn.exec_driver_sql("select max(id) from persons").scalar()
    targets = rb._targets(db, n_persons, a.requests, 7)
    settings = Settings(
        data_dir=data_dir, database_url=url, data_key=None, secret_key="bench", environment="bench"
    )
    app = create_app(settings=settings, database=db)
    auth = targets["headers"]["Authorization"].encode()
    urls, expect = targets["urls"][a.label]

    async def run() -> tuple[list[float], list[float]]:
        for u in urls[:30]:
            await call(app, u, auth)
        cpu, wall = [], []
        profile = cProfile.Profile() if a.profile else None
        if profile:
            profile.enable()
        for u in urls:
            c0, w0 = time.process_time(), time.perf_counter()
            status = await call(app, u, auth)
            cpu.append((time.process_time() - c0) * 1000)
            wall.append((time.perf_counter() - w0) * 1000)
            if status != expect:
                raise SystemExit(f"{u}: HTTP {status}, expected {expect}")
        if profile:
            profile.disable()
            profile.dump_stats(a.profile)
        return cpu, wall

    import uvloop

    cpu, wall = uvloop.run(run())

    def q(v: list[float], p: float) -> float:
        return sorted(v)[int(p * (len(v) - 1))]

    load = Path("/proc/loadavg").read_text().split()[0]
    print(
        f"{a.label}: {len(urls)} requests, CPU ms mean {statistics.mean(cpu):.2f} p50 {q(cpu, 0.5):.2f} "
        f"p95 {q(cpu, 0.95):.2f}; wall p50 {q(wall, 0.5):.2f} p95 {q(wall, 0.95):.2f}; load {load}"
    )


if __name__ == "__main__":
    main()
