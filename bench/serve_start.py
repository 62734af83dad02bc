"""Wall time from starting ``crms serve`` to ``/api/docs`` answering, on a data dir whose database is set up.

With ``--old CHECKOUT`` (a ``git worktree`` of another commit) that code's server starts too, the two taking
turns, so that both see the same load.

  .venv/bin/python bench/serve_start.py --data-dir DIR [--runs 4] [--old CHECKOUT]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

# Runs the crms command from a checkout's sources rather than the installed (editable) package.
FROM_CHECKOUT = """
import runpy, sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.path.insert(0, sys.argv.pop(1))
sys.argv[0] = "crms"
runpy.run_module("crms.cli.main", run_name="__main__")
"""


def start_once(command: list[str], data_dir: Path, port: int) -> float:
    env = dict(os.environ, CRMS_DATA_DIR=str(data_dir), CRMS_WARM_MATCHER="off")
    t0 = time.perf_counter()
    proc = subprocess.Popen([*command, "serve", "--port", str(port), "--no-enrol-worker"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"the server stopped (exit {proc.returncode}): is {data_dir} set up?")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/docs", timeout=1).read()
                return time.perf_counter() - t0
            except OSError:
                time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--old", type=Path, help="a checkout of another commit, started in turn with this one")
    ap.add_argument("--port", type=int, default=8811)
    a = ap.parse_args()
    commands = {"this": [sys.executable, "-m", "crms.cli.main"]}
    if a.old:
        commands["old"] = [sys.executable, "-c", FROM_CHECKOUT, str(a.old.resolve())]
    times: dict[str, list[float]] = {name: [] for name in commands}
    port = a.port
    for _ in range(a.runs):
        for name, command in commands.items():
            times[name].append(start_once(command, a.data_dir, port))
            port += 1
    for name, values in times.items():
        shown = ", ".join(f"{v:.2f}" for v in values)
        print(f"{name}: median {statistics.median(values):.2f} s ({shown})")


if __name__ == "__main__":
    main()
