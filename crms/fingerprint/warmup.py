"""The matcher's compiled kernels made ready before the first officer waits for them.

numba compiles a kernel at its first call and keeps the machine code in its on-disk cache (``__pycache__``
next to the source, or numba's cache folder where that is read-only); a new install or upgrade starts with
an empty cache. Compiling the kernels that a 1:1 score, a 1:N search and the side-by-side comparison use
takes about a minute of CPU on a small server (docs/BENCHMARKS.md, "First use after an install"); loading
them from the cache takes well under a second. :func:`warm_matcher` runs each of those paths once on two
small templates made here, so a server can do it at start-up instead of in its first search;
:func:`warm_matcher_via_child` compiles in a child process first, so that a server's requests do not wait
behind the compiler."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np

from crms.fingerprint.gallery import Gallery, ProbeFinger
from crms.fingerprint.matcher import explain, pack, prepare, score, score_many
from crms.fingerprint.template import Template


def sample_pair(count: int = 40, seed: int = 0) -> tuple[Template, Template]:
    """Two templates of one made-up finger: COUNT minutiae scattered over a 300×400 print, and the same
    minutiae turned by 0.1 rad (clockwise on the image) and shifted by (12, −8) px, the last five missing."""
    rng = np.random.default_rng(seed)
    m = np.zeros((count, 5), dtype=np.float32)
    m[:, 0] = rng.uniform(40, 260, count)
    m[:, 1] = rng.uniform(40, 360, count)
    m[:, 2] = rng.uniform(0, 2 * np.pi, count)
    m[:, 3] = rng.integers(1, 3, count)
    m[:, 4] = 80
    c, s = np.cos(0.1), np.sin(0.1)
    kept = m[: count - 5]
    turned = kept.copy()
    turned[:, 0] = c * kept[:, 0] - s * kept[:, 1] + 12
    turned[:, 1] = s * kept[:, 0] + c * kept[:, 1] - 8
    turned[:, 2] = (kept[:, 2] - 0.1) % (2 * np.pi)  # directions counter-clockwise, y down
    return Template(300, 400, m, quality=60), Template(300, 400, turned, quality=60)


def warm_matcher() -> float:
    """Compile (or load from numba's cache) the kernels of ``score``, ``score_many``, ``explain`` and a
    ``Gallery`` search, two-stage and brute force; returns the seconds it took."""
    t0 = time.perf_counter()
    a, b = sample_pair()
    pa, pb = prepare(a), prepare(b)
    score(pa, pb)
    score_many(pb, pack([pa, pb]))
    explain(a, b)
    gallery = Gallery(capacity=16)
    gallery.insert_many([(1, 1, 1, a), (2, 2, 1, sample_pair(seed=1)[0])])
    for brute_force in (False, True):
        gallery.search([ProbeFinger(b, 1)], brute_force=brute_force)
    return time.perf_counter() - t0


def warm_matcher_via_child(timeout: float = 900) -> float:
    """:func:`warm_matcher` in a fresh interpreter first, then here. A first compilation (about a minute of
    CPU and 700 MB at its peak) then runs in the child, whose interpreter lock and memory are its own, and
    this process loads from numba's cache what the child wrote there (should the child fail, this process
    compiles). Returns the seconds of both."""
    t0 = time.perf_counter()
    code = "from crms.fingerprint.warmup import warm_matcher; warm_matcher()"
    try:
        subprocess.run(
            [sys.executable, "-c", code],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pass
    warm_matcher()
    return time.perf_counter() - t0
