"""``crms serve --workers N`` gives each new connection to the worker with the fewest open ones (issue 21.10:
uvicorn's shared socket put all 16 keep-alive clients on one of two workers; one SO_REUSEPORT socket per
worker spread them by a hash, 11/5 and 10/6 in the load runs, the busier worker's clients waiting twice as
long). Which worker holds a connection is read from /proc, as ``ss -tnp`` does."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crms.api.workers import Counts
from tests.ports import free_port

from .test_serve import served_db  # noqa: F401

CHECKOUT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")


def test_counts_ignore_empty_slots_and_are_shared_through_the_file():
    counts = Counts.create(4)
    try:
        assert counts.fewest_elsewhere(0) is None  # no other worker
        counts.values[0], counts.values[1] = 3, 5
        assert counts.fewest_elsewhere(0) == 5 and counts.fewest_elsewhere(1) == 3
        other = Counts(counts.path, 4)  # another process's view of the same file
        other.values[2] = 1
        assert counts.fewest_elsewhere(0) == 1
        other.close()
    finally:
        counts.close(remove=True)
    assert not Path(counts.path).exists()


def test_a_deferral_ends_when_another_worker_took_the_connection():
    """A busier worker lets a waiting connection be for at most the hand-off time; once another worker has
    taken it, that wait is over: the next time this worker is busier it lets the next connection wait again
    for the whole hand-off time, rather than counting from the first wait and taking it at once."""
    import asyncio

    import uvicorn

    from crms.api import workers

    async def run() -> None:
        counts = Counts.create(2)
        sock = workers.listening_socket("127.0.0.1", 0)
        sock.balance(counts, 0)
        sock.listen(8)
        sock.setblocking(False)
        server = workers.BalancedServer(uvicorn.Config(app=None))
        server.crms_pending, server.crms_deferred_since, server.crms_defer = 1, None, 1.0
        counts.values[1] = 0  # the other worker holds none, this one one
        clients, taken = [], []
        try:
            clients.append(socket.create_connection(sock.getsockname()))
            await asyncio.sleep(0.05)  # the connection waits on the listening socket
            server._crms_accept(sock)
            assert server.crms_pending == 1 and server.crms_deferred_since is not None  # let it wait
            taken.append(sock.accept()[0])  # the other worker takes it
            counts.values[1] = 1
            await asyncio.sleep(2.1)  # this worker looked again (nothing waiting); twice the hand-off time
            server.crms_pending = 2  # busier again: the next connection is let wait, not taken at once
            clients.append(socket.create_connection(sock.getsockname()))
            await asyncio.sleep(0.05)
            taken.append(sock.accept()[0])  # still waiting for the other worker (BlockingIOError if taken)
            assert server.crms_pending == 2
        finally:
            asyncio.get_running_loop().remove_reader(sock.fileno())
            for s in clients + taken:
                s.close()
            sock.close()
            counts.close(remove=True)

    asyncio.run(run())


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                out.append(int(entry))
    return out


def _holders(server_pid: int, port: int) -> dict[int, int]:
    """client port -> pid of the worker holding that connection (established, server side)."""
    inode_to_client = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if int(f[1].split(":")[1], 16) == port and f[3] == "01":
            inode_to_client[f[9]] = int(f[2].split(":")[1], 16)
    holders = {}
    for pid in _children(server_pid):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                m = re.match(r"socket:\[(\d+)\]", os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                continue
            if m and m.group(1) in inode_to_client:
                holders[inode_to_client[m.group(1)]] = pid
    return holders


def _connect(port: int, n: int) -> dict[int, socket.socket]:
    out = {}
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        out[s.getsockname()[1]] = s
    return out


def _settled(server_pid: int, port: int, clients: dict[int, socket.socket]) -> dict[int, int]:
    deadline = time.monotonic() + 10
    while True:
        holders = _holders(server_pid, port)
        if set(clients) <= set(holders) or time.monotonic() > deadline:
            return {c: holders.get(c) for c in clients}
        time.sleep(0.05)


def _per_worker(holders: dict[int, int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for pid in holders.values():
        out[pid] = out.get(pid, 0) + 1
    return out


def test_each_connection_goes_to_the_worker_with_the_fewest(served_db, tmp_path):  # noqa: F811
    data_dir, url, _token = served_db
    port = free_port()
    env = {
        **os.environ,
        "CRMS_DATA_DIR": str(data_dir),
        "CRMS_DATABASE_URL": url,
        "PYTHONPATH": str(CHECKOUT),
        # a busier worker lets a connection wait up to 5 s (50 ms by default) for the less busy one: on a
        # loaded test machine that one may wait that long for a core
        "CRMS_WORKER_HANDOFF_MS": "5000",
    }
    cmd = [sys.executable, "-m", "crms.cli.main", "serve", "--port", str(port), "--workers", "2"]
    proc = subprocess.Popen(
        [*cmd, "--no-enrol-worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    clients: dict[int, socket.socket] = {}
    try:
        _wait_listening(port, proc)
        _wait_accepting(proc.pid, port, None, 2)  # a worker counts for the others once it accepts
        clients = _connect(port, 10)  # 16 at once: all on one worker with uvicorn's shared socket
        holders = _settled(proc.pid, port, clients)
        counts = _per_worker(holders)
        assert sorted(counts.values()) == [5, 5], counts  # (a hash of the address: 5/5 in 1 of 4 runs)
        a = next(iter(counts))
        for port_a in [c for c, pid in holders.items() if pid == a][:4]:  # a has 1 left, the other 5
            clients.pop(port_a).close()
        time.sleep(0.6)  # a's count is refreshed every 0.25 s
        more = _connect(port, 4)
        clients.update(more)
        holders = _settled(proc.pid, port, clients)
        assert {holders[c] for c in more} == {a}, holders  # all four to the worker with fewer
        assert sorted(_per_worker(holders).values()) == [5, 5]

        os.kill(a, signal.SIGKILL)  # a worker dies: its replacement starts at zero and is given the next
        for c in [c for c, pid in holders.items() if pid == a]:
            clients.pop(c).close()
        deadline = time.monotonic() + 30
        while not (new := [p for p in _children(proc.pid) if p not in holders.values() and _is_worker(p)]):
            assert time.monotonic() < deadline, "no replacement worker"
            time.sleep(0.2)
        _wait_accepting(proc.pid, port, set(new))  # until then the other worker takes them all
        again = _connect(port, 4)
        clients.update(again)
        holders = _settled(proc.pid, port, clients)
        assert {holders[c] for c in again} == set(new), (holders, new)
    finally:
        for c in clients.values():
            c.close()
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _is_worker(pid: int) -> bool:
    try:
        return "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return False


def _wait_accepting(server_pid: int, port: int, pids: set[int] | None, n: int = 1) -> None:
    """Open connections until ``n`` workers (or the workers ``pids``) hold one; close them and wait for the
    counts to be refreshed."""
    deadline, probes, seen = time.monotonic() + 60, {}, set()
    try:
        while not (seen >= pids if pids else len(seen) >= n):
            assert time.monotonic() < deadline, f"workers not accepting: {seen}"
            probes.update(_connect(port, 1))
            seen = set(_settled(server_pid, port, probes).values()) - {None}
            time.sleep(0.1)
    finally:
        for p in probes.values():
            p.close()
    time.sleep(0.6)  # the counts are refreshed every 0.25 s


def _wait_listening(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, "server exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)


@pytest.mark.parametrize("value", ["soon", "-1", "20000"])
def test_a_malformed_handoff_setting_stops_the_server_naming_it(tmp_path, monkeypatch, value):
    from typer.testing import CliRunner

    from crms.cli.main import app

    monkeypatch.setenv("CRMS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CRMS_DATABASE_URL", f"sqlite:///{tmp_path / 'data' / 'crms.sqlite3'}")
    monkeypatch.setenv("CRMS_WORKER_HANDOFF_MS", value)
    r = CliRunner().invoke(app, ["serve", "--workers", "2", "--no-enrol-worker", "--port", str(free_port())])
    assert r.exit_code == 2 and "CRMS_WORKER_HANDOFF_MS" in r.output, r.output
