"""``crms serve --workers N``: each worker accepts on a listening socket of its own, all bound to the same
port (SO_REUSEPORT), so that the kernel spreads connections over the workers (issue 21.10: with one shared
socket, 16 keep-alive clients all landed on one of two workers)."""

from __future__ import annotations

import socket

import pytest

from crms.api.workers import reuse_port_supported, worker_sockets

pytestmark = pytest.mark.skipif(not reuse_port_supported(), reason="no SO_REUSEPORT on this system")


def test_one_listening_socket_per_worker_on_one_port():
    socks = worker_sockets("127.0.0.1", 0, 3)
    try:
        ports = {s.getsockname()[1] for s in socks}
        assert len(socks) == 3 and len(ports) == 1
        assert all(s.get_inheritable() for s in socks)
    finally:
        for s in socks:
            s.close()


def test_connections_are_spread_over_the_workers_sockets():
    socks = worker_sockets("127.0.0.1", 0, 2)
    clients = []
    try:
        for s in socks:
            s.listen(64)
            s.setblocking(False)
        port = socks[0].getsockname()[1]
        for _ in range(32):
            clients.append(socket.create_connection(("127.0.0.1", port)))
        accepted = [0, 0]
        for i, s in enumerate(socks):
            while True:
                try:
                    conn, _ = s.accept()
                except BlockingIOError:
                    break
                conn.close()
                accepted[i] += 1
        assert sum(accepted) == 32
        assert min(accepted) >= 1, accepted  # (all 32 on one socket: a chance of 2 in 2^32)
    finally:
        for c in clients:
            c.close()
        for s in socks:
            s.close()
