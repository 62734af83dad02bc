"""``crms serve`` as shipped, in a real process: several workers, HTTPS from --certfile/--keyfile, the docs
page without a CDN, and an access log that keeps searched CNICs and reasons out."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.ports import free_port

CHECKOUT = Path(__file__).resolve().parents[2]


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return certfile, keyfile


@pytest.fixture
def served_db(tmp_path, _sqlite_template):
    """A migrated SQLite database in its own data dir, with an operator's API token."""
    from crms.access.audit import bind_data_dir
    from crms.access.tokens import issue_token
    from crms.access.users import create_user
    from crms.db import Database

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    path = data_dir / "crms.sqlite3"
    shutil.copyfile(_sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    bind_data_dir(db, data_dir)
    with db.transaction() as s:
        token = issue_token(s, create_user(s, "op_serve", "cro_operator", unit="BA", password=None))
    db.dispose()
    return data_dir, f"sqlite:///{path}", token


def test_serve_with_workers_https_offline_docs_and_clean_access_log(served_db, tmp_path):
    data_dir, url, token = served_db
    certfile, keyfile = _self_signed(tmp_path)
    port = free_port()  # a random port could be taken by another process of the run: the server exits
    env = {
        **os.environ,
        "CRMS_DATA_DIR": str(data_dir),
        "CRMS_DATABASE_URL": url,
        "PYTHONPATH": str(CHECKOUT),
    }
    args = [
        "serve",
        "--port",
        str(port),
        "--workers",
        "2",
        "--certfile",
        str(certfile),
        "--keyfile",
        str(keyfile),
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "crms.cli.main", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"https://127.0.0.1:{port}"
    try:
        with httpx.Client(verify=False, timeout=10) as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    docs = http.get(f"{base}/api/docs")
                    break
                except httpx.TransportError:
                    assert proc.poll() is None, f"server did not start: {proc.communicate()[0]}"
                    assert time.monotonic() < deadline, "server did not start"
                    time.sleep(0.3)
            assert docs.status_code == 200
            assert "/api/docs/assets/swagger-ui-bundle.js" in docs.text and "cdn.jsdelivr" not in docs.text
            js = http.get(f"{base}/api/docs/assets/swagger-ui-bundle.js")
            assert js.status_code == 200 and len(js.content) > 500_000
            assert http.get(f"{base}/api/docs/assets/swagger-ui.css").status_code == 200
            headers = {"Authorization": f"Bearer {token}"}
            params = {"cnic": "35202-7654321-9", "reason": "zz secret purpose 4711"}
            for _ in range(4):  # reach both workers
                r = http.get(f"{base}/api/v1/persons", params=params, headers=headers)
                assert r.status_code == 404, r.text
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert out.count("Started server process") == 2, out
    assert '"GET /api/v1/persons HTTP/1.1" 404' in out, out
    for secret in ("7654321", "secret", "4711", "cnic=", "reason="):
        assert secret not in out, out
    assert (data_dir / "keys").stat().st_mode & 0o777 == 0o700
    assert {p.stat().st_mode & 0o777 for p in data_dir.rglob("*") if p.is_file()} == {0o600}


def test_certfile_needs_keyfile(tmp_path):
    from typer.testing import CliRunner

    from crms.cli.main import app

    certfile, _ = _self_signed(tmp_path)
    r = CliRunner().invoke(app, ["serve", "--certfile", str(certfile)])
    assert r.exit_code == 2 and "--keyfile" in r.output


def test_access_log_filter_drops_query_string():
    import logging

    from crms.api.serving import NoQueryString

    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/api/v1/persons?cnic=3520276543219&reason=x", "1.1", 200), None,
    )  # fmt: skip
    assert NoQueryString().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /api/v1/persons HTTP/1.1" 200'


def test_web_login_works_on_plain_http_localhost(app, db):
    """A demo at http://localhost: the session cookie comes without Secure and is sent back; over HTTPS, or
    to another host name, it stays Secure."""
    from fastapi.testclient import TestClient

    from crms.access.users import create_user

    with db.transaction() as s:
        create_user(s, "webdemo", "cro_operator", unit="BA", password="correct horse battery")
    with TestClient(app, base_url="http://localhost:8000", client=("127.0.0.1", 5000)) as c:
        page = c.get("/login")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        form = {"username": "webdemo", "password": "correct horse battery", "csrf_token": token}
        r = c.post("/login", data=form, follow_redirects=False)
        assert r.status_code == 303, r.text
        assert "secure" not in r.headers["set-cookie"].lower()
        assert c.get("/api/v1/auth/me").status_code == 200
    with TestClient(app, base_url="https://localhost", client=("127.0.0.1", 5000)) as c:
        assert "Secure" in c.get("/login").headers["set-cookie"]
    with TestClient(app, base_url="http://cro.example", client=("127.0.0.1", 5000)) as c:
        assert "Secure" in c.get("/login").headers["set-cookie"]
    with TestClient(app, base_url="http://localhost", client=("10.1.2.3", 5000)) as c:
        assert "Secure" in c.get("/login").headers["set-cookie"]


def test_a_served_application_keeps_its_start_up_objects_out_of_the_collectors_walk(tmp_path):
    """``crms serve``'s application (crms.api.app.create_served_app): what it holds once made is frozen, so a
    full collection under load walks only what came after (a pause of 50-80 ms per collection before)."""
    code = (
        "import gc; from crms.api.app import create_served_app; create_served_app(); "
        "print(gc.get_freeze_count(), len(gc.get_objects()))"
    )
    env = {
        **os.environ,
        "CRMS_DATA_DIR": str(tmp_path / "data"),
        "CRMS_DATABASE_URL": f"sqlite:///{tmp_path / 'crms.sqlite3'}",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=CHECKOUT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    frozen, walked = map(int, out.stdout.split())
    assert frozen > 50_000 and walked < frozen / 10
