"""``kill -9`` of a running ``crms serve`` with enrolled persons: after enrolments, a retirement and a merge
made through the API while it runs, a restart answers every identification exactly as a gallery built afresh
from the database does - from a stale snapshot (caught up and checked), and from a damaged one with a
half-written temporary file beside it (discarded and rebuilt)."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import numpy as np
import pytest

from crms.fingerprint import synthetic_templates as S
from crms.fingerprint.serialise import dumps, loads

CHECKOUT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _engine_or_skip() -> None:
    from crms.biometrics.enrolment import engine_missing

    missing = engine_missing()
    if missing:
        pytest.skip(missing)


def _image(seed: int, finger: int, impression: int) -> bytes:
    from crms.fingerprint.synthesis import generate_master, png_bytes, render_impression

    return png_bytes(render_impression(generate_master(seed=seed, finger_index=finger), impression))


class Server:
    def __init__(self, data_dir: Path, url: str, log: Path) -> None:
        self.env = {
            **os.environ,
            "CRMS_DATA_DIR": str(data_dir),
            "CRMS_DATABASE_URL": url,
            "PYTHONPATH": str(CHECKOUT),
        }
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.base = ""

    def start(self) -> None:
        import socket

        with socket.socket() as s:  # a free port
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        out = open(self.log, "a")  # noqa: SIM115 - the server's output, read when a step fails
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "crms.cli.main", "serve", "--port", str(port), "--no-access-log"],
            env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        out.close()
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{self.base}/api/v1/reference/divisions", timeout=5).status_code in (200, 401):
                    return
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.3)

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)  # the server and its extraction process, no clean-up
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill9()


@pytest.fixture
def served(tmp_path, _sqlite_template):
    """A data dir with a SQLite database: six persons with ten synthetic fingers each; an operator, a
    supervisor and an investigator with API tokens."""
    from crms.access.audit import bind_data_dir
    from crms.access.tokens import issue_token
    from crms.access.users import create_user
    from crms.db import Database
    from tests.identification.test_identification_db import enrol, person, principal

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    path = data_dir / "crms.sqlite3"
    shutil.copyfile(_sqlite_template, path)
    url = f"sqlite:///{path}"
    db = Database(url)
    bind_data_dir(db, data_dir)
    rng = np.random.default_rng(9)
    op = principal(db, "cro_operator")
    fingers: dict[int, list] = {}
    for _ in range(6):
        pid = person(db, op)
        fingers[pid] = [S.master(rng) for _ in range(10)]
        for f, t in enumerate(fingers[pid]):
            enrol(db, pid, f + 1, t)
    tokens = {}
    with db.transaction() as s:
        for role in ("cro_operator", "supervisor", "investigating_officer"):
            user = create_user(s, f"{role[:12]}_k9", role, unit="BA", password=None)
            tokens[role] = {"Authorization": f"Bearer {issue_token(s, user)}"}
    server = Server(data_dir, url, tmp_path / "server.log")
    yield db, data_dir, fingers, tokens, server
    server.stop()
    db.dispose()


def _probe_files(probe: list[tuple[str, object, int]]):
    rng = np.random.default_rng(4)
    files = [("print", (n, io.BytesIO(dumps(S.impression(t, rng))), "application/octet-stream"))
             for n, t, _p in probe]  # fmt: skip
    return files, {"position": [str(p) for _n, _t, p in probe], "reason": "kill -9 test", "top": "5"}


def _served_answers(server: Server, headers: dict, probes: list) -> list[dict]:
    out = []
    for probe in probes:
        files, data = _probe_files(probe)
        r = httpx.post(f"{server.base}/api/v1/identify", headers=headers, files=files, data=data, timeout=120)
        assert r.status_code == 200, r.text
        out.append(_comparable(r.json()))
    return out


def _fresh_answers(db, probes: list) -> list[dict]:
    """The same searches against a gallery built from the database alone (no snapshot), in this process."""
    from crms.access.users import create_user, principal_for
    from crms.biometrics.identification import ProbeInput, forget_stores, identify

    forget_stores()
    with db.transaction() as s:
        user = create_user(s, f"io_{time.monotonic_ns()}", "investigating_officer", unit="BA")
        who = principal_for(user, channel="api")
    out = []
    for probe in probes:
        files, data = _probe_files(probe)
        inputs = [ProbeInput(f[1][0], f[1][1].getvalue(), int(p)) for f, p in zip(files, data["position"],
                                                                                    strict=True)]  # fmt: skip
        with db.transaction() as s:
            out.append(_comparable(identify(s, who, db, inputs, reason="fresh gallery", top=5)))
    forget_stores()
    return out


def _comparable(answer: dict) -> dict:
    return {k: answer[k] for k in ("gallery", "threshold", "candidates")}


def _wait_enrolled(server: Server, headers: dict, pid: int, positions: set[int]) -> None:
    deadline = time.monotonic() + 240
    while True:
        r = httpx.get(f"{server.base}/api/v1/persons/{pid}/fingerprints?reason=check", headers=headers)
        got = {f["position"]: f["status"] for f in r.json()["fingerprints"] if f["active"]}
        if all(got.get(p) == "enrolled" for p in positions):
            return
        assert "failed" not in {got.get(p) for p in positions}, got
        assert time.monotonic() < deadline, f"not enrolled: {got}"
        time.sleep(0.5)


def _template_of(db, pid: int, position: int):
    from sqlalchemy import select

    from crms.biometrics.models import Fingerprint

    with db.transaction() as s:
        blob = s.scalar(
            select(Fingerprint.template).where(
                Fingerprint.person_id == pid, Fingerprint.position == position, Fingerprint.active.is_(True)
            )
        )
    return loads(bytes(blob))


def test_kill9_then_restart_answers_as_a_fresh_gallery(served):
    _engine_or_skip()
    db, data_dir, fingers, tokens, server = served
    op, sup, io_ = tokens["cro_operator"], tokens["supervisor"], tokens["investigating_officer"]
    a, b, c, d, e, _f = fingers
    snapshot = data_dir / "gallery" / "snapshot"

    server.start()
    probes = [
        [("a1.tpl", fingers[a][0], 1)],
        [("a3.tpl", fingers[a][2], 3)],  # a's finger 3 is recaptured below: this print is retired
        [("e5.tpl", fingers[e][4], 5)],  # e is merged into d below
        [("b2.tpl", fingers[b][1], 2), ("b7.tpl", fingers[b][6], 7), ("b9.tpl", fingers[b][8], 0)],
    ]
    before = _served_answers(server, io_, probes)
    assert [x["candidates"][0]["person_id"] for x in before] == [a, a, e, b]
    assert snapshot.exists()  # written by the first load from the table
    first_snapshot = snapshot.read_bytes()

    # while it runs: a new person enrolled, a finger recaptured (the old print retired), two records merged
    r = httpx.post(f"{server.base}/api/v1/persons", headers=op, timeout=30, json={
        "given_name_en": "Naveed", "parentage_relation": "s/o", "parentage_name_en": "Gul Khan",
        "gender": "M", "birth_year": 1990, "unit": "BA/QTA/QUETTA"})  # fmt: skip
    assert r.status_code == 201, r.text
    n = r.json()["person"]["id"]
    for pos, seed in ((1, 0), (2, 1)):
        r = httpx.post(f"{server.base}/api/v1/persons/{n}/fingerprints/{pos}", headers=op,
                       content=_image(811, seed, 0), timeout=60)  # fmt: skip
        assert r.status_code == 201, r.text
    r = httpx.post(f"{server.base}/api/v1/persons/{a}/fingerprints/3", headers=op,
                   content=_image(812, 2, 0), timeout=60)  # fmt: skip
    assert r.status_code == 201, r.text
    _wait_enrolled(server, op, n, {1, 2})
    _wait_enrolled(server, op, a, {3})
    r = httpx.post(f"{server.base}/api/v1/persons/merge", headers=sup, timeout=60,
                   json={"survivor_id": d, "merged_id": e, "reason": "one man, two records"})  # fmt: skip
    assert r.status_code == 200, r.text
    probes.append([("n1.tpl", _template_of(db, n, 1), 1), ("n2.tpl", _template_of(db, n, 2), 2)])
    probes.append([("a3new.tpl", _template_of(db, a, 3), 3)])
    running = _served_answers(server, io_, probes)
    assert running == _fresh_answers(db, probes)
    assert running[2]["candidates"][0]["person_id"] == d and running[4]["candidates"][0]["person_id"] == n
    assert a not in [x["person_id"] for x in running[1]["candidates"][:1]]

    # kill -9: the snapshot on disk is the one of the first load (stale: the changes above are not in it)
    server.kill9()
    assert snapshot.read_bytes() == first_snapshot
    server.start()
    assert _served_answers(server, io_, probes) == running
    assert snapshot.read_bytes() == first_snapshot  # caught up from it (a rebuild would have rewritten it)

    # kill -9 again, now with the snapshot damaged and a half-written temporary file beside it
    server.kill9()
    blob = bytearray(snapshot.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    snapshot.write_bytes(bytes(blob))
    leftover = snapshot.with_name(f".snapshot.{server.proc.pid}.0badc0de.tmp")
    leftover.write_bytes(first_snapshot[:1000])
    server.start()
    assert _served_answers(server, io_, probes) == running == _fresh_answers(db, probes)
    assert snapshot.read_bytes() not in (bytes(blob), first_snapshot)  # rebuilt and written again
    assert not leftover.exists()
