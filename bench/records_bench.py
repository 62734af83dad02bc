"""Records benchmark: load N synthetic persons and M cases (FIRs) with Core/DBAPI bulk inserts (SQLite:
executemany; PostgreSQL: COPY), then measure through the real API (FastAPI app in-process, TestClient, audit
trail on, rate limit off) the CNIC lookup ``GET /api/v1/persons?cnic=...`` and the full person record with
history ``GET /api/v1/persons/{id}``: p50/p95/p99 latency (wall clock), and the CPU time the process spent per
request (client and app threads; on a shared, loaded machine wall time also contains waiting for a core).

Data shape per person: one CNIC (province 5), one permanent address (real district and station), names in
both scripts (crms.demo.names). Per case: a real police station, FIR number unique per station and year, 1-2
offences from the statute table, 1-3 status-history rows, one accused (a random person, so each person is in
~M/N cases) with 1-2 party-status rows; absconders/proclaimed offenders raise flags; arrests, convictions.

    # SQLite (default), data under /tmp:
    .venv/bin/python bench/records_bench.py --persons 1000000 --cases 2000000 --dir /tmp/crms-bench
    # PostgreSQL on 127.0.0.1 (database created fresh):
    .venv/bin/python bench/records_bench.py --persons 1000000 --cases 2000000 --dir /tmp/crms-bench-pg \\
        --url postgresql+psycopg://postgres@127.0.0.1:5432/crms_bench
    # measure again on an existing load:  --skip-load
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

CHUNK = 50_000
CASE_STATUSES = [
    ("registered", 0.08),
    ("under_investigation", 0.15),
    ("challan_complete", 0.12),
    ("challan_interim", 0.05),
    ("challan_512", 0.03),
    ("cancelled", 0.04),
    ("untraced", 0.05),
    ("under_trial", 0.25),
    ("convicted", 0.10),
    ("acquitted", 0.10),
    ("compromised", 0.03),
]
PARTY_BY_CASE = {
    "registered": ["named", "arrested", "absconder"],
    "under_investigation": ["arrested", "on_bail", "absconder"],
    "challan_complete": ["arrested", "on_bail"],
    "challan_interim": ["arrested", "on_bail", "absconder"],
    "challan_512": ["absconder", "proclaimed_offender_a", "proclaimed_offender_b"],
    "cancelled": ["discharged"],
    "untraced": ["named"],
    "under_trial": ["arrested", "on_bail", "proclaimed_offender_b"],
    "convicted": ["convicted"],
    "acquitted": ["acquitted"],
    "compromised": ["discharged"],
}
FLAGS = {
    "absconder": ["absconder", "wanted"],
    "proclaimed_offender_a": ["proclaimed_offender", "absconder", "wanted"],
    "proclaimed_offender_b": ["proclaimed_offender", "absconder", "wanted"],
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Writer:
    """Bulk rows into one table: SQLite executemany or PostgreSQL COPY, on one raw DBAPI connection."""

    def __init__(self, raw, dialect: str):
        self.raw = raw
        self.dialect = dialect
        self.rows = 0

    def write(self, table: str, columns: list[str], rows: list[tuple]) -> None:
        if not rows:
            return
        cur = self.raw.cursor()
        if self.dialect == "sqlite":
            marks = ",".join("?" * len(columns))
            cur.executemany(f"INSERT INTO {table} ({','.join(columns)}) VALUES ({marks})", rows)
        else:
            with cur.copy(f"COPY {table} ({','.join(columns)}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)
        cur.close()
        self.rows += len(rows)


def ts(dialect: str, value: datetime):
    # SQLAlchemy's SQLite DateTime storage format; PostgreSQL takes the aware datetime.
    return value.strftime("%Y-%m-%d %H:%M:%S.%f") if dialect == "sqlite" else value


def d(dialect: str, value: date):
    return value.isoformat() if dialect == "sqlite" else value


def load(db, n_persons: int, n_cases: int, seed: int) -> dict:
    from sqlalchemy import select

    from crms.demo.names import draw_name
    from crms.records import services
    from crms.records.reference import PoliceStation, StatuteSection

    dialect = db.engine.dialect.name
    with db.transaction() as s:
        stations = [
            (p.code, p.district_code, p.unit_path)
            for p in s.scalars(select(PoliceStation).where(PoliceStation.valid_to.is_(None)))
        ]
        sections = [
            (x.statute_code, x.section)
            for x in s.scalars(
                select(StatuteSection).where(StatuteSection.statute_code.in_(["PPC", "CNSA", "AO1965"]))
            )
        ]
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    now = datetime.now().astimezone()
    created = ts(dialect, now)
    t0 = time.perf_counter()
    raw = db.engine.raw_connection()
    dbapi = raw.driver_connection
    if dialect == "sqlite":
        dbapi.execute("PRAGMA synchronous=OFF")
        dbapi.execute("PRAGMA cache_size=-400000")
    w = Writer(dbapi, dialect)
    name_cache: dict[tuple, tuple[str, str]] = {}

    # ------------------------------------------------------------------ persons, CNICs, addresses
    pcols = [
        "id", "given_name_en", "given_name_ur", "parentage_relation", "parentage_name_en",
        "parentage_name_ur", "caste", "date_of_birth", "birth_year", "birth_year_estimated", "gender",
        "nationality", "unit_path",
        "name_key", "name_sound", "created_at", "updated_at",
    ]  # fmt: skip
    dcols = ["id", "person_id", "doc_type", "number", "issuing_country", "created_at", "updated_at"]
    acols = [
        "id",
        "person_id",
        "kind",
        "district_code",
        "police_station_code",
        "text",
        "created_at",
        "updated_at",
    ]
    cnics: list[str] = []
    for start in range(1, n_persons + 1, CHUNK):
        stop = min(start + CHUNK, n_persons + 1)
        prow, drow, arow = [], [], []
        st_idx = nrng.integers(0, len(stations), stop - start)
        years = nrng.integers(1950, 2006, stop - start)
        days = nrng.integers(0, 365, stop - start)
        for k, pid in enumerate(range(start, stop)):
            n = draw_name(rng)
            key = (n.given_en, n.father_en)
            keys = name_cache.get(key)
            if keys is None:
                from types import SimpleNamespace

                ns = SimpleNamespace(
                    given_name_en=n.given_en, family_name_en=None, given_name_ur=n.given_ur,
                    family_name_ur=None, parentage_name_en=n.father_en, parentage_name_ur=n.father_ur,
                )  # fmt: skip
                services.names._refresh_name_keys(ns)
                keys = name_cache[key] = (ns.name_key, ns.name_sound)
            code, district, unit = stations[st_idx[k]]
            dob = date(int(years[k]), 1, 1) + timedelta(days=int(days[k]))
            # 5 + 4 locality digits + 7-digit serial (the person id keeps it unique) + gender digit
            cnic = (
                f"5{4000 + pid % 6000:04d}{pid:07d}{'13579'[pid % 5] if n.gender == 'M' else '2468'[pid % 4]}"
            )
            cnics.append(cnic)
            prow.append(
                (pid, n.given_en, n.given_ur, n.relation, n.father_en, n.father_ur, n.caste_en,
                 d(dialect, dob), dob.year, False, n.gender, "PK", unit, keys[0], keys[1], created, created)
            )  # fmt: skip
            drow.append((pid, pid, "CNIC", cnic, "PK", created, created))
            arow.append((pid, pid, "permanent", district, code, None, created, created))
        w.write("persons", pcols, prow)
        w.write("identity_documents", dcols, drow)
        w.write("addresses", acols, arow)
        if start == 1 or (stop - 1) % 200_000 == 0 or stop > n_persons:
            log(f"persons {stop - 1:,}/{n_persons:,} ({w.rows / (time.perf_counter() - t0):,.0f} rows/s)")

    # ------------------------------------------------------------------ cases and everything hanging off them
    ccols = [
        "id", "police_station_code", "district_code", "fir_number", "year", "registered_on", "occurred_on",
        "sections_text", "status", "unit_path", "created_at", "updated_at",
    ]  # fmt: skip
    ocols = ["id", "case_id", "position", "statute_code", "section", "subclause"]
    hcols = ["id", "case_id", "from_status", "status", "effective_on", "changed_at"]
    lcols = ["id", "case_id", "person_id", "role", "status", "created_at", "updated_at"]
    lhcols = ["id", "party_id", "from_status", "status", "effective_on", "changed_at"]
    fcols = ["id", "person_id", "kind", "case_id", "party_id", "raised_at", "raise_reason"]
    arcols = ["id", "party_id", "arrested_on", "place", "created_at", "updated_at"]
    cvcols = ["id", "party_id", "court", "convicted_on", "sentence", "created_at", "updated_at"]
    fir_counter: dict[tuple[str, int], int] = {}
    status_names = [x for x, _ in CASE_STATUSES]
    status_p = np.array([p for _, p in CASE_STATUSES])
    status_p /= status_p.sum()
    ids = {"o": 0, "h": 0, "lh": 0, "f": 0, "ar": 0, "cv": 0}
    for start in range(1, n_cases + 1, CHUNK):
        stop = min(start + CHUNK, n_cases + 1)
        m = stop - start
        st_idx = nrng.integers(0, len(stations), m)
        years = nrng.integers(2005, 2026, m)
        days = nrng.integers(0, 365, m)
        statuses = nrng.choice(len(status_names), size=m, p=status_p)
        persons = nrng.integers(1, n_persons + 1, m)
        n_off = nrng.integers(1, 3, m)
        sec_idx = nrng.integers(0, len(sections), (m, 2))
        crow, orow, hrow, lrow, lhrow, frow, arrow, cvrow = [], [], [], [], [], [], [], []
        for k, cid in enumerate(range(start, stop)):
            code, district, unit = stations[st_idx[k]]
            year = int(years[k])
            fir = fir_counter.get((code, year), 0) + 1
            fir_counter[(code, year)] = fir
            reg = date(year, 1, 1) + timedelta(days=int(days[k]))
            status = status_names[statuses[k]]
            offs = [sections[sec_idx[k, j]] for j in range(int(n_off[k]))]
            text = "/".join(sec for _, sec in offs) + " " + offs[-1][0]
            crow.append(
                (cid, code, district, fir, year, d(dialect, reg), d(dialect, reg - timedelta(days=1)),
                 text[:300], status, unit, created, created)
            )  # fmt: skip
            for j, (statute, sec) in enumerate(offs):
                ids["o"] += 1
                orow.append((ids["o"], cid, j, statute, sec, None))
            ids["h"] += 1
            hrow.append((ids["h"], cid, None, "registered", d(dialect, reg), created))
            if status != "registered":
                if status not in ("cancelled", "untraced", "under_investigation"):
                    ids["h"] += 1
                    hrow.append(
                        (ids["h"], cid, "registered", "under_investigation", d(dialect, reg), created)
                    )
                    prev = "under_investigation"
                else:
                    prev = "registered"
                ids["h"] += 1
                hrow.append((ids["h"], cid, prev, status, d(dialect, reg + timedelta(days=30)), created))
            pid = int(persons[k])
            pstatus = rng.choice(PARTY_BY_CASE[status])
            lrow.append((cid, cid, pid, "accused", pstatus, created, created))
            ids["lh"] += 1
            lhrow.append((ids["lh"], cid, None, "named", d(dialect, reg), created))
            if pstatus != "named":
                ids["lh"] += 1
                lhrow.append((ids["lh"], cid, "named", pstatus, d(dialect, reg + timedelta(days=7)), created))
            for kind in FLAGS.get(pstatus, []):
                ids["f"] += 1
                frow.append((ids["f"], pid, kind, cid, cid, created, f"status {pstatus}"))
            if pstatus in ("arrested", "on_bail", "convicted"):
                ids["ar"] += 1
                arrow.append(
                    (ids["ar"], cid, d(dialect, reg + timedelta(days=3)), "PS " + code, created, created)
                )
            if pstatus == "convicted":
                ids["cv"] += 1
                cvrow.append(
                    (ids["cv"], cid, f"Sessions Court {district.title()}",
                     d(dialect, reg + timedelta(days=300)), "7 years RI and fine", created, created)
                )  # fmt: skip
        w.write("cases", ccols, crow)
        w.write("case_offences", ocols, orow)
        w.write("case_status_history", hcols, hrow)
        w.write("case_parties", lcols, lrow)
        w.write("case_party_status_history", lhcols, lhrow)
        w.write("person_flags", fcols, frow)
        w.write("arrests", arcols, arrow)
        w.write("convictions", cvcols, cvrow)
        if (stop - 1) % 200_000 == 0 or stop > n_cases:
            log(f"cases {stop - 1:,}/{n_cases:,} ({w.rows / (time.perf_counter() - t0):,.0f} rows/s)")
    raw.commit()
    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    cur = dbapi.cursor()
    if dialect == "postgresql":
        for table in (
            "persons", "identity_documents", "addresses", "cases", "case_offences", "case_status_history",
            "case_parties", "case_party_status_history", "person_flags", "arrests", "convictions",
        ):  # fmt: skip
            seq = f"pg_get_serial_sequence('{table}', 'id')"
            cur.execute(f"SELECT setval({seq}, COALESCE((SELECT max(id) FROM {table}), 1))")
        raw.commit()
        dbapi.autocommit = True
        cur.execute("VACUUM ANALYZE")
        # back to transactions before the connection returns to the pool: an autocommit connection would
        # commit the audit head's bump on its own, and a request served by it could fork the audit chain
        dbapi.autocommit = False
    else:
        cur.execute("ANALYZE")
        raw.commit()
    cur.close()
    raw.close()
    log(f"loaded {w.rows:,} rows in {load_s:.0f} s; analyze {time.perf_counter() - t1:.0f} s")
    return {"rows": w.rows, "load_seconds": round(load_s, 1), "rows_per_s": round(w.rows / load_s)}


def percentiles(values: list[float]) -> dict:
    a = np.array(values) * 1000.0
    return {
        "n": len(values),
        "p50_ms": round(float(np.percentile(a, 50)), 2),
        "p95_ms": round(float(np.percentile(a, 95)), 2),
        "p99_ms": round(float(np.percentile(a, 99)), 2),
        "mean_ms": round(float(a.mean()), 2),
    }


def _targets(db, n_persons: int, requests: int, seed: int) -> dict:
    """A bench user with a token, and the URLs to request: random existing CNICs (with dashes), unknown
    CNICs, random person ids, persons with >= 3 cases."""
    from sqlalchemy import func, select

    from crms.access.tokens import issue_token
    from crms.access.users import create_user
    from crms.records.models import CaseParty, IdentityDocument

    rng = random.Random(seed)
    with db.transaction() as s:
        user = create_user(s, f"bench_{int(time.time() * 1000)}", "cro_operator", unit="BA")
        token = issue_token(s, user)
        max_doc = s.scalar(select(func.max(IdentityDocument.id)))
        busy = [
            r[0]
            for r in s.execute(
                select(CaseParty.person_id)
                .group_by(CaseParty.person_id)
                .having(func.count() >= 3)
                .limit(requests)
            )
        ]
        numbers = [
            s.scalar(
                select(IdentityDocument.number).where(IdentityDocument.id == rng.randrange(1, max_doc + 1))
            )
            for _ in range(requests)
        ]
    persons = [rng.randrange(1, n_persons + 1) for _ in range(requests)]
    urls = {
        # baseline: an authenticated request that reads no record (framework + token check)
        "baseline_auth_me": (["/api/v1/auth/me"] * (requests // 4), 200),
        "cnic_lookup": (
            [f"/api/v1/persons?cnic={n[:5]}-{n[5:12]}-{n[12]}&reason=benchmark+lookup" for n in numbers],
            200,
        ),
        "cnic_lookup_unknown": (
            [f"/api/v1/persons?cnic=59999-{i:07d}-1&reason=benchmark+miss" for i in range(requests // 4)],
            404,
        ),
        "person_record": ([f"/api/v1/persons/{p}?reason=benchmark+record" for p in persons], 200),
    }
    if busy:
        urls["person_record_3plus_cases"] = (
            [f"/api/v1/persons/{p}?reason=benchmark+record" for p in busy],
            200,
        )
    return {"headers": {"Authorization": f"Bearer {token}"}, "urls": urls, "busy": busy}


def _run(client, label: str, urls: list[str], expect: int, headers: dict, out: dict, cpu_of=None) -> None:
    """Warm up on 50 URLs, then time each request (wall) and this process's CPU; ``cpu_of`` adds the
    CPU seconds other processes (server, database) spent over the whole run, per request."""
    for u in urls[:50]:
        client.get(u, headers=headers)
    times, cpu = [], []
    other0 = cpu_of() if cpu_of else None
    for u in urls:
        t, c = time.perf_counter(), time.process_time()
        r = client.get(u, headers=headers)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)  # CPU of this process
        if r.status_code != expect:
            raise SystemExit(f"{label}: {u} -> {r.status_code} {r.text[:300]}")
    out[label] = percentiles(times)
    out[label]["cpu"] = percentiles(cpu)
    if cpu_of:
        out[label]["other_cpu_mean_ms"] = {
            k: round(_cpu_delta(v, other0[k]) / len(urls) * 1000, 2) for k, v in cpu_of().items()
        }
    out[label]["load_average"] = round(os.getloadavg()[0], 1)
    log(f"{label}: {out[label]}")


def measure(db, data_dir: Path, n_persons: int, requests: int, seed: int, rate: str) -> dict:
    """In process: the FastAPI app through Starlette's TestClient (client, event loop and worker threads
    all in this process, so CPU here is client + server)."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from crms.access.audit import bind_data_dir
    from crms.api.app import create_app
    from crms.config import Settings

    os.environ["CRMS_RATE_SEARCH"] = rate
    os.environ["CRMS_RATE_READ"] = rate  # the per-user read limit too (crms.records.services.guard)
    bind_data_dir(db, data_dir)
    tg = _targets(db, n_persons, requests, seed)
    settings = Settings(
        data_dir=data_dir, database_url=db.url, data_key=None, secret_key="bench", environment="bench"
    )
    app = create_app(settings=settings, database=db)
    out = {}
    # floor of the harness: an empty FastAPI route through TestClient (no CRMS code at all)
    floor_app = FastAPI()
    floor_app.get("/x")(lambda: {"ok": True})
    with TestClient(floor_app) as floor:
        _run(floor, "harness_floor_empty_route", ["/x"] * (requests // 2), 200, {}, out)
    with TestClient(app) as client:
        for label, (urls, expect) in tg["urls"].items():
            _run(client, label, urls, expect, tg["headers"], out)
        busy = tg["busy"]
        body = client.get(
            f"/api/v1/persons/{busy[0] if busy else 1}?reason=benchmark", headers=tg["headers"]
        ).json()
        out["sample_record_cases"] = len(body.get("cases", []))
    return out


def _proc_cpu(pids) -> dict[int, float]:
    """CPU seconds (user + system) of each of these processes so far, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / tick
    return out


def _cpu_delta(after: dict[int, float], before: dict[int, float]) -> float:
    """CPU spent between two snapshots by the processes alive at the second (a process started in between,
    such as a new PostgreSQL backend, counts from its start)."""
    return sum(v - before.get(pid, 0.0) for pid, v in after.items())


def _postgres_pids() -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if d.joinpath("comm").read_text().strip() == "postgres":
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


def measure_http(db, data_dir: Path, n_persons: int, requests: int, seed: int, rate: str, port: int) -> dict:
    """Over real HTTP, as an officer's client sees it: ``crms serve`` (uvicorn, one process, its default
    settings: access log on, to /dev/null here) in a separate process; a keep-alive ``httpx2.Client`` in
    this one. Per request: wall p50/p95/p99 and this client's CPU; the server's CPU (and PostgreSQL's, all
    its processes) as a mean over each endpoint's run, from /proc."""
    import subprocess
    import sys

    import httpx2 as httpx

    tg = _targets(db, n_persons, requests, seed)
    env = dict(
        os.environ,
        CRMS_DATABASE_URL=db.url,
        CRMS_DATA_DIR=str(data_dir),
        CRMS_SECRET_KEY="bench",
        CRMS_ENV="bench",
        CRMS_RATE_SEARCH=rate,
        CRMS_RATE_READ=rate,
    )
    crms = Path(sys.executable).with_name("crms")
    server = subprocess.Popen(
        [str(crms), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    out: dict = {}
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(600):
                try:
                    client.get("/api/openapi.json")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            else:
                raise SystemExit("crms serve did not answer")
            pg = db.engine.dialect.name == "postgresql"

            def cpu_of() -> dict:
                d = {"server": _proc_cpu([server.pid])}
                if pg:  # all PostgreSQL processes (backends come and go)
                    d["postgres"] = _proc_cpu(_postgres_pids())
                return d

            _run(client, "http_openapi_json", ["/api/openapi.json"] * (requests // 4), 200, {}, out, cpu_of)
            for label, (urls, expect) in tg["urls"].items():
                _run(client, "http_" + label, urls, expect, tg["headers"], out, cpu_of)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=100_000)
    ap.add_argument("--cases", type=int, default=200_000)
    ap.add_argument("--dir", default="/tmp/crms-bench")
    ap.add_argument("--url", default=None, help="database URL (default: SQLite file in --dir)")
    ap.add_argument("--requests", type=int, default=2000, help="requests per measured endpoint")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--skip-load", action="store_true", help="measure an existing load in --dir / --url")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    ap.add_argument(
        "--mode",
        choices=["testclient", "http", "both"],
        default="both",
        help="in process through TestClient, over HTTP against `crms serve`, or both",
    )
    ap.add_argument("--port", type=int, default=8765, help="port for `crms serve` (--mode http/both)")
    ap.add_argument(
        "--rate-search",
        default="1000000/60",
        help="CRMS_RATE_SEARCH and CRMS_RATE_READ for the run: on (a limit the benchmark never reaches, so "
        "each search and read still takes its token) by default; 'off' as in session 1's figures",
    )
    args = ap.parse_args()

    from crms.db import Database
    from crms.records.reference import load_reference_data

    work = Path(args.dir)
    url = args.url or f"sqlite:///{work / 'records.sqlite3'}"
    result: dict = {
        "persons": args.persons,
        "cases": args.cases,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}",
    }
    if not args.skip_load:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        if url.startswith("postgresql"):
            import psycopg

            base, name = url.rsplit("/", 1)
            with psycopg.connect(base.replace("+psycopg", "") + "/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{name}"')
    db = Database(url)
    result["backend"] = db.engine.dialect.name
    if not args.skip_load:
        db.upgrade()
        with db.transaction() as s:
            load_reference_data(s)
        result["load"] = load(db, args.persons, args.cases, args.seed)
    if db.engine.dialect.name == "sqlite":
        result["db_size_mb"] = round(Path(url.split("///", 1)[1]).stat().st_size / 1e6)
    result["rate_search"] = args.rate_search
    if args.mode in ("testclient", "both"):
        result["api"] = measure(db, work / "data", args.persons, args.requests, args.seed, args.rate_search)
    if args.mode in ("http", "both"):
        result["http"] = measure_http(
            db, work / "data", args.persons, args.requests, args.seed, args.rate_search, args.port
        )
    result["load_average_after"] = round(os.getloadavg()[0], 1)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
