"""The app shell a phone keeps offline (the service worker's cache) is named by a digest of its files, so a
release that changes the stylesheet, the script or the offline page reaches phones that installed the app."""

from __future__ import annotations

import re
import shutil

import pytest
from fastapi.testclient import TestClient


def test_the_worker_and_the_pages_name_the_shell_by_its_digest(app):
    from crms.web.app import shell_version

    with TestClient(app) as c:
        worker = c.get("/sw.js")
        page = c.get("/login")
    assert worker.status_code == 200 and worker.headers["cache-control"] == "no-cache"
    (cache,) = re.findall(r'const CACHE = "crms-([0-9a-f]{12})";', worker.text)
    assert cache == shell_version()
    assert f'href="/static/app.css?v={cache}"' in page.text and f'src="/static/app.js?v={cache}"' in page.text
    with TestClient(app) as c:
        css = c.get(f"/static/app.css?v={cache}")
    assert css.status_code == 200 and "#f-ppi" in css.text


def test_a_changed_shell_file_renames_the_cache(tmp_path, monkeypatch):
    from crms.web import app as web

    static = tmp_path / "static"
    shutil.copytree(web.STATIC, static)
    monkeypatch.setattr(web, "STATIC", static)
    web.shell_version.cache_clear()
    try:
        before, source = web.shell_version(), web.service_worker_source()
        assert f'"crms-{before}"' in source
        (static / "app.css").write_text((static / "app.css").read_text() + "\n.new-rule{color:red}\n")
        web.shell_version.cache_clear()
        after = web.shell_version()
        assert after != before and f'"crms-{after}"' in web.service_worker_source()
        worker = static / "sw.js"
        worker.write_text(worker.read_text().replace('"crms-shell"', '"crms-v1"'))  # a fixed name again
        with pytest.raises(RuntimeError, match="crms-shell"):
            web.service_worker_source()
    finally:
        web.shell_version.cache_clear()
