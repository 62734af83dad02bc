"""CLI start-up benchmark: wall and CPU time of whole ``crms`` processes, as an operator at a check-post runs
them. A fresh SQLite database in --dir (reference data, N synthetic persons and M cases, loaded as in
``bench/records_bench.py``), a ``cro_operator`` account with a password; a first ``crms lookup`` with
``CRMS_USER``/``CRMS_PASSWORD`` opens the CLI session (token file), then every measured lookup uses it, as
ordinary use does. Measured per run: wall clock and the child's CPU (user + system, getrusage), median and
min of --runs runs; the commands alternate run by run, and so do the trees when --tree is given more than
once (A/B: e.g. a snapshot of the code before a change and the working tree). Each tree's ``crms`` package
is byte-compiled first and the commands run without ``PYTHONDONTWRITEBYTECODE``, as an installed CRMS runs
(pip compiles what it installs); otherwise every run would compile the CRMS sources again (about 40 ms).

    .venv/bin/python bench/cli_startup.py --dir /tmp/crms-cli-bench --persons 2000 --cases 4000 --runs 10
    # A/B against an older snapshot:  git archive <commit> | tar -x -C /tmp/before
    .venv/bin/python bench/cli_startup.py --dir /tmp/crms-cli-bench --skip-load --tree /tmp/before --tree .
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

PASSWORD = "bench-startup-Passw0rd!"
USERNAME = "bench_startup"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def setup(work: Path, persons: int, cases: int, seed: int) -> str:
    """Create the database and the account; returns one CNIC that is on record."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from records_bench import load  # noqa: E402  (a sibling script)
    from sqlalchemy import select

    from crms.access.users import create_user
    from crms.db import Database
    from crms.records.models import IdentityDocument
    from crms.records.reference import load_reference_data

    shutil.rmtree(work, ignore_errors=True)
    (work / "data").mkdir(parents=True)
    db = Database(f"sqlite:///{work / 'data' / 'crms.sqlite3'}")
    db.upgrade()
    with db.transaction() as s:
        load_reference_data(s)
    load(db, persons, cases, seed)
    with db.transaction() as s:
        create_user(s, USERNAME, "cro_operator", unit="BA", password=PASSWORD, totp=False)
        number = s.scalar(select(IdentityDocument.number).where(IdentityDocument.doc_type == "CNIC").limit(1))
    db.dispose()
    return str(number)


def _crms() -> list[str]:
    script = Path(sys.executable).parent / "crms"
    return [str(script)] if script.exists() else [sys.executable, "-m", "crms.cli.main"]


def run_once(argv: list[str], env: dict[str, str], expect: int) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(_crms() + argv, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != expect:
        raise SystemExit(f"crms {' '.join(argv)}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/tmp/crms-cli-bench")
    ap.add_argument("--persons", type=int, default=2000)
    ap.add_argument("--cases", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--skip-load", action="store_true", help="reuse the database in --dir")
    ap.add_argument("--tree", action="append", help="source tree to run (PYTHONPATH); repeat for A/B")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args()

    work = Path(args.dir).resolve()
    if args.skip_load:
        cnic = (work / "cnic.txt").read_text().strip()
    else:
        cnic = setup(work, args.persons, args.cases, args.seed)
        (work / "cnic.txt").write_text(cnic + "\n")
    trees = [str(Path(t).resolve()) for t in (args.tree or [str(Path(__file__).resolve().parents[1])])]

    for tree in trees:  # as installed: bytecode present (see the module text)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(tree) / "crms")], check=True)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("CRMS_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(
        CRMS_DATA_DIR=str(work / "data"),
        CRMS_USER=USERNAME,
        CRMS_PASSWORD=PASSWORD,
        CRMS_REASON="checkpost benchmark",
        CRMS_RATE_SEARCH="1000000/60",
    )
    commands = {
        "lookup --help": (["lookup", "--help"], 0),
        "lookup CNIC --json": (["lookup", cnic, "--json"], 0),
        "lookup CNIC": (["lookup", cnic], 0),
    }
    for tree in trees:  # the first run logs in (Argon2) and saves the CLI session; not measured
        run_once(commands["lookup CNIC --json"][0], {**env, "PYTHONPATH": tree}, 0)
    samples: dict[str, dict[str, list[tuple[float, float]]]] = {t: {c: [] for c in commands} for t in trees}
    load_before = os.getloadavg()
    for _ in range(args.runs):
        for name, (argv, expect) in commands.items():
            for tree in trees:
                samples[tree][name].append(run_once(argv, {**env, "PYTHONPATH": tree}, expect))
    load_after = os.getloadavg()

    result: dict = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "runs": args.runs,
        "bytecode": "compiled (compileall), PYTHONDONTWRITEBYTECODE unset",
        "load_average_1min_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "results": {},
    }
    for tree in trees:
        rows = {}
        for name, got in samples[tree].items():
            walls = [w for w, _ in got]
            cpus = [c for _, c in got]
            rows[name] = {
                "wall_median_s": round(statistics.median(walls), 3),
                "wall_min_s": round(min(walls), 3),
                "cpu_median_s": round(statistics.median(cpus), 3),
                "cpu_min_s": round(min(cpus), 3),
            }
        result["results"][tree] = rows
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
