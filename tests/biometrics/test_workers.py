"""Extraction in a process pool: submit returns at once, bad images come back as errors."""

from __future__ import annotations

import time

import pytest

from crms.fingerprint.serialise import loads

from .fpdata import encode, synthetic_print


def test_pool_extracts_without_blocking_the_caller():
    pytest.importorskip("onnxruntime", reason="the fingerprint extra is not installed")
    from crms.fingerprint.workers import ExtractorPool

    good = encode(synthetic_print(300, 360, seed=4), "PNG")
    with ExtractorPool(processes=1) as pool:
        t0 = time.perf_counter()
        f_good = pool.submit(good, 500)
        f_bad = pool.submit(b"GIF89a not supported", None)
        assert time.perf_counter() - t0 < 1.0  # the caller is free while workers start and extract
        r = f_good.result(timeout=600)
        bad = f_bad.result(timeout=600)
    assert r.error is None and r.dpi == 500 and r.dpi_source == "caller"
    t = loads(r.template)
    assert (t.width, t.height) == (300, 360) and t.count == r.minutiae
    assert bad.template is None and "unrecognised" in bad.error


def test_the_workers_get_one_blas_thread_and_this_process_keeps_its_environment(monkeypatch):
    pytest.importorskip("onnxruntime", reason="the fingerprint extra is not installed")
    import os

    from crms.fingerprint.workers import BLAS_THREAD_VARS, ExtractorPool

    for var in BLAS_THREAD_VARS:
        monkeypatch.delenv(var, raising=False)
    with ExtractorPool(processes=2, threads=1) as pool:
        assert not [var for var in BLAS_THREAD_VARS if var in os.environ]
        seen = {pool._ex.submit(os.getenv, var).result(timeout=600) for var in BLAS_THREAD_VARS}
        pids = {pool._ex.submit(os.getpid).result(timeout=600) for _ in range(8)}
    assert seen == {"1"}
    assert len(pids) <= 2
