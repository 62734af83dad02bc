"""The web pages in a real browser: Debian's Chromium driven by Playwright for Python, against the real
application served by uvicorn on a random loopback port with a fresh SQLite database.

Skips (with the reason) when Chromium or Playwright is missing; scripts/test.sh installs both.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from crms.db import Database
from tests.ports import free_port

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
# Screenshots go to build/web-screenshots (not tracked); CRMS_WEB_SCREENSHOTS=docs/img/web refreshes the
# committed ones shown in docs/SCREENSHOTS.md.
SHOTS = ROOT / os.environ.get("CRMS_WEB_SCREENSHOTS", "build/web-screenshots")
SIZES = {"phone": (390, 844), "desktop": (1366, 768)}
PASSWORD = "correct horse battery"


@dataclass
class Server:
    url: str
    db: Database
    users: dict[str, object] = field(default_factory=dict)


@pytest.fixture(scope="module")
def web_server(_sqlite_template, tmp_path_factory) -> Iterator[Server]:
    import uvicorn

    from crms.access.users import create_user
    from crms.api.app import create_app
    from crms.config import Settings
    from crms.fingerprint import warm_matcher

    tmp = tmp_path_factory.mktemp("web")
    path = tmp / "crms.sqlite3"
    shutil.copyfile(_sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    settings = Settings(
        data_dir=tmp / "data", database_url=db.url, data_key=None, secret_key="web-test", environment="test"
    )
    app = create_app(settings=settings, database=db)  # binds the data dir (keys) first
    # `crms serve` readies the matcher in the background as it starts; here it is done before the server
    # starts, so that no page waits for a first compilation (a minute of CPU when numba's cache is empty),
    # whatever ran before.
    warm_matcher()
    users = {}
    with db.transaction() as session:
        for name, role in [
            ("admin", "administrator"),
            ("admin_ur_desktop", "administrator"),
            ("admin_ur_phone", "administrator"),
            ("admin_en_desktop", "administrator"),
            ("operator", "cro_operator"),
            ("auditor", "auditor"),
            ("supervisor", "supervisor"),
        ]:
            user = create_user(session, name, role, unit="BA", password=PASSWORD)
            users[name] = (user.id, user.new_totp_secret)
        # The demo's way: a password that works once, for setting a new one.
        user = create_user(
            session, "newcomer", "investigating_officer", password=PASSWORD, must_change_password=True
        )
        users["newcomer"] = (user.id, None)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield Server(url=f"http://127.0.0.1:{port}", db=db, users=users)
    server.should_exit = True
    thread.join(timeout=10)
    db.dispose()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} not installed (apt-get install -y chromium; scripts/test.sh does it)"
        if os.environ.get("CRMS_REQUIRE_BROWSER") == "1":  # set by scripts/test.sh: CI must run these
            pytest.fail(message)
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]'")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        yield b
        b.close()
