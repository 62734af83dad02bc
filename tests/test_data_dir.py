"""Tests never touch the user's data directory (./data of the checkout or of the working directory): every
test gets its own CRMS_DATA_DIR (tests/conftest.py), and the code writes the audit head, keys and stores
under the configured data dir only."""

from __future__ import annotations

import os
from pathlib import Path

from crms.access import audit
from crms.access.principal import Principal

CHECKOUT = Path(__file__).resolve().parents[1]
ALICE = Principal(user_id=7, username="alice", role="cro_operator", unit="BA/QTA", channel="api")


def _snapshot(directory: Path) -> dict[str, int]:
    if not directory.exists():
        return {}
    return {str(p): p.stat().st_mtime_ns for p in directory.rglob("*")}


def test_audited_action_without_a_bound_data_dir_stays_out_of_the_checkout(db):
    """A Database not bound to a data dir (as in most service tests) used to write ./data/audit-head of the
    checkout, after which `crms audit verify` on the demo database reported a false TAMPERED."""
    watched = {CHECKOUT / "data", Path.cwd() / "data"}
    before = {d: _snapshot(d) for d in watched}
    with db.transaction() as session:
        audit.record(session, ALICE, "person.read", target_type="person", target_id=1)
    assert {d: _snapshot(d) for d in watched} == before
    own = Path(os.environ["CRMS_DATA_DIR"])
    assert own != CHECKOUT / "data" and (own / "audit-head").is_file()


def test_each_test_has_its_own_data_dir(_own_data_dir):
    assert Path(os.environ["CRMS_DATA_DIR"]) == _own_data_dir
    assert not str(_own_data_dir).startswith(str(CHECKOUT))
    from crms.config import get_settings

    assert get_settings().data_dir == _own_data_dir.resolve()
