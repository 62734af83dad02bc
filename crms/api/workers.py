"""Server worker processes that share the connections evenly (``crms serve --workers N``).

uvicorn's own multi-process mode hands one listening socket to every worker, and an idle worker's event loop
accepts every connection waiting at that moment: 16 keep-alive clients connecting together (a reverse
proxy's pool, a load test) were found all on one of two workers, whose single core answered everything while
the other idled. One listening socket per worker (``SO_REUSEPORT``) lets the kernel spread connections by a
hash of the client's address, which is uneven for a few long-lived connections (16 connections: 11/5 and
10/6 in the measured runs, the busier worker's clients then waiting twice as long).

Here the workers share one listening socket and **the worker with the fewest open connections takes the
next one**: each worker's open-connection count sits in a small shared memory file (:class:`Counts`, one slot
per worker), and a worker whose count is above another's stops watching the socket for a moment and lets a
waiting connection be for the others, all of them woken for it, to take; after :data:`DEFER_SECONDS` of
letting it wait (the others busy or stuck; ``CRMS_WORKER_HANDOFF_MS``) it takes it itself. A worker counts
for the others once it accepts (a worker still starting is not waited for). Worker supervision (restart of a
dead worker, signals, shutdown) is uvicorn's; a replacement worker starts at zero.
"""

from __future__ import annotations

import asyncio
import logging
import mmap
import os
import select
import socket
import tempfile
import time
from multiprocessing.reduction import DupFd, ForkingPickler
from typing import Any

from uvicorn.config import STARTUP_FAILURE
from uvicorn.server import Server
from uvicorn.supervisors.multiprocess import Multiprocess, Process

DEFER_SECONDS = 0.05  # longest a worker lets a connection wait for a less busy one (CRMS_WORKER_HANDOFF_MS)
RETRY_SECONDS = 0.002  # how soon a worker that let a connection wait looks again
PUBLISH_SECONDS = 0.25  # how often a worker writes its open-connection count for the others
ACCEPT_BATCH = 64  # connections taken at most per wake-up


class Counts:
    """Open connections per worker slot, in a shared memory file (int32 per slot; a slot is written only by
    its worker, read by all; -1: no worker in it). Two slots per worker position, used in turn, so that a
    replacement does not share a slot with the worker it replaces while that one finishes."""

    def __init__(self, path: str, slots: int):
        self.path, self.slots = path, slots
        fd = os.open(path, os.O_RDWR)
        try:
            self._map = mmap.mmap(fd, 4 * slots)
        finally:
            os.close(fd)
        self.values = memoryview(self._map).cast("i")

    @classmethod
    def create(cls, slots: int) -> Counts:
        fd, path = tempfile.mkstemp(prefix="crms-workers-", suffix=".counts")
        try:
            os.write(fd, b"\xff" * (4 * slots))  # -1: empty
        finally:
            os.close(fd)
        return cls(path, slots)

    def fewest_elsewhere(self, slot: int) -> int | None:
        """The fewest connections any other worker holds; None when there is no other."""
        others = [v for i in range(self.slots) if i != slot and (v := self.values[i]) >= 0]
        return min(others) if others else None

    def close(self, remove: bool = False) -> None:
        self.values.release()
        self._map.close()
        if remove:
            os.unlink(self.path)


def defer_seconds() -> float:
    """How long a busier worker lets a waiting connection be for a less busy one: ``CRMS_WORKER_HANDOFF_MS``
    (0–10,000 ms), by default :data:`DEFER_SECONDS`."""
    from crms.config import env_number

    return env_number("CRMS_WORKER_HANDOFF_MS", DEFER_SECONDS * 1000, 0, 10_000, "milliseconds") / 1000


class BalancedSocket(socket.socket):
    """The shared listening socket as one worker (``slot`` of ``counts``) receives it; its
    :class:`BalancedServer` accepts on it only while no other worker has fewer open connections."""

    crms_counts: Counts | None = None
    crms_slot = 0

    def balance(self, counts: Counts, slot: int) -> BalancedSocket:
        self.crms_counts, self.crms_slot = counts, slot
        return self


class BalancedServer(Server):
    """uvicorn's server, accepting on a :class:`BalancedSocket` itself (uvicorn's asyncio or uvloop server
    would accept every waiting connection): when this worker holds more open connections than another, it
    stops watching the socket for :data:`RETRY_SECONDS` and lets the others take it, for at most
    :data:`DEFER_SECONDS`; each accepted connection is handed to uvicorn's HTTP protocol as its own server
    would (``loop.connect_accepted_socket``)."""

    crms_balanced: list[BalancedSocket] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        balanced = [s for s in sockets or [] if isinstance(s, BalancedSocket) and s.crms_counts is not None]
        plain = [s for s in sockets or [] if s not in balanced] if sockets is not None else None
        await super().startup(sockets=plain)
        self.crms_balanced, self.crms_pending, self.crms_deferred_since = balanced, 0, None
        self.crms_defer = defer_seconds()
        loop = asyncio.get_running_loop()
        for sock in balanced:
            sock.listen(self.config.backlog)
            sock.setblocking(False)
            loop.add_reader(sock.fileno(), self._crms_accept, sock)
            self._crms_publish(sock)

    def _crms_count(self) -> int:
        return len(self.server_state.connections) + self.crms_pending

    def _crms_publish(self, sock: BalancedSocket) -> None:
        """Keep this worker's count fresh for the others (connections also close between accepts)."""
        if sock.fileno() < 0:
            return
        sock.crms_counts.values[sock.crms_slot] = self._crms_count()
        asyncio.get_running_loop().call_later(PUBLISH_SECONDS, self._crms_publish, sock)

    def _crms_accept(self, sock: BalancedSocket) -> None:
        loop = asyncio.get_running_loop()
        counts, slot = sock.crms_counts, sock.crms_slot
        for _ in range(ACCEPT_BATCH):
            mine = counts.values[slot] = self._crms_count()
            fewest = counts.fewest_elsewhere(slot)
            if fewest is not None and mine > fewest:
                now = time.monotonic()
                if self.crms_deferred_since is None:
                    self.crms_deferred_since = now
                if now - self.crms_deferred_since < self.crms_defer:  # look again a little later
                    loop.remove_reader(sock.fileno())
                    loop.call_later(RETRY_SECONDS, self._crms_watch, sock)
                    return
            try:
                conn, _address = sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:  # out of descriptors and the like: uvicorn's server would log it too
                logging.getLogger("uvicorn.error").error("accept failed: %s", exc)
                return
            self.crms_deferred_since = None
            conn.setblocking(False)
            self.crms_pending += 1
            counts.values[slot] = self._crms_count()
            loop.create_task(self._crms_serve(conn))

    def _crms_watch(self, sock: BalancedSocket) -> None:
        if sock.fileno() >= 0 and not self.should_exit:
            if not select.select([sock], [], [], 0)[0]:  # another worker took the connection let wait
                self.crms_deferred_since = None  # the next one is let wait for the whole hand-off time again
            asyncio.get_running_loop().add_reader(sock.fileno(), self._crms_accept, sock)

    async def _crms_serve(self, conn: socket.socket) -> None:
        config = self.config

        def protocol():  # uvicorn's own protocol factory (Server.startup)
            return config.http_protocol_class(
                config=config, server_state=self.server_state, app_state=self.lifespan.state
            )

        try:
            await asyncio.get_running_loop().connect_accepted_socket(protocol, conn, ssl=config.ssl)
        except Exception as exc:  # a client gone during a TLS handshake and the like
            logging.getLogger("uvicorn.error").debug("connection not set up: %s", exc)
            conn.close()
        finally:
            self.crms_pending -= 1

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        loop = asyncio.get_running_loop()
        for sock in self.crms_balanced or []:  # stop accepting first, as uvicorn closes its servers
            if sock.fileno() >= 0:
                loop.remove_reader(sock.fileno())
                sock.close()
        await super().shutdown(sockets)


class _BalancedProcess(Process):
    """uvicorn's worker process, serving with :class:`BalancedServer`."""

    @property
    def server(self) -> Server:
        if self._server is None:
            self._server = BalancedServer(config=self.config)
        return self._server


def _rebuild_balanced(
    df: DupFd, family: int, type_: int, proto: int, counts: tuple[str, int] | None, slot: int
):
    sock = BalancedSocket(family, type_, proto, fileno=df.detach())
    if counts is not None:
        sock.balance(Counts(*counts), slot)
    return sock


def _reduce_balanced(sock: BalancedSocket):
    """How a worker process receives its view of the listening socket (a duplicate of the descriptor, the
    counts file and its slot), like the standard library sends a plain socket."""
    counts = (sock.crms_counts.path, sock.crms_counts.slots) if sock.crms_counts is not None else None
    return _rebuild_balanced, (
        DupFd(sock.fileno()),
        sock.family,
        sock.type,
        sock.proto,
        counts,
        sock.crms_slot,
    )


ForkingPickler.register(BalancedSocket, _reduce_balanced)


def listening_socket(host: str, port: int) -> BalancedSocket:
    """The TCP socket all workers accept on (bound, not yet listening: each worker's server listens)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = BalancedSocket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def worker_view(sock: BalancedSocket, counts: Counts, slot: int) -> BalancedSocket:
    """Worker ``slot``'s own socket object over the shared listening socket (same descriptor, duplicated)."""
    view = BalancedSocket(sock.family, sock.type, sock.proto, fileno=os.dup(sock.fileno()))
    view.set_inheritable(True)
    counts.values[slot] = -1  # until the worker accepts: a worker still starting is waited for by no other
    return view.balance(counts, slot)


def run_workers(config: Any) -> None:
    """Run ``config.workers`` uvicorn workers (``config``: a ``uvicorn.Config`` naming the app by import
    string) on one listening socket, connections going to the worker with the fewest. ``crms serve`` checks
    ``CRMS_WORKER_HANDOFF_MS`` (:func:`defer_seconds`) before it calls this."""
    log = logging.getLogger("uvicorn.error")
    sock = listening_socket(config.host, config.port)
    counts = Counts.create(2 * config.workers)
    slots = list(range(config.workers))  # the slot of the worker at each position
    log.info(
        "Uvicorn running on %s://%s:%d with %d workers, each connection to the least busy one",
        "https" if config.is_ssl else "http",
        config.host,
        sock.getsockname()[1],
        config.workers,
    )

    def start(position: int, replacing: bool = False) -> Process:
        if replacing:  # the other slot of this position
            slots[position] = (slots[position] + config.workers) % (2 * config.workers)
        view = worker_view(sock, counts, slots[position])
        try:
            process = _BalancedProcess(config, [view])
            process.start()
        finally:
            view.close()  # the worker has its own duplicate
        return process

    class Balanced(Multiprocess):
        def init_processes(self) -> None:
            for position in range(config.workers):
                self.processes.append(start(position))

        def keep_subprocess_alive(self) -> None:
            # uvicorn's, with the dead worker's slot given to its replacement
            if self.should_exit.is_set():
                return
            for position, process in enumerate(self.processes):
                if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                    continue
                process.kill()
                process.join()
                counts.values[slots[position]] = -1
                if process.exitcode == STARTUP_FAILURE:
                    log.error(f"Child process [{process.pid}] failed to start, stopping the parent process.")
                    self.should_exit.set()
                    return
                if self.should_exit.is_set():
                    return
                log.info(f"Child process [{process.pid}] died")
                self.processes[position] = start(position, replacing=True)

        def restart_all(self) -> None:  # SIGHUP: one worker after the other
            for position, old in enumerate(self.processes):
                if self.should_exit.is_set():
                    return
                old_slot = slots[position]
                new = start(position, replacing=True)
                if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                    new.kill()
                    new.join()
                    counts.values[slots[position]] = -1
                    slots[position] = old_slot
                    return
                old.terminate()
                old.join()
                counts.values[old_slot] = -1
                self.processes[position] = new

    try:
        Balanced(config, sockets=[sock]).run()
    finally:
        sock.close()
        counts.close(remove=True)
