"""The server's enrol worker: extracts the templates of captured prints without anyone running
``crms fp enrol-pending``.

``crms serve`` starts one :class:`EnrolWorker` (in its own process, whatever the number of server
processes): a thread that sleeps until a capture wakes it or ``poll_seconds`` pass (prints captured by
another process: the CLI, an import), then runs the enrolment queue until nothing is pending, in an
extraction process beside the server (:class:`crms.biometrics.enrolment.Enroller`). The capture route, in
whichever server process, wakes it with :func:`wake`: one datagram to a Unix socket named after the data
dir (Linux's abstract namespace: no file; the datagram carries nothing, it only makes the worker look at
the queue now, so a stray one costs a count query). The queue is the ``pending`` rows themselves, so
nothing is lost when the server stops: the next start begins with what is still pending. When another
process holds the queue (``crms fp enrol-pending``, the demo's fingerprint job) the worker leaves the work
to it and looks again later.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
from pathlib import Path

from sqlalchemy.exc import OperationalError

from crms.access.principal import Principal, system_principal
from crms.errors import Conflict

log = logging.getLogger("crms.enrol")


def _address(data_dir: Path) -> str:
    digest = hashlib.sha256(os.fsencode(Path(data_dir).resolve())).hexdigest()[:24]
    return f"\0crms-enrol-{digest}"


def wake(data_dir: Path) -> bool:
    """Tell the enrol worker of ``data_dir`` (if one runs) that a print was captured. Never blocks."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.setblocking(False)
            s.sendto(b"w", _address(data_dir))
        return True
    except OSError:  # no worker listening, its queue full, or no abstract sockets here
        return False


def start_for_server(settings) -> EnrolWorker:
    """The worker ``crms serve`` runs: its own database connection (bound to the data dir's audit chain)."""
    from crms.access.audit import bind_data_dir
    from crms.db import Database

    db = Database(settings.database_url)
    bind_data_dir(db, settings.data_dir)
    if settings.gallery_snapshot_path is not None:  # the duplicate check's gallery keeps the same snapshot
        from crms.access.crypto import load_data_key
        from crms.biometrics.identification import bind_snapshot

        bind_snapshot(db, settings.gallery_snapshot_path, load_data_key(settings.data_dir, settings.data_key))
    return EnrolWorker.from_settings(db, settings).start()


class EnrolWorker:
    def __init__(
        self,
        db,
        store,
        *,
        principal: Principal | None = None,
        jobs: int = 1,
        poll_seconds: float = 60.0,
    ):
        self.db, self.store = db, store
        self.principal = principal or system_principal("enrol-worker")
        self.jobs = jobs
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.runs = 0  # queue runs that enrolled or failed something
        self.enrolled = 0
        self.failed = 0
        self.last_error: str | None = None

    @classmethod
    def from_settings(cls, db, settings, **kw) -> EnrolWorker:
        from crms.access.crypto import EncryptedStore

        return cls(db, EncryptedStore.from_settings(settings), **kw)

    def start(self) -> EnrolWorker:
        self._wake.set()  # first look: what was left pending before this start
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(_address(self.store.data_dir))
            sock.settimeout(1.0)
            self._sock = sock
            self._listener = threading.Thread(target=self._listen, name="crms-enrol-wake", daemon=True)
            self._listener.start()
        except OSError as exc:  # another worker for this data dir, or no abstract sockets: poll only
            log.warning("enrol worker: no wake-up socket (%s); looking every %s s", exc, self.poll_seconds)
        self._thread = threading.Thread(target=self._loop, name="crms-enrol-worker", daemon=True)
        self._thread.start()
        return self

    def _listen(self) -> None:
        while not self._stopping.is_set():
            try:
                self._sock.recv(16)
            except TimeoutError:
                continue
            except OSError:
                return
            self._wake.set()

    def wake(self) -> None:
        """A print was captured: look at the queue now."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the print in hand and stop (what is still pending waits for the next start)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._listener is not None:
            self._listener.join(2)
        if self._sock is not None:
            self._sock.close()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            if self._stopping.is_set():
                break
            try:
                self.run_once()
            except OperationalError as exc:  # SQLite busy beyond its timeout: another writer's long turn
                self.last_error = f"database busy: {exc.orig}"
                log.warning(
                    "enrol worker: database busy (%s); trying again in %s s", exc.orig, self.poll_seconds
                )
            except Exception as exc:  # noqa: BLE001 - the worker must outlive one bad run
                self.last_error = f"{type(exc).__name__}: {exc}"
                from crms.biometrics.enrolment import stopped_from_outside

                if isinstance(exc, stopped_from_outside()):  # its extraction process was stopped (pkill)
                    log.warning("enrol worker: extraction stopped (%s); the prints stay pending", exc)
                else:
                    log.exception("enrol worker: run failed; trying again in %s s", self.poll_seconds)

    def run_once(self) -> int:
        """Enrol everything pending now; returns how many prints were enrolled or failed (0 when another
        process holds the queue or the engine is not installed)."""
        from crms.biometrics.enrolment import Enroller

        # The queue's lock first (a file, no database work): while the demo job or `crms fp enrol-pending`
        # holds it, the worker does not touch the database at all. The extraction process starts only
        # when something is pending.
        enroller = Enroller(self.db, self.store, self.principal, jobs=self.jobs, in_process=False)
        if enroller.missing:
            self.last_error = enroller.missing
            return 0
        try:
            with enroller:
                done = 0
                while not self._stopping.is_set():
                    report = enroller.run(stop=self._stopping.is_set)
                    done += report.enrolled + report.failed
                    self.enrolled += report.enrolled
                    self.failed += report.failed
                    if report.enrolled + report.failed:
                        log.info(
                            "enrol worker: %d enrolled, %d failed, %d pending",
                            report.enrolled,
                            report.failed,
                            report.remaining,
                        )
                    if not report.remaining or not (report.enrolled + report.failed + report.skipped):
                        break
                    self._wake.clear()  # captures during the run are in this loop's next pass
        except Conflict:
            return 0
        if done:
            self.runs += 1
        return done
