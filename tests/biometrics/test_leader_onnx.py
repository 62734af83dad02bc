"""LEADER in ONNX Runtime (graph built from pyfing's weights) against the PyTorch port, and the crop step."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crms.fingerprint.images import load_image

from .fpdata import encode, fvc, synthetic_print


def _same_minutiae(a: list, b: list) -> None:
    assert [(m[0], m[1], m[3]) for m in a] == [(m[0], m[1], m[3]) for m in b]
    for x, y in zip(a, b, strict=True):
        assert abs(math.remainder(x[2] - y[2], 2 * math.pi)) < 1e-4
        assert abs(x[4] - y[4]) < 1e-4


def test_onnx_graph_gives_the_torch_ports_minutiae(ex):
    """Same positions, types, directions and scores (a generated print, then a real one if present)."""
    pytest.importorskip("torch", reason="the PyTorch port needs the 'fingerprint-torch' extra")
    pytest.importorskip("keras", reason="the PyTorch port needs the 'fingerprint-torch' extra")
    onnx_leader, torch_leader = ex._alg("LEADER"), ex._alg("LEADER_TORCH")
    pixels = load_image(encode(synthetic_print(300, 360, seed=3), "PNG")).pixels
    _same_minutiae(onnx_leader.run(pixels, 500), torch_leader.run(pixels, 500))
    x = np.random.default_rng(0).integers(0, 256, (1, 1, 96, 128)).astype(np.float32)
    nms, _ = onnx_leader.network(x[0, 0])
    import torch

    ref = torch_leader.net.forward(torch.from_numpy(x)).numpy()[..., 3]  # the NMS map, noise input
    assert np.abs(nms - ref).max() < 1e-4
    pixels = load_image(fvc("fvc2004", "DB1_B", "101_2.png")).pixels
    a, b = onnx_leader.run(pixels, 500), torch_leader.run(pixels, 500)
    assert len(a) >= 10
    _same_minutiae(a, b)


def test_graph_is_built_deterministically_from_the_shipped_weights(ex):
    from crms.fingerprint.leader_onnx import build_model

    weights = ex._alg("LEADER").weights
    assert build_model(weights)[0].SerializeToString() == build_model(weights)[0].SerializeToString()


def test_layer_normalisations_are_fused_operators(ex):
    """Every LayerNormalization of an unpadded layer is ONNX's fused operator (opset >= 17), not an
    element-wise chain; only padded inverse-bottleneck blocks keep the decomposed form."""
    from crms.fingerprint.leader_onnx import OPSET, build_model

    weights = ex._alg("LEADER").weights
    ops = [n.op_type for n in build_model(weights)[0].graph.node]
    assert OPSET >= 17
    assert ops.count("LayerNormalization") >= 16
    assert ops.count("Pow") <= 4  # the decomposed form's 1/sqrt(variance + eps)


def test_onnx_leader_refuses_other_resolutions(ex):
    with pytest.raises(ValueError, match="500 ppi"):
        ex._alg("LEADER").run(np.full((64, 64), 255, np.uint8), 569)


def test_crop_range_widens_to_the_network_multiple_inside_the_image(ex):
    cr = ex.crop_range
    assert cr(100, 200, 480) == (54, 246)  # 100 + 2*32 = 164 -> 192, widened with real pixels
    assert cr(0, 300, 320) == (0, 320)  # touches the border: shifted inside
    assert cr(5, 50, 60) == (0, 60)  # image smaller than the multiple: the whole side
    a, b = cr(400, 470, 480)
    assert b == 480 and (b - a) % 32 == 0 and a <= 400 - 32


def test_crop_configuration_finds_the_full_images_minutiae(ex):
    img = load_image(fvc("fvc2004", "DB1_B", "103_4.png"))
    full = ex.extract(img, "leader").template.minutiae
    crop = ex.extract(img, "leader_crop").template.minutiae
    d = np.hypot(full[:, None, 0] - crop[None, :, 0], full[:, None, 1] - crop[None, :, 1]).min(axis=1)
    assert (d <= 2).mean() >= 0.9
    assert abs(len(crop) - len(full)) <= 0.1 * len(full) + 2
