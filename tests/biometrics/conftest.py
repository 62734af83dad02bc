"""Fixtures shared by the fingerprint-engine tests."""

from __future__ import annotations

import pytest


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
