"""LEADER's weights read straight from pyfing's ``LEADER.weights.h5`` with h5py: no Keras, no PyTorch.

pyfing ships the network's weights in the Keras 3 weights format, where each layer's arrays sit under
``layers/<class>[_<n>]/vars/<i>``: the layer's class in snake case, numbered in the order of the model's
``layers`` list, not under the names the model gives its layers. ``LAYER_KEYS`` maps each named layer
(the names :mod:`crms.fingerprint.leader_onnx` reads) to its group; it was read from the Keras model of
pyfing 0.7.3 and is checked two ways: the arrays' digest (``WEIGHTS_SHA256``, the same as that of the
arrays Keras loads) and, where Keras is installed (the ``fingerprint-torch`` extra), array by array against
Keras (tests/fingerprint/test_leader_weights.py).
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np

WEIGHTS_FILE = "LEADER.weights.h5"
WEIGHTS_SHA256 = "123487db306281680095b13a4f99938705b92f32a14140dedbe71750d14c7e30"

# layer name = group under layers/ in the weights file, in the Keras model's layer order
_TABLE = """
stem0_conv=conv2d stem0_dilated_conv=conv2d_1 stem0_ln=layer_normalization
enc0_0_conv=separable_conv2d enc0_0_ln=layer_normalization_1 enc0_1_conv=separable_conv2d_1
enc0_1_ln=layer_normalization_2 enc0_2_conv=separable_conv2d_2 enc0_2_ln=layer_normalization_3
enc0_3_conv=separable_conv2d_3 enc0_3_ln=layer_normalization_4 dec0_3_conv=separable_conv2d_4
dec0_3_ln=layer_normalization_5 dec0_2_conv=separable_conv2d_5 dec0_2_ln=layer_normalization_6
dec0_1_conv=separable_conv2d_6 dec0_1_ln=layer_normalization_7 dec0_0_conv=separable_conv2d_7
dec0_0_ln=layer_normalization_8 stem1_conv=conv2d_2 stem1_dilated_conv=conv2d_3
attention_conv_d1=conv2d_4 attention_conv_d3=conv2d_5 attention_conv_d6=conv2d_6
stem1_ln=layer_normalization_9 attention_s=conv2d_7 enc1_0_depthwise_conv=depthwise_conv2d
enc1_0_ln=layer_normalization_10 enc1_0_conv_exp=conv2d_8 enc1_0_conv_red=conv2d_9
enc1_0_conv_adj=conv2d_10 enc1_1_depthwise_conv=depthwise_conv2d_1 enc1_1_ln=layer_normalization_11
enc1_1_conv_exp=conv2d_11 enc1_1_conv_red=conv2d_12 enc1_1_conv_adj=conv2d_13
enc1_2_depthwise_conv=depthwise_conv2d_2 enc1_2_ln=layer_normalization_12 enc1_2_conv_exp=conv2d_14
enc1_2_conv_red=conv2d_15 enc1_2_conv_adj=conv2d_16 enc1_3_depthwise_conv=depthwise_conv2d_3
enc1_3_ln=layer_normalization_13 enc1_3_conv_exp=conv2d_17 enc1_3_conv_red=conv2d_18
enc1_3_conv_adj=conv2d_19 dec1_3_depthwise_conv=depthwise_conv2d_4 dec1_3_ln=layer_normalization_14
dec1_3_conv_exp=conv2d_20 dec1_3_conv_red=conv2d_21 dec1_3_conv_adj=conv2d_22
dec1_2_depthwise_conv=depthwise_conv2d_5 dec1_2_ln=layer_normalization_15 dec1_2_conv_exp=conv2d_23
dec1_2_conv_red=conv2d_24 dec1_2_conv_adj=conv2d_25 dec1_1_depthwise_conv=depthwise_conv2d_6
dec1_1_ln=layer_normalization_16 dec1_1_conv_exp=conv2d_26 dec1_1_conv_red=conv2d_27
dec1_1_conv_adj=conv2d_28 dec1_0_depthwise_conv=depthwise_conv2d_7 dec1_0_ln=layer_normalization_17
dec1_0_conv_exp=conv2d_29 dec1_0_conv_red=conv2d_30 dec1_0_conv_adj=conv2d_31
head_0_ibc_depthwise_conv=depthwise_conv2d_8 head_0_ibc_ln=layer_normalization_18
head_0_ibc_conv_exp=conv2d_32 head_1_ibc_depthwise_conv=depthwise_conv2d_9
head_0_ibc_conv_red=conv2d_33 head_1_ibc_ln=layer_normalization_19
head_2_ibc_depthwise_conv=depthwise_conv2d_10 head_1_ibc_conv_exp=conv2d_34
head_2_ibc_ln=layer_normalization_20 head_0_ibc_conv_adj=conv2d_35 head_1_ibc_conv_red=conv2d_36
head_2_ibc_conv_exp=conv2d_37 head_2_ibc_conv_red=conv2d_38 head_1_ibc_conv_adj=conv2d_39
head_0_conv1=conv2d_40 head_2_ibc_conv_adj=conv2d_41 head_0_ln=layer_normalization_21
head_0_conv2=conv2d_42 head_1_conv1=conv2d_43 head_conv_pos=conv2d_44
head_1_ln=layer_normalization_22 head_2_conv1=conv2d_45 head_1_conv2=conv2d_46
head_2_ln=layer_normalization_23 nms_Gaussian_blur=conv2d_47 head_conv_dir=conv2d_48
head_2_conv2=conv2d_49 head_conv_typ=conv2d_50
"""
LAYER_KEYS: dict[str, str] = dict(pair.split("=") for pair in _TABLE.split())


def pyfing_models_dir() -> Path:
    """pyfing's ``models`` folder, found without importing pyfing (whose import loads Keras when present)."""
    spec = importlib.util.find_spec("pyfing")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("pyfing is not installed (pip install -e '.[fingerprint]')")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def load_weights(path: str | Path | None = None) -> dict[str, list[np.ndarray]]:
    """Layer name -> its arrays (float32, Keras layout) from a LEADER weights file (default: pyfing's)."""
    import h5py

    path = Path(path) if path is not None else pyfing_models_dir() / WEIGHTS_FILE
    out: dict[str, list[np.ndarray]] = {}
    with h5py.File(path, "r") as f:
        groups = f["layers"]
        for name, key in LAYER_KEYS.items():
            if key not in groups or "vars" not in groups[key]:
                raise ValueError(f"{path}: no weights for layer {name} ({key}); not pyfing's LEADER?")
            v = groups[key]["vars"]
            out[name] = [np.asarray(v[str(i)][()], np.float32) for i in range(len(v))]
    return out


ADAPTED = {"scale075": "leader_scale075.npz"}  # name -> file beside this module


def adapted_weights(
    name: str, base: dict[str, list[np.ndarray]] | None = None
) -> dict[str, list[np.ndarray]]:
    """LEADER's weights with the layers of the shipped adaptation ``name`` replaced.

    An adaptation retrains the layers that see space (stems, first U-net, attention, depthwise
    convolutions, LayerNormalizations, output convolutions) for LEADER reading an image scaled down
    (``scale075``: by 0.75), distilled from full-resolution LEADER on the project's synthetic prints
    (bench/fp_leader_adapt.py); every other layer stays pyfing's. A pruning (bench/fp_leader_prune.py)
    replaces inverse-bottleneck blocks' expansion and reduction with ones of fewer hidden units. The
    file holds ``<layer>|<i>`` -> the layer's i-th array in Keras layout. ``name`` may also be the path
    of such a file."""
    if name in ADAPTED:
        path = Path(__file__).with_name(ADAPTED[name])
    elif name.endswith(".npz") and Path(name).is_file():  # one made by bench/fp_leader_adapt.py or _prune.py
        path = Path(name)
    else:
        raise ValueError(f"unknown LEADER adaptation {name!r}; choose from {sorted(ADAPTED)} or an .npz file")
    out = {k: list(v) for k, v in (base if base is not None else load_weights()).items()}
    with np.load(path) as z:
        for key in z.files:
            layer, i = key.rsplit("|", 1)
            if layer not in out or not i.isdigit() or int(i) >= len(out[layer]):
                raise ValueError(f"{path.name}: {key} is not an array of LEADER's layers")
            old = out[layer][int(i)]
            new = np.asarray(z[key], np.float32)
            if new.shape != old.shape and not _pruned_shape(layer, int(i), old.shape, new.shape):
                raise ValueError(f"{path.name}: {key} has shape {new.shape}, LEADER's {old.shape}")
            out[layer][int(i)] = new
    for layer in out:  # a pruned block: as many hidden units in its reduction as in its expansion
        if layer.endswith("_conv_exp"):
            (ke, be), red = out[layer], out[layer[: -len("_exp")] + "_red"][0]
            if not ke.shape[3] == be.shape[0] == red.shape[2]:
                raise ValueError(
                    f"{path.name}: {layer[: -len('_conv_exp')]} has {ke.shape[3]} hidden units in its "
                    f"expansion and {red.shape[2]} in its reduction"
                )
    return out


def _pruned_shape(layer: str, i: int, old: tuple, new: tuple) -> bool:
    """Whether ``new`` is ``old`` with fewer (at least one) hidden units of an inverse-bottleneck block
    (bench/fp_leader_prune.py): the expansion's output axis (kernel and bias) or the reduction kernel's
    input axis."""
    axis = {("_conv_exp", 0): 3, ("_conv_exp", 1): 0, ("_conv_red", 0): 2}.get((layer[-9:], i))
    if axis is None or len(new) != len(old):
        return False
    same = all(a == b for k, (a, b) in enumerate(zip(old, new, strict=True)) if k != axis)
    return same and 1 <= new[axis] <= old[axis]


def digest(weights: dict[str, list[np.ndarray]]) -> str:
    """SHA-256 over the layer names, shapes and float32 bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(weights):
        h.update(name.encode())
        for a in weights[name]:
            h.update(str(a.shape).encode())
            h.update(np.ascontiguousarray(a, np.float32).tobytes())
    return h.hexdigest()
