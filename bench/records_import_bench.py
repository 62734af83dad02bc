"""Bulk-import speed: generate a template CSV of N synthetic persons, import it with the real import service
(``crms.records.importer.import_persons``: full validation, reference lookups, duplicate checks, Core inserts,
audit) into a fresh database, and report persons/s (wall clock and per CPU second of this process: the machine
is shared). Then re-import the same file (idempotent: 0 new).

    .venv/bin/python bench/records_import_bench.py --rows 100000 --dir /tmp/crms-import-bench
    .venv/bin/python bench/records_import_bench.py --rows 100000 --url postgresql+psycopg://postgres@127.0.0.1/crms_bench_import
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import time
from pathlib import Path


def make_csv(path: Path, rows: int, seed: int = 1) -> None:
    """A template CSV: names drawn from crms.demo.names (both scripts), real districts and stations, unique
    Balochistan CNICs, a mobile number on a third of the rows."""
    from crms.demo.names import draw_name, synthetic_cnic
    from crms.records.importer import ALL_COLUMNS
    from crms.records.reference import read_reference_data

    ref = read_reference_data()
    stations = [(s["district_code"], s["name_en"]) for s in ref.police_stations if not s.get("valid_to")]
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(ALL_COLUMNS)
        for i in range(rows):
            n = draw_name(rng)
            district, station = rng.choice(stations)
            rec = {
                "cnic": synthetic_cnic(rng, n.gender, serial=i),
                "name": n.given_en,
                "family_name": n.caste_en if rng.random() < 0.5 else "",
                "father_name": n.father_en,
                "name_urdu": n.given_ur,
                "father_name_urdu": n.father_ur,
                "relation": n.relation,
                "gender": n.gender,
                "date_of_birth": (
                    f"{rng.randrange(1950, 2005)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
                    if rng.random() < 0.7
                    else str(rng.randrange(1950, 2005))
                ),
                "district": district,
                "police_station": station,
                "caste": n.caste_en,
                "phone": f"03{rng.randrange(0, 5)}{rng.randrange(0, 10)}{rng.randrange(10**6, 10**7)}"
                if i % 3 == 0
                else "",
            }
            w.writerow([rec.get(c, "") for c in ALL_COLUMNS])


def _time_nul_check() -> list[float]:
    """Count the CPU of crms.db.check_no_nul (the refusal of a NUL in any statement's text) in [0]."""
    import crms.db

    spent, inner = [0.0], crms.db.check_no_nul

    def timed(*args):
        c = time.process_time()
        try:
            return inner(*args)
        finally:
            spent[0] += time.process_time() - c

    crms.db.check_no_nul = timed
    return spent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--dir", default="/tmp/crms-import-bench")
    ap.add_argument("--url", default=None, help="database URL (default: SQLite in --dir)")
    args = ap.parse_args()

    from crms.access.audit import bind_data_dir
    from crms.access.principal import system_principal
    from crms.db import Database
    from crms.records.importer import import_persons
    from crms.records.reference import load_reference_data

    work = Path(args.dir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    csv_path = work / f"persons_{args.rows}.csv"
    t = time.perf_counter()
    make_csv(csv_path, args.rows)
    print(
        f"generated {args.rows} rows in {time.perf_counter() - t:.1f} s "
        f"({csv_path.stat().st_size / 1e6:.1f} MB)"
    )
    url = args.url or f"sqlite:///{work / 'bench.sqlite3'}"
    if url.startswith("postgresql"):
        import psycopg

        base, name = url.rsplit("/", 1)
        with psycopg.connect(base.replace("+psycopg", "") + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    db = Database(url)
    db.upgrade()
    bind_data_dir(db, work / "data")
    with db.transaction() as s:
        load_reference_data(s)
    who = system_principal("cli")
    nul_check = _time_nul_check()
    results = {}
    for label in ("first", "rerun"):
        nul_check[0] = 0.0
        t, c = time.perf_counter(), time.process_time()
        with db.transaction() as s:
            report = import_persons(s, who, csv_path)
        dt = time.perf_counter() - t
        cpu = time.process_time() - c
        assert report.ok, report.errors[:5]
        results[label] = {
            "seconds": round(dt, 2),
            "rows_per_s": round(args.rows / dt),
            "cpu_seconds": round(cpu, 2),
            "rows_per_cpu_s": round(args.rows / cpu),
            "imported": report.imported,
            "already_present": report.already_present,
            "nul_check_cpu_seconds": round(nul_check[0], 3),  # crms.db.check_no_nul, within cpu_seconds
        }
        print(label, json.dumps(results[label]))
    load = f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    print(json.dumps({"rows": args.rows, "backend": db.engine.dialect.name, "machine": load, **results}))


if __name__ == "__main__":
    main()
