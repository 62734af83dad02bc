"""Server worker processes that share the connections evenly (``crms serve --workers N``).

uvicorn's own multi-process mode binds one listening socket and hands it to every worker. An idle worker's
event loop then accepts every connection waiting at that moment, so clients that connect together (a
reverse proxy's pool, a load test's keep-alive clients) mostly land on one worker: measured with 16
keep-alive clients and 2 workers, all 16 on one process, whose single core then answered everything while
the other idled. Here each worker gets a listening socket of its own, all bound to the same address with
``SO_REUSEPORT``, and the kernel spreads new connections over them (by a hash of the client's address and
port). Worker supervision (restart of a dead worker, signals, shutdown) is uvicorn's, with worker *i* always
given socket *i*.
"""

from __future__ import annotations

import socket
from typing import Any


def reuse_port_supported() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def bind_reuse_port(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port) that other sockets may bind too (``SO_REUSEPORT``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def worker_sockets(host: str, port: int, workers: int) -> list[socket.socket]:
    """One listening socket per worker, all on (host, port); port 0 picks a free port for all of them."""
    first = bind_reuse_port(host, port)
    port = first.getsockname()[1]
    return [first, *(bind_reuse_port(host, port) for _ in range(workers - 1))]


def run_workers(config: Any) -> None:
    """Run ``config.workers`` uvicorn workers (``config``: a ``uvicorn.Config`` naming the app by import
    string), worker *i* accepting on socket *i* of :func:`worker_sockets`."""
    import logging

    from uvicorn.supervisors.multiprocess import Multiprocess, Process

    sockets = worker_sockets(config.host, config.port, config.workers)
    logging.getLogger("uvicorn.error").info(
        "Uvicorn running on %s://%s:%d with %d workers, one listening socket each (SO_REUSEPORT)",
        "https" if config.is_ssl else "http",
        config.host,
        sockets[0].getsockname()[1],
        config.workers,
    )

    class Balanced(Multiprocess):
        def init_processes(self) -> None:
            for sock in sockets:
                process = Process(self.config, [sock])
                process.start()
                self.processes.append(process)

        def keep_subprocess_alive(self) -> None:
            # uvicorn's, with the dead worker's own socket given to its replacement
            if self.should_exit.is_set():
                return
            for idx, process in enumerate(self.processes):
                if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                    continue
                process.kill()
                process.join()
                from uvicorn.config import STARTUP_FAILURE

                if process.exitcode == STARTUP_FAILURE:
                    logging.getLogger("uvicorn.error").error(
                        f"Child process [{process.pid}] failed to start, stopping the parent process."
                    )
                    self.should_exit.set()
                    return
                if self.should_exit.is_set():
                    return
                logging.getLogger("uvicorn.error").info(f"Child process [{process.pid}] died")
                process = Process(self.config, [sockets[idx]])
                process.start()
                self.processes[idx] = process

        def restart_all(self) -> None:  # SIGHUP: one worker after the other, each on its own socket
            for idx, old in enumerate(self.processes):
                if self.should_exit.is_set():
                    return
                new = Process(self.config, [sockets[idx]])
                new.start()
                if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                    new.kill()
                    new.join()
                    return
                old.terminate()
                old.join()
                self.processes[idx] = new

    try:
        Balanced(config, sockets=sockets).run()
    finally:
        for sock in sockets:
            sock.close()
