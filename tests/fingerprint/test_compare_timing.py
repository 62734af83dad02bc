"""`crms fp eval` times comparisons only: the matcher's compiled kernels are warmed up before the clock
starts. Checked by the mechanism (no new compiled signature appears while the clock runs), not by a time."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CODE = textwrap.dedent(
    """
    import json
    import numpy as np
    from crms import fingerprint as fp
    from crms.fingerprint import _kernels as K
    from crms.fingerprint.evaluation import compare_timed

    def compiled():
        return sum(len(d.signatures) for d in vars(K).values() if hasattr(d, "signatures"))

    rng = np.random.default_rng(7)
    def template(n):
        m = np.column_stack([rng.uniform(40, 260, n), rng.uniform(40, 340, n), rng.uniform(0, 6.28, n),
                             rng.integers(1, 3, n), rng.uniform(40, 100, n)])
        return fp.prepare(fp.Template(300, 400, m.astype(np.float32)))

    prepared = [template(30 + 3 * i) for i in range(6)]
    calls = []
    def spy(probe, gallery):  # the real score_many, with the compiled count before and after each call
        before = compiled()
        out = fp.score_many(probe, gallery)
        calls.append([before, compiled(), len(gallery)])
        return out

    start = compiled()
    scores, seconds = compare_timed(prepared, spy)
    print(json.dumps({"start": start, "calls": calls, "pairs": int(scores.size), "seconds": seconds}))
    """
)


def test_kernels_are_compiled_before_the_clock_starts():
    pytest.importorskip("numba")
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout)
    calls = got["calls"]
    assert got["pairs"] == 15
    warm, timed = calls[0], calls[1:]
    assert warm[2] == 1  # one untimed comparison first ...
    assert warm[1] > warm[0] == got["start"]  # ... which compiled the kernels (or loaded them from the cache)
    assert [c[2] for c in timed] == [5, 4, 3, 2, 1]  # then every probe against the rest, on the clock
    assert all(before == after for before, after, _ in timed), calls  # nothing compiled while timed
    assert got["seconds"] >= 0
