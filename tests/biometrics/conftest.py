"""Fixtures shared by the fingerprint-engine tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def bench_script():
    """Loads a script of bench/ by name (``bench_script("fp_leader_int8")``) as a module; bench/ is on
    sys.path once one is loaded, as when it runs."""

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    return load


@pytest.fixture(scope="module")
def ex():
    """The extraction module with its heavy stack loaded (pyfing, ONNX Runtime), one thread; skips with the
    reason when the 'fingerprint' extra is not installed."""
    from crms.fingerprint import extract

    try:
        extract._pyfing()
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"the 'fingerprint' extra is not installed: {exc}")
    extract.set_threads(1)
    return extract
