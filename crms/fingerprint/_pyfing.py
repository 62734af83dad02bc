"""Importing pyfing without Keras.

pyfing imports Keras at the top of every module, for its neural models, although its classical algorithms
(GMFS segmentation, GBFOE, XSFFE, GBFEN, SBMEX) and LEADER's pre- and post-processing are NumPy and
OpenCV. CRMS runs LEADER in ONNX Runtime from the weights file (:mod:`.leader_weights`), so a default
install has no Keras and no PyTorch. Then a placeholder ``keras`` module stands in while pyfing imports;
building any of pyfing's Keras models raises ImportError naming the extra that brings Keras back.

Where Keras is installed with its PyTorch backend (the ``fingerprint-torch`` extra), the real Keras is
used, on the torch backend, gradients off.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import types

KERAS_MISSING = (
    "Keras is not installed: pyfing's Keras models need the 'fingerprint-torch' extra "
    "(pip install -e '.[fingerprint-torch]'); CRMS's own extraction does not"
)


class _Placeholder(types.ModuleType):
    """Any attribute is a callable that raises ImportError (names used in annotations resolve)."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Missing(f"{self.__name__}.{name}")


class _Missing:
    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, *args, **kwargs):
        raise ImportError(f"{self.name}: {KERAS_MISSING}")

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Missing(f"{self.name}.{name}")


def keras_usable() -> bool:
    """Keras and the backend it would load (KERAS_BACKEND, default torch here) are both installed."""
    backend = os.environ.get("KERAS_BACKEND", "torch")
    try:
        return importlib.util.find_spec("keras") is not None and importlib.util.find_spec(backend) is not None
    except (ImportError, ValueError):  # a blocked or half-installed module
        return False


def _install_placeholder() -> None:
    keras = _Placeholder("keras")
    keras.__dict__["__crms_placeholder__"] = True
    for sub in ("layers", "ops", "models", "utils"):
        m = _Placeholder(f"keras.{sub}")
        keras.__dict__[sub] = m
        sys.modules[f"keras.{sub}"] = m
    sys.modules["keras"] = keras


_imported = None
_lock = threading.Lock()


def import_pyfing():
    """Import pyfing (once per process): with the real Keras on the torch backend when it is installed,
    else with the placeholder. Thread-safe: a thread that comes while another imports waits for the whole
    module (pyfing is in ``sys.modules`` from the start of its import, half-initialised until the end)."""
    global _imported
    if _imported is not None:
        return _imported
    with _lock:
        if _imported is None:
            _imported = _import()
        return _imported


def _import():
    if "keras" not in sys.modules:
        if keras_usable():
            os.environ.setdefault("KERAS_BACKEND", "torch")
            if os.environ["KERAS_BACKEND"] == "torch":
                import torch

                torch.set_grad_enabled(False)
        else:
            _install_placeholder()
    import pyfing

    return pyfing


def real_keras() -> bool:
    """pyfing was (or would be) imported with the real Keras."""
    keras = sys.modules.get("keras")
    if keras is not None:
        return not getattr(keras, "__crms_placeholder__", False)
    return keras_usable()
