"""LEADER without Keras or PyTorch: weights read from pyfing's file with h5py, pyfing imported behind a
placeholder Keras, and the same minutiae as with Keras loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]

# Runs first in the subprocesses: Keras, PyTorch and TensorFlow cannot be imported, as in a default install.
BLOCK = textwrap.dedent(
    """
    import sys
    class _Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("keras", "torch", "tensorflow", "jax"):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
            return None
    sys.meta_path.insert(0, _Block())
    """
)


def _engine_or_skip() -> None:
    from crms.fingerprint import engine_missing

    missing = engine_missing()
    if missing:
        pytest.skip(f"the 'fingerprint' extra is not installed: {missing}")


# numpy's BLAS takes its thread count when it loads, and a result can differ in its last bits with another
# count: the child gets this process's setting of when it started (crms.fingerprint.workers.WorkerPool sets
# these in the environment for its workers, after this process's BLAS has loaded).
_BLAS_THREADS = {v: os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


def _run(code: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in _BLAS_THREADS}
    env.update({k: v for k, v in _BLAS_THREADS.items() if v is not None})
    command = [sys.executable, "-c", BLOCK + textwrap.dedent(code)]
    out = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_weights_file_gives_the_arrays_keras_loads():
    """The digest was taken from the arrays of pyfing's Keras model; every named layer is there."""
    _engine_or_skip()
    from crms.fingerprint.leader_weights import LAYER_KEYS, WEIGHTS_SHA256, digest, load_weights

    w = load_weights()
    assert set(w) == set(LAYER_KEYS) and len(w) == 94
    assert w["stem0_conv"][0].shape == (5, 5, 1, 8)
    assert digest(w) == WEIGHTS_SHA256


def test_weights_file_matches_keras_array_by_array():
    _engine_or_skip()
    from crms.fingerprint import _pyfing, extract

    if not _pyfing.real_keras():
        pytest.skip("comparing with Keras needs the 'fingerprint-torch' extra (Keras on PyTorch)")
    from crms.fingerprint.leader_weights import load_weights

    pf = extract._pyfing()
    model = pf.Leader(pf.LeaderParameters()).model
    keras_w = {la.name: la.get_weights() for la in model.layers if la.get_weights()}
    ours = load_weights()
    assert set(keras_w) == set(ours)
    for name, arrays in keras_w.items():
        assert len(arrays) == len(ours[name]), name
        for a, b in zip(arrays, ours[name], strict=True):
            assert np.array_equal(np.asarray(a, np.float32), b), name


def test_a_wrong_file_is_refused(tmp_path):
    _engine_or_skip()
    import h5py

    from crms.fingerprint.leader_weights import load_weights

    with h5py.File(tmp_path / "x.weights.h5", "w") as f:
        f.create_group("layers").create_group("conv2d")
    with pytest.raises(ValueError, match="no weights for layer stem0_conv"):
        load_weights(tmp_path / "x.weights.h5")


def test_adaptation_replaces_only_its_layers_and_ships_under_1_mb():
    _engine_or_skip()
    from crms.fingerprint import leader_weights as lw

    base = lw.load_weights()
    adapted = lw.adapted_weights("scale075", base)
    assert lw.digest(base) == lw.WEIGHTS_SHA256  # the base is not changed in place
    changed = {
        k for k in base if any(not np.array_equal(a, b) for a, b in zip(base[k], adapted[k], strict=True))
    }
    assert "stem0_conv" in changed and "enc1_0_depthwise_conv" in changed
    assert not any(k.endswith(("_conv_exp", "_conv_red", "_conv_adj")) for k in changed)  # 1x1: LEADER's
    assert all(a.shape == b.shape for k in base for a, b in zip(base[k], adapted[k], strict=True))
    assert (Path(lw.__file__).with_name(lw.ADAPTED["scale075"])).stat().st_size < 1_000_000


def test_a_wrong_adaptation_is_refused(tmp_path):
    _engine_or_skip()
    from crms.fingerprint.leader_weights import adapted_weights

    with pytest.raises(ValueError, match="unknown LEADER adaptation 'scale050'"):
        adapted_weights("scale050")
    np.savez(tmp_path / "bad.npz", **{"stem0_conv|0": np.zeros((3, 3, 1, 8), np.float32)})
    with pytest.raises(ValueError, match=r"stem0_conv\|0 has shape \(3, 3, 1, 8\), LEADER's \(5, 5, 1, 8\)"):
        adapted_weights(str(tmp_path / "bad.npz"))


def test_extraction_without_keras_or_torch_gives_the_same_minutiae(tmp_path):
    """A default install (no Keras, no PyTorch): both configurations extract, bit for bit as in this
    process (where Keras may be installed), and nothing heavy was imported."""
    _engine_or_skip()
    from crms import fingerprint as fp
    from crms.fingerprint import extract

    png = tmp_path / "print.png"
    png.write_bytes(fp.png_bytes(fp.render_impression(fp.generate_master(seed=5, finger_index=2), 0)))
    code = f"""
    import json, sys
    from crms import fingerprint as fp
    fp.set_threads(1)
    img = fp.load_image(__import__("pathlib").Path({str(png)!r}))
    out = {{c: fp.extract_template(img, c).template.minutiae.tolist() for c in ("leader", "classic")}}
    real = [m for m in ("keras", "torch") if m in sys.modules
            and not getattr(sys.modules[m], "__crms_placeholder__", False)]
    print(json.dumps({{"minutiae": out, "real": real}}))
    """
    got = json.loads(_run(code))
    assert got["real"] == []
    extract.set_threads(1)
    img = fp.load_image(png)
    for config in ("leader", "classic"):
        here = extract.extract(img, config).template.minutiae
        assert len(here) >= 15, config
        assert np.array_equal(np.asarray(got["minutiae"][config], np.float32), here), config


def test_pyfings_keras_models_say_which_extra_they_need():
    _engine_or_skip()
    code = """
    from crms.fingerprint._pyfing import import_pyfing
    pf = import_pyfing()
    try:
        pf.Leader()
    except ImportError as exc:
        print(exc)
    """
    assert "fingerprint-torch" in _run(code)
