"""Extraction in a process pool, so that a server or a batch job stays responsive.

Each worker runs one thread of the deep-learning backend and loads the models once. Jobs travel as
paths or bytes and come back as plain data (serialised template bytes + figures), so nothing heavy
crosses the process boundary.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ExtractResult:
    file: str
    template: bytes | None  # CRMS binary format
    ms: float  # extraction time (decode and resampling excluded)
    minutiae: int
    quality: int
    dpi: float
    dpi_source: str
    error: str | None = None
    dpi_reason: str | None = None  # why that resolution (see crms.fingerprint.images.choose_dpi)
    error_details: list[dict] | None = None  # the error's kind and values, where its rule has a kind


def _init_worker(threads: int, config: str) -> None:
    from crms.fingerprint import extract

    extract.set_threads(threads)
    os.environ.setdefault("KERAS_BACKEND", "torch")
    extract._state["config"] = config


def extract_one(
    source: str | bytes, dpi: float | str | None = None, name: str | None = None
) -> ExtractResult:
    """Decode, normalise and extract one image (runs inside a worker; also callable directly)."""
    from crms.errors import CrmsError
    from crms.fingerprint import extract
    from crms.fingerprint.images import load_image
    from crms.fingerprint.serialise import dumps

    label = name or (str(source) if isinstance(source, str) else "image")
    try:
        img = load_image(source if not isinstance(source, str) else Path(source), dpi, name=label)
        res = extract.extract(img, str(extract._state.get("config", extract.DEFAULT_CONFIG)))
    except CrmsError as exc:
        return ExtractResult(
            label, None, 0.0, 0, 0, 0.0, "", error=exc.message, error_details=exc.details or None
        )
    return ExtractResult(
        label,
        dumps(res.template),
        res.ms,
        res.template.count,
        res.template.quality,
        img.dpi,
        img.dpi_source,
        dpi_reason=img.dpi_reason,
    )


POOL_MIN_IMAGES = 4  # below this, extracting in-process is faster than starting workers


def extract_many(
    sources: list[str | Path | bytes], dpi: float | str | None = None, processes: int | None = None
) -> list[ExtractResult]:
    """Extract many images in input order: in a worker pool (``processes``, default the CPU count up to
    two), or in this process for a handful of images or ``processes == 1``."""
    if len(sources) < POOL_MIN_IMAGES or processes == 1:
        from crms.fingerprint.extract import set_threads

        set_threads(1)
        return [extract_one(str(s) if isinstance(s, Path) else s, dpi) for s in sources]
    with ExtractorPool(processes) as pool:
        return pool.map(sources, dpi)


def _warm() -> bool:
    from crms.fingerprint import extract

    extract.warm(str(extract._state.get("config", extract.DEFAULT_CONFIG)))
    return True


BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@contextmanager
def _blas_threads(threads: int) -> Iterator[None]:
    """numpy's BLAS reads its thread count when it loads, which in a spawned worker is before the
    initializer runs: the workers started inside this block inherit ``threads`` (an explicit setting in the
    environment wins). This process's environment is as it was afterwards."""
    saved = {var: os.environ.get(var) for var in BLAS_THREAD_VARS}
    for var in BLAS_THREAD_VARS:
        os.environ.setdefault(var, str(threads))
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


class ExtractorPool:
    """A pool of extraction processes (``processes`` defaults to the CPU count, at most 2 here)."""

    def __init__(self, processes: int | None = None, threads: int = 1, config: str | None = None):
        from crms.fingerprint.extract import DEFAULT_CONFIG

        n = processes or min(2, os.cpu_count() or 1)
        self.processes = n
        with _blas_threads(threads):
            self._ex = ProcessPoolExecutor(
                max_workers=n,
                mp_context=mp.get_context("spawn"),
                initializer=_init_worker,
                initargs=(threads, config or DEFAULT_CONFIG),
            )
            # every worker started now, while the environment says so (a spawned pool starts them as
            # jobs arrive, one per job submitted while the others are busy)
            for f in [self._ex.submit(os.getpid) for _ in range(n)]:
                f.result()

    def warm(self) -> None:
        """Load the models in every worker (so that timings exclude start-up)."""
        for f in [self._ex.submit(_warm) for _ in range(self.processes * 2)]:
            f.result()

    def submit(self, source: str | Path | bytes, dpi: float | str | None = None) -> Future:
        src = str(source) if isinstance(source, Path) else source
        return self._ex.submit(extract_one, src, dpi)

    def map(self, sources: list[str | Path | bytes], dpi: float | str | None = None) -> list[ExtractResult]:
        futs = [self.submit(s, dpi) for s in sources]
        return [f.result() for f in futs]

    def close(self) -> None:
        self._ex.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ExtractorPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
