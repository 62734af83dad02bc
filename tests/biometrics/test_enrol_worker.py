"""The server's enrol worker: captured prints are enrolled without anyone running ``crms fp enrol-pending``
(issue 20). The queue is the pending rows, so prints left pending before a (re)start are enrolled too."""

from __future__ import annotations

import time

import pytest

from .test_api_fingerprints import finger, person


def _engine_or_skip() -> None:
    from crms.biometrics.enrolment import engine_missing

    missing = engine_missing()
    if missing:
        pytest.skip(missing)


def _wait_status(client, headers, pid: int, want: list[str], seconds: float = 120) -> list[str]:
    deadline = time.monotonic() + seconds
    while True:
        listed = client.get(f"/api/v1/persons/{pid}/fingerprints?reason=check", headers=headers).json()
        got = [f["status"] for f in listed["fingerprints"]]
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def test_worker_enrols_what_was_pending_at_start_and_each_new_capture(app, client, make_user):
    _engine_or_skip()
    from crms.biometrics.worker import EnrolWorker

    _, op = make_user("cro_operator")
    pid = person(client, op, "54400-7777777-3")
    assert (
        client.post(f"/api/v1/persons/{pid}/fingerprints/1", content=finger(5, 1), headers=op).status_code
        == 201
    )
    assert _wait_status(client, op, pid, ["enrolled"], seconds=2) == ["pending"]  # nobody enrols it yet

    # A server (re)start: the worker begins with what is pending, then waits for captures.
    # poll_seconds=3600: only the capture's wake-up (a datagram, as from another server process) can
    # make it look again within this test.
    worker = EnrolWorker.from_settings(app.state.db, app.state.settings, poll_seconds=3600).start()
    try:
        assert _wait_status(client, op, pid, ["enrolled"]) == ["enrolled"]
        r = client.post(f"/api/v1/persons/{pid}/fingerprints/2", content=finger(5, 2), headers=op)
        assert r.status_code == 201 and r.json()["status"] == "pending"
        assert _wait_status(client, op, pid, ["enrolled", "enrolled"]) == ["enrolled", "enrolled"]
        # the worker counts a batch once its run returns, just after the commit the statuses show
        deadline = time.monotonic() + 10
        while worker.enrolled < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert worker.enrolled == 2 and worker.last_error is None
    finally:
        worker.stop()
    assert not worker._thread.is_alive()


def test_worker_leaves_the_queue_to_another_holder(app, client, make_user):
    """While `crms fp enrol-pending` (or the demo job) holds the queue, the worker does nothing."""
    _engine_or_skip()
    from crms.biometrics.enrolment import exclusive
    from crms.biometrics.worker import EnrolWorker

    _, op = make_user("cro_operator")
    pid = person(client, op, "54400-8888888-3")
    client.post(f"/api/v1/persons/{pid}/fingerprints/3", content=finger(6, 3), headers=op)
    worker = EnrolWorker.from_settings(app.state.db, app.state.settings, poll_seconds=3600)
    with exclusive(app.state.settings.data_dir, "fp-enrol"):
        assert worker.run_once() == 0
    assert _wait_status(client, op, pid, ["pending"], seconds=1) == ["pending"]
