"""How long a bulk import holds the SQLite write lock: generate a template CSV of N synthetic persons (the
generator of ``records_import_bench.py``), import it with ``import_persons_file`` (the CLI's path: validation
in a read transaction, then the write), and report every write transaction the import opened with its hold
time (BEGIN IMMEDIATE to the end of COMMIT/ROLLBACK; wall clock, and this process's CPU time during it, which
the load on a shared machine does not inflate), the longest one, the total, persons/s (wall and per CPU
second of this process; the machine is shared) and the load average.

The longest hold is what other requests wait for: every API request writes (an audit entry, a rate-limit
bucket), so on SQLite it needs the write lock (WAL readers alone are never blocked).

    nice -n 10 .venv/bin/python bench/records_import_lock_bench.py --rows 50000 --dir /tmp/crms-lock-bench
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--dir", default="/tmp/crms-import-lock-bench")
    args = ap.parse_args()

    from records_import_bench import make_csv
    from sqlalchemy import event

    from crms.access.audit import bind_data_dir
    from crms.access.principal import system_principal
    from crms.db import READ_ONLY, Database
    from crms.records.importer import import_persons_file
    from crms.records.reference import load_reference_data

    work = Path(args.dir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    csv_path = work / f"persons_{args.rows}.csv"
    make_csv(csv_path, args.rows)
    db = Database(f"sqlite:///{work / 'bench.sqlite3'}")
    db.upgrade()
    bind_data_dir(db, work / "data")
    with db.transaction() as s:
        load_reference_data(s)

    holds: list[float] = []
    cpu_holds: list[float] = []
    started: dict[int, tuple[float, float]] = {}

    @event.listens_for(db.engine, "begin")
    def _begin(conn) -> None:  # registered after the engine's own BEGIN IMMEDIATE listener
        if not conn.info.get(READ_ONLY):
            started[id(conn)] = (time.perf_counter(), time.process_time())

    def _end(conn) -> None:
        t0 = started.pop(id(conn), None)
        if t0 is not None:
            holds.append(time.perf_counter() - t0[0])
            cpu_holds.append(time.process_time() - t0[1])

    # commit/rollback events fire before the DBAPI commit; the hold ends when it returns, so wrap the pool's
    # reset instead: measure at "commit" plus the commit itself via the connection's after-commit hook.
    @event.listens_for(db.engine, "commit")
    def _commit(conn) -> None:
        conn.info["crms_bench_committing"] = True

    @event.listens_for(db.engine, "rollback")
    def _rollback(conn) -> None:
        _end(conn)

    from sqlalchemy.engine import Connection

    real_commit = Connection._commit_impl

    def timed_commit(self) -> None:  # type: ignore[no-untyped-def]
        try:
            real_commit(self)
        finally:
            if self.info.pop("crms_bench_committing", False):
                _end(self)

    Connection._commit_impl = timed_commit  # type: ignore[method-assign]

    who = system_principal("cli")
    results = {}
    for label in ("first", "rerun"):
        holds.clear()
        cpu_holds.clear()
        t, c = time.perf_counter(), time.process_time()
        report = import_persons_file(db, who, csv_path)
        dt, cpu = time.perf_counter() - t, time.process_time() - c
        assert report.ok, report.errors[:5]
        results[label] = {
            "seconds": round(dt, 2),
            "persons_per_s": round(args.rows / dt),
            "cpu_seconds": round(cpu, 2),
            "persons_per_cpu_s": round(args.rows / cpu),
            "imported": report.imported,
            "already_present": report.already_present,
            "write_transactions": len(holds),
            "longest_hold_s": round(max(holds, default=0.0), 3),
            "total_hold_s": round(sum(holds), 2),
            "longest_hold_cpu_s": round(max(cpu_holds, default=0.0), 3),
        }
        print(label, json.dumps(results[label]), flush=True)
    load = f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    print(json.dumps({"rows": args.rows, "machine": load, **results}))
    db.dispose()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
