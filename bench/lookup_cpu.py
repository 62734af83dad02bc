"""Where a CNIC lookup's CPU goes, in one process: the application (as `crms serve` runs it, behind uvicorn's
proxy-headers middleware) called directly over ASGI by C concurrent tasks on one event loop, no HTTP and no
socket, against a database that bench/records_bench.py loaded. Reports the process's CPU per lookup and the
thread CPU spent in its parts: the lookup's reads (`crms.db.read_together`), the rest of the lookup service,
the audit writer's batches (`AuditWriter.write_batches`: buckets, chain, commit), FastAPI's dependency solving
(query parameters, the unknown-parameter check), the labels, the JSON encoding of the answer and the NUL
check of every statement's text (`crms.db.check_no_nul`); `--profile
FILE` writes a cProfile of the measured part (thread CPU as its clock; it slows pure Python most).

The tasks stay in step, so each of the writer's batches holds about C lookups: C = 4 is near the 3.5 of
`crms serve --workers 2` under 16 clients (bench/load_lookup.py).

    .venv/bin/python bench/lookup_cpu.py --dir /tmp/crms-bench-pg \\
        --url postgresql+psycopg://postgres@127.0.0.1:5432/crms_bench --clients 4 --requests 3000
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_spent: dict[str, list] = {}  # part -> [thread CPU seconds, calls]


def _count(label: str, seconds: float) -> None:
    entry = _spent.setdefault(label, [0.0, 0])
    entry[0] += seconds
    entry[1] += 1


def _timed(owner, name: str, label: str) -> None:
    """Count the thread CPU of ``owner.name`` under ``label`` (outermost call only: the labels recurse)."""
    inner = getattr(owner, name)
    depth = [0]

    @functools.wraps(inner)
    def wrapper(*args, **kwargs):
        depth[0] += 1
        t0 = time.thread_time()
        try:
            return inner(*args, **kwargs)
        finally:
            depth[0] -= 1
            if depth[0] == 0:
                _count(label, time.thread_time() - t0)

    setattr(owner, name, wrapper)


def _instrument() -> None:
    import fastapi.routing

    import crms.api.routes.records as routes
    import crms.db
    import crms.records.services as services
    import crms.records.services.lookup as lookup
    from crms.access.audit_writer import AuditWriter

    _timed(lookup, "read_together", "the four reads (read_together)")
    _timed(services, "lookup_cnic", "lookup service, reads included")
    _timed(AuditWriter, "write_batches", "audit writer's batches")
    _timed(routes, "labelled", "labels")
    _timed(routes, "plain_json", "JSON response")
    _timed(crms.db, "check_no_nul", "NUL check of the statements' text")
    solve = fastapi.routing.solve_dependencies

    async def solve_timed(*args, **kwargs):  # no await inside for these routes: one slice of the thread
        t0 = time.thread_time()
        result = await solve(*args, **kwargs)
        _count("FastAPI dependency solving", time.thread_time() - t0)
        return result

    fastapi.routing.solve_dependencies = solve_timed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, required=True, help="a bench/records_bench.py --dir")
    ap.add_argument("--url", default="", help="database URL (default: SQLite records.sqlite3 in --dir)")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--profile", type=Path, help="write a cProfile of the measured lookups here")
    a = ap.parse_args()
    url = a.url or f"sqlite:///{a.dir / 'records.sqlite3'}"
    data_dir = a.dir / "data"
    os.environ.update(CRMS_DATABASE_URL=url, CRMS_DATA_DIR=str(data_dir), CRMS_RATE_SEARCH="1000000/60")
    import records_bench as rb
    from api_inprocess import call
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    from crms.access.audit import bind_data_dir
    from crms.api import app as application
    from crms.db import Database

    db = Database(url)
    bind_data_dir(db, data_dir)
    with db.engine.connect() as conn:
        n_persons = conn.exec_driver_sql("select max(id) from persons").scalar()
    targets = rb._targets(db, n_persons, a.requests, a.seed)
    db.dispose()
    urls, _ = targets["urls"]["cnic_lookup"]
    auth = targets["headers"]["Authorization"].encode()
    paths = [u.split("://", 1)[-1] for u in urls]
    paths = [p if p.startswith("/") else "/" + p.split("/", 1)[1] for p in paths]
    _instrument()
    make = getattr(application, "create_served_app", application.create_app)  # (older code: create_app)
    app = ProxyHeadersMiddleware(make())

    async def lookup(path_query: str) -> None:
        status = await call(app, path_query, auth)  # (bench/api_inprocess.py: one ASGI request)
        if status != 200:
            raise SystemExit(f"{path_query}: answered {status}")

    async def run(queue: list[str]) -> None:
        async def client() -> None:
            while queue:
                await lookup(queue.pop())

        await asyncio.gather(*[client() for _ in range(a.clients)])

    async def measure() -> tuple[float, float]:
        await run(list(paths[: min(300, len(paths))]))  # warm-up
        _spent.clear()
        profile = cProfile.Profile(time.thread_time) if a.profile else None
        c0, w0 = time.process_time(), time.perf_counter()
        if profile:
            profile.enable()
        await run(list(paths))
        if profile:
            profile.disable()
            profile.dump_stats(a.profile)
        return time.process_time() - c0, time.perf_counter() - w0

    cpu, wall = asyncio.run(measure())
    n = len(paths)
    print(
        f"{db.engine.dialect.name}, {n_persons} persons, {a.clients} tasks: {n} lookups, "
        f"CPU {cpu * 1000 / n:.3f} ms per lookup (wall {wall * 1000 / n:.3f})"
    )
    for label, (seconds, calls) in _spent.items():
        print(f"  {label}: {seconds * 1e6 / n:.0f} us per lookup ({calls} calls)")


if __name__ == "__main__":
    main()
