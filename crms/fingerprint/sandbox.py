"""Run decoders of untrusted bytes where a crash, a hang or a memory blow-up kills only that decode.

Image decoders are C code (NBIS for WSQ, OpenJPEG, libtiff, libpng, libjpeg): a hostile file can crash
them (a WSQ file with three flipped bytes segfaults the ``wsq`` decoder), make them loop, or make them
allocate gigabytes. :class:`Sandbox` keeps a small pool of worker processes, reused from one decode to the
next, each with an address-space limit (``RLIMIT_AS``) and, per call, a CPU-time limit (``RLIMIT_CPU``) and
a wall-clock limit. A worker that dies or overruns is killed and replaced; the call raises
:class:`SandboxFailure` saying what happened, and the calling process carries on. A worker whose call
failed (a refused file) is replaced too, since a decoder that choked on hostile bytes may have damaged
its memory; only workers that decoded cleanly are reused.

Workers are fresh interpreters (``python -m crms.fingerprint.sandbox``, talking over a socket pair): safe
from a threaded server, and they never re-run the caller's main module. They leave when their parent does
(the socket closes).
"""

from __future__ import annotations

import atexit
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from crms.errors import ValidationError

CPU_SECONDS = 10  # per call: a 6-megapixel JPEG 2000 decodes in about a second
WALL_SECONDS = 30  # per call, for waits that use no CPU
MEMORY_BYTES = 768 * 1024 * 1024  # address space a worker may add to what it holds after start-up


class SandboxFailure(Exception):
    """The worker crashed, overran its CPU, memory or time limit, or raised something unexpected."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class SandboxStopped(SandboxFailure):
    """The worker was stopped from outside (SIGTERM, SIGINT or SIGHUP: the service is being stopped, e.g. by
    ``pkill``), which no input makes a decoder do: not the input's fault, so callers must not refuse it."""


# How a process is told to stop; a decoder choking on hostile bytes dies of SIGSEGV, SIGBUS, SIGABRT, SIGFPE,
# SIGILL or SIGXCPU instead.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _signal_name(code: int | None) -> str:
    if code is None:
        return "no exit status"
    if code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"


def _vm_size() -> int:
    """This process's virtual memory size in bytes (Linux); 0 where unknown."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _set_limit(which: int, soft: int) -> None:
    try:
        _old_soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(which, (soft, hard))
    except (ValueError, OSError):  # pragma: no cover - a platform without the limit
        pass


def _worker_main(conn: Connection, memory_bytes: int, preload: tuple[str, ...]) -> None:
    """A worker: load the decoders, limit the address space, then answer calls until the pipe closes."""
    import importlib

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when workers stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for mod in preload:
        importlib.import_module(mod)
    base = _vm_size()
    if base:
        _set_limit(resource.RLIMIT_AS, base + memory_bytes)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if msg is None:
            return
        fn, args, cpu_seconds = msg
        usage = resource.getrusage(resource.RUSAGE_SELF)
        _set_limit(resource.RLIMIT_CPU, int(usage.ru_utime + usage.ru_stime) + 1 + int(cpu_seconds))
        try:
            reply: tuple = ("ok", fn(*args))
        except ValidationError as exc:
            reply = ("invalid", exc.message, exc.field, exc.details)
        except MemoryError:
            reply = ("failed", f"needed more than {memory_bytes // 2**20} MB of memory")
        except BaseException as exc:  # noqa: BLE001 - reported to the caller, the worker carries on
            reply = ("failed", f"raised {type(exc).__name__}: {exc}"[:300])
        try:
            conn.send(reply)
        except (OSError, ValueError):
            return


@dataclass
class _Worker:
    process: subprocess.Popen
    conn: Connection

    def alive(self) -> bool:
        return self.process.poll() is None

    def exit_code(self) -> int | None:
        try:
            return self.process.wait(5)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        try:
            self.conn.close()
        except OSError:
            pass
        if self.alive():
            self.process.kill()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:  # pragma: no cover - a process that ignores SIGKILL
            pass


class Sandbox:
    """A pool of at most ``size`` limited worker processes; :meth:`run` calls a function in one of them."""

    def __init__(
        self,
        size: int = 2,
        *,
        cpu_seconds: float = CPU_SECONDS,
        wall_seconds: float = WALL_SECONDS,
        memory_bytes: int = MEMORY_BYTES,
        preload: tuple[str, ...] = (),
    ):
        self.size = max(1, size)
        self.cpu_seconds = cpu_seconds
        self.wall_seconds = wall_seconds
        self.memory_bytes = memory_bytes
        self.preload = preload
        self._slots = threading.BoundedSemaphore(self.size)
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._closed = False
        self.started = 0  # workers started so far (a crash or overrun costs one)

    def _start(self) -> _Worker:
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)  # the modules this process sees
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", __name__, str(theirs.fileno()), str(self.memory_bytes), *self.preload],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,  # decoders print their complaints about every damaged file
                env=env,
            )
        finally:
            theirs.close()
        self.started += 1
        return _Worker(proc, Connection(ours.detach()))

    def _take(self) -> _Worker:
        with self._lock:
            while self._idle:
                w = self._idle.pop()
                if w.alive():
                    return w
                w.kill()
        return self._start()

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in a worker; its ValidationError is raised here as it was, anything else that goes
        wrong as :class:`SandboxFailure`. ``fn`` and its arguments must pickle (a module-level function)."""
        with self._slots:
            if self._closed:
                raise SandboxFailure("the decoder pool is closed")
            w = self._take()
            try:
                w.conn.send((fn, args, self.cpu_seconds))
                if not w.conn.poll(self.wall_seconds):
                    w.kill()
                    raise SandboxFailure(f"took more than {self.wall_seconds:g} s and was stopped")
                reply = w.conn.recv()
            except (EOFError, OSError):
                code = w.exit_code()
                w.kill()
                if code == -signal.SIGXCPU:
                    raise SandboxFailure(
                        f"used more than {self.cpu_seconds:g} s of CPU and was stopped"
                    ) from None
                if code is not None and -code in STOP_SIGNALS:
                    raise SandboxStopped(f"was stopped ({_signal_name(code)})") from None
                raise SandboxFailure(f"crashed ({_signal_name(code)})") from None
            with self._lock:
                # A worker whose decoder failed on hostile bytes may have a damaged heap (NBIS reads and
                # writes past its buffers): it is not given another file.
                if self._closed or reply[0] != "ok":
                    w.kill()
                else:
                    self._idle.append(w)
        kind = reply[0]
        if kind == "ok":
            return reply[1]
        if kind == "invalid":
            raise ValidationError(reply[1], field=reply[2], details=reply[3])
        raise SandboxFailure(reply[1])

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for w in idle:
            try:
                w.conn.send(None)
                w.process.wait(2)
            except (OSError, subprocess.TimeoutExpired):
                pass
            w.kill()


_pools: dict[str, Sandbox] = {}
_pools_lock = threading.Lock()


def shared(name: str, *, preload: tuple[str, ...] = (), size: int | None = None) -> Sandbox:
    """The process-wide sandbox called ``name`` (created on first use, closed at exit)."""
    with _pools_lock:
        box = _pools.get(name)
        if box is None or box._closed:
            box = _pools[name] = Sandbox(size or min(2, os.cpu_count() or 1), preload=preload)
        return box


@atexit.register
def close_all() -> None:
    """Close every shared sandbox (at exit; a later ``shared`` call starts fresh workers)."""
    for box in list(_pools.values()):
        box.close()


if __name__ == "__main__":  # a worker: python -m crms.fingerprint.sandbox FD MEMORY [MODULE ...]
    _worker_main(Connection(int(sys.argv[1])), int(sys.argv[2]), tuple(sys.argv[3:]))
