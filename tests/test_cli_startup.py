"""CLI start-up stays light: a real ``crms lookup`` (a hit, read through a saved CLI session, as a check-post
operator runs it again and again) imports only what the lookup needs. Each case runs the command in a fresh
Python process and reads its ``sys.modules``; timings are measured by ``bench/cli_startup.py``, not here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CNIC = "54400-1234567-3"
PASSWORD = "startup-test-Passw0rd!"

# Modules a lookup must not load: other areas and adapters, schemas, migrations, web and API frameworks, the
# fingerprint engine's libraries, Pydantic (Typer would import it to convert the arguments), the services
# and reference modules the lookup does not use, Argon2 (the saved session spares the password check), and
# the records' ORM classes (the lookup reads crms.records.tables with Core statements: no declarative class
# built, no mapper of theirs configured).
HEAVY = (
    "pydantic",
    "crms.records.schemas",
    "crms.access.schemas",
    "crms.biometrics",
    "crms.faces",
    "crms.search",
    "crms.exchange",
    "crms.sms",
    "crms.demo",
    "crms.api",
    "crms.web",
    "crms.fingerprint",
    "crms.migrations",
    "crms.records.services.cases",
    "crms.records.services.persons",
    "crms.records.services.merge",
    "crms.records.reference.loader",
    "crms.records.reference.offences",
    "crms.records.models",
    "crms.records.reference.models",
    "alembic",
    "fastapi",
    "starlette",
    "uvicorn",
    "jinja2",
    "numpy",
    "numba",
    "llvmlite",
    "cv2",
    "scipy",
    "onnxruntime",
    "PIL",
    "argon2",
)

PROBE = """
import gc, json, runpy, sys
heavy = json.loads(sys.argv[2])
sys.argv = ['crms', *json.loads(sys.argv[1])]
code = 0
try:
    runpy.run_module('crms.cli.main', run_name='__main__')
except SystemExit as exc:
    code = exc.code
loaded = sorted(m for m in sys.modules if any(m == h or m.startswith(h + '.') for h in heavy))
loaded += sorted(m for m in sys.modules if m.startswith('crms.') and m.endswith('.schemas'))
gc_run = {'full_collections': gc.get_stats()[2]['collections'], 'enabled': gc.isenabled()}
print('PROBE ' + json.dumps({'exit': code, 'loaded': sorted(set(loaded)), 'gc': gc_run}))
"""


@pytest.fixture
def operator_env(sqlite_db, tmp_path):
    """A database with one person on record and an operator whose CLI session is already saved."""
    from crms.access.users import create_user, principal_for
    from crms.records.services import register_person

    with sqlite_db.transaction() as session:
        user = create_user(session, "cp_operator", "cro_operator", unit="BA", password=PASSWORD, totp=False)
        op = principal_for(user, channel="cli")
        register_person(
            session,
            op,
            {
                "given_name_en": "Abdul Rauf",
                "family_name_en": "Kakar",
                "gender": "M",
                "birth_year": 1988,
                "documents": [{"doc_type": "CNIC", "number": CNIC}],
            },
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMS_")}
    env.update(
        PYTHONPATH=str(ROOT),
        CRMS_DATABASE_URL=sqlite_db.url,
        CRMS_DATA_DIR=str(tmp_path / "data"),
        CRMS_USER="cp_operator",
        CRMS_PASSWORD=PASSWORD,
        CRMS_REASON="check-post Kuchlak",
    )
    first = subprocess.run(
        [sys.executable, "-m", "crms.cli.main", "lookup", CNIC, "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert first.returncode == 0, first.stdout + first.stderr
    assert (tmp_path / "data" / "cli-sessions").is_dir()  # the login opened a CLI session
    return env


@pytest.mark.parametrize("argv", [["lookup", CNIC, "--json"], ["lookup", CNIC]], ids=["json", "text"])
def test_a_lookup_loads_no_heavy_module(operator_env, argv):
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argv), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=operator_env,
    )
    probe = [line for line in out.stdout.splitlines() if line.startswith("PROBE ")]
    assert probe, out.stdout[-2000:] + out.stderr[-2000:]
    result = json.loads(probe[0][len("PROBE ") :])
    assert result["exit"] == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "Abdul Rauf" in out.stdout  # a real hit, not a refusal that stopped early
    assert result["loaded"] == [], f"crms {' '.join(argv)} imported {result['loaded']}"
    # Start-up creates ~100,000 objects that live until the process ends: a lookup pauses the garbage
    # collector rather than sweep them again and again (full collections cost ~0.1 s of CPU).
    assert result["gc"]["full_collections"] == 0, result["gc"]


def _probe(env: dict[str, str], argv: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argv), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    probe = [line for line in out.stdout.splitlines() if line.startswith("PROBE ")]
    assert probe, out.stdout[-2000:] + out.stderr[-2000:]
    return json.loads(probe[0][len("PROBE ") :])


@pytest.mark.parametrize("argv", [["reference", "districts", "--help"], ["user", "--help"]], ids=str)
def test_other_commands_run_with_the_garbage_collector(argv):
    """Only the short lookup keeps the collector paused: every other command (a server, an import, the
    demo) runs with it, from the moment the command is known."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMS_")}
    env["PYTHONPATH"] = str(ROOT)
    result = _probe(env, argv)
    assert result["exit"] == 0
    assert result["gc"]["enabled"] is True


def test_the_probe_sees_a_heavy_import(operator_env):
    """The check itself: a command that needs Pydantic's schemas is reported."""
    code = PROBE.replace("code = 0", "import crms.records.schemas\ncode = 0")
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(["lookup", "--help"]), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=operator_env,
    )
    result = json.loads(next(x for x in out.stdout.splitlines() if x.startswith("PROBE "))[len("PROBE ") :])
    assert "pydantic" in result["loaded"] and "crms.records.schemas" in result["loaded"]
