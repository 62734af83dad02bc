"""Web pages benchmark: bytes of the CNIC lookup page on a first and a later load, server time of the person
page (p50/p95, wall and CPU), and, with --fcp, first contentful paint of the lookup page in headless
Chromium on a simulated slow 3G link.

Loads N synthetic persons with bench/records_bench.py's loader (SQLite file in --dir), then requests the
pages in process through Starlette's TestClient (https base URL, so the Secure session cookie is sent;
audit trail on, like production).

    .venv/bin/python bench/web_bench.py --persons 100000 --cases 200000 --dir /tmp/crms-web-bench
    .venv/bin/python bench/web_bench.py --dir /tmp/crms-web-bench --skip-load --fcp   # measure again
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from records_bench import percentiles  # noqa: E402

STATIC = ["/static/app.css", "/static/app.js", "/manifest.webmanifest", "/static/icon.svg", "/sw.js"]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=100_000)
    ap.add_argument("--cases", type=int, default=200_000)
    ap.add_argument("--dir", default="/tmp/crms-web-bench")
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--skip-load", action="store_true")
    ap.add_argument("--fcp", action="store_true", help="also first contentful paint on slow 3G (Chromium)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    from fastapi.testclient import TestClient
    from sqlalchemy import func, select

    from crms.access.sessions import COOKIE, create_session
    from crms.access.users import create_user, principal_for
    from crms.api.app import create_app
    from crms.config import Settings
    from crms.db import Database
    from crms.records.models import CaseParty, IdentityDocument

    os.environ.setdefault("CRMS_RATE_SEARCH", "off")
    os.environ.setdefault("CRMS_RATE_READ", "1000000/60")  # the per-user read limit: on, never reached
    base = Path(args.dir)
    base.mkdir(parents=True, exist_ok=True)
    db = Database(f"sqlite:///{base / 'crms.sqlite3'}")
    if not args.skip_load:
        from records_bench import load

        from crms.records.reference import load_reference_data

        db.upgrade()
        with db.transaction() as session:
            load_reference_data(session)
        t = time.perf_counter()
        load(db, args.persons, args.cases, args.seed)
        print(f"loaded in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    settings = Settings(
        data_dir=base / "data", database_url=db.url, data_key=None, secret_key="bench", environment="bench"
    )
    app = create_app(settings=settings, database=db)
    rng = random.Random(args.seed)
    with db.transaction() as s:
        user = create_user(s, f"webbench_{int(time.time() * 1000)}", "cro_operator", unit="BA")
        token = create_session(s, principal_for(user, channel="web"))
        n_persons = s.scalar(select(func.count()).select_from(IdentityDocument)) or 1
        busy = [
            r[0]
            for r in s.execute(
                select(CaseParty.person_id).group_by(CaseParty.person_id).having(func.count() >= 3).limit(200)
            )
        ]
        cnic = s.scalar(
            select(IdentityDocument.number).where(IdentityDocument.id == rng.randrange(1, n_persons))
        )
    out: dict = {
        "persons": n_persons,
        "cpu": cpu_model(),
        "load_average_start": round(os.getloadavg()[0], 1),
    }
    lookup = f"/lookup?cnic={cnic[:5]}-{cnic[5:12]}-{cnic[12]}&reason=check+post"
    with TestClient(app, base_url="https://testserver") as client:
        client.cookies.set(COOKIE, token)
        page = client.get(lookup)
        assert page.status_code == 200 and "answer" in page.text, page.text[:500]
        static = {u: len(client.get(u).content) for u in STATIC}
        out["lookup_page"] = {
            "html_bytes": len(page.content),
            "static_bytes": static,
            "first_load_bytes": len(page.content) + sum(static.values()),
            "later_load_bytes": len(page.content),  # static files cached (max-age 1 day, service worker)
        }
        persons = [rng.randrange(1, n_persons) for _ in range(args.requests)]
        for label, ids in (("person_page", persons), ("person_page_3plus_cases", busy)):
            if not ids:
                continue
            for pid in ids[:30]:  # warm-up
                client.get(f"/persons/{pid}")
            wall, cpu = [], []
            for pid in ids:
                t, c = time.perf_counter(), time.process_time()
                r = client.get(f"/persons/{pid}")
                wall.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
                assert r.status_code == 200, (pid, r.status_code)
            out[label] = {"wall": percentiles(wall), "cpu": percentiles(cpu), "bytes": len(r.content)}
    if args.fcp:
        out["lookup_fcp_slow3g_ms"] = first_contentful_paint(app, token, lookup)
    out["load_average_end"] = round(os.getloadavg()[0], 1)
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


def first_contentful_paint(app, token: str, path: str) -> dict:
    """FCP of ``path`` in Chromium with DevTools' slow 3G profile (400 ms RTT, 400 kbit/s down), first
    visit (empty cache) and a later one (static files cached)."""
    import socket
    import threading

    import uvicorn
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    result = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"]
            )
            # The service worker is blocked: DevTools throttling does not apply to its fetches.
            context = browser.new_context(viewport={"width": 390, "height": 844}, service_workers="block")
            context.add_cookies([{"name": "crms_session", "value": token, "url": url}])
            page = context.new_page()
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send(
                "Network.emulateNetworkConditions",
                {"offline": False, "latency": 400, "downloadThroughput": 400 * 1024 / 8,
                 "uploadThroughput": 400 * 1024 / 8},
            )  # fmt: skip
            for visit in ("first", "later"):
                page.goto(url + path)
                page.wait_for_load_state("load")
                fcp = page.evaluate(
                    "() => new Promise((done) => { new PerformanceObserver((list) => { for (const e of"
                    " list.getEntries()) if (e.name === 'first-contentful-paint') done(e.startTime); })"
                    ".observe({type: 'paint', buffered: true}); setTimeout(() => done(null), 5000); })"
                )
                result[visit] = round(fcp, 0) if fcp is not None else None
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    return result


if __name__ == "__main__":
    main()
