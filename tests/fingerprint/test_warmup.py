"""The matcher's kernels made ready before the first search (crms.fingerprint.warm_matcher), and a server
doing it at start-up in the background. The checks of what is compiled run in a fresh interpreter, where
nothing is compiled or loaded yet."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytest.importorskip("numba")

# The kernels that a score, a many-to-one score, the side-by-side comparison and a 1:N search call.
KERNELS = (
    "import crms.fingerprint._kernels as K, crms.fingerprint.gallery as G, crms.fingerprint.prefilter as P\n"
    "kernels = [K.score_one, K.compare_many, K.compare_detail, G._cylinders_batch, G._compare_batch,"
    " P.scan, P._fine_scores]\n"
)


def _run(code: str, tmp_path: Path, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CRMS_")}
    environ.update(CRMS_DATA_DIR=str(tmp_path / "data"), **env)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=environ, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_the_sample_pair_is_a_match_that_a_search_finds():
    from crms.fingerprint import Gallery, ProbeFinger, score
    from crms.fingerprint.warmup import sample_pair

    a, b = sample_pair()
    other = sample_pair(seed=1)[0]
    assert score(a, b) > 30 > score(other, b)
    gallery = Gallery(capacity=16)
    gallery.insert_many([(1, 1, 1, a), (2, 2, 1, other)])
    found = gallery.search([ProbeFinger(b, 1)])
    assert found.candidates and found.candidates[0].person == 1


def test_warm_matcher_readies_every_kernel_of_score_explain_and_search(tmp_path):
    out = _run(
        KERNELS + "before = [len(k.signatures) for k in kernels]\n"
        "import crms.fingerprint as fp\n"
        "fp.warm_matcher()\n"
        "print(before, [len(k.signatures) for k in kernels])\n",
        tmp_path,
    )
    before, after = out.strip().split("] [")
    assert set(before.strip("[").split(", ")) == {"0"}
    assert "0" not in after.strip("]").split(", ")


@pytest.mark.parametrize("setting", ["on", "off"])
def test_a_server_readies_the_matcher_at_start_unless_told_not_to(tmp_path, setting):
    out = _run(
        KERNELS + "from fastapi.testclient import TestClient\n"
        "from crms.api.app import create_app\n"
        "app = create_app()\n"
        "with TestClient(app):\n"
        "    thread = getattr(app.state, 'matcher_warm', None)\n"
        "    thread is None or thread.join(540)\n"
        "    print(thread is not None and not thread.is_alive(), min(len(k.signatures) for k in kernels))\n",
        tmp_path,
        CRMS_WARM_MATCHER=setting,
    )
    assert out.split() == (["True", "1"] if setting == "on" else ["False", "0"])


def test_the_processes_of_one_server_take_turns(tmp_path):
    """While another process of the server holds the lock (compiling), a worker's warm-up waits for it."""
    import fcntl

    from crms.api.app import warm_matcher_in_background

    lock = tmp_path / "data" / "matcher-warm.lock"
    lock.parent.mkdir()
    with open(lock, "a+b") as other:
        fcntl.flock(other, fcntl.LOCK_EX)
        thread = warm_matcher_in_background(lock)
        thread.join(1.0)
        assert thread.is_alive()
    thread.join(540)
    assert not thread.is_alive()
