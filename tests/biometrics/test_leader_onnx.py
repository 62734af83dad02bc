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
    from crms.fingerprint._pyfing import real_keras

    if not real_keras():  # torch without Keras: pyfing imports with the placeholder 'keras'
        pytest.skip("LEADER_TORCH is built from pyfing's Keras model: needs the 'fingerprint-torch' extra")
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


def test_torch_port_from_the_weights_file_gives_the_graphs_nms_map(ex):
    """``LeaderTorch.from_weights`` (no Keras) computes the graph's function; ``maps`` keeps gradients."""
    torch = pytest.importorskip("torch", reason="the PyTorch port needs the 'fingerprint-torch' extra")
    from crms.fingerprint.leader_torch import LeaderTorch

    onnx_leader = ex._alg("LEADER")
    net = LeaderTorch.from_weights(onnx_leader.weights)
    x = np.random.default_rng(1).integers(0, 256, (1, 1, 96, 128)).astype(np.float32)
    nms, _ = onnx_leader.network(x[0, 0])
    assert np.abs(nms - net.forward(torch.from_numpy(x)).numpy()[..., 3]).max() < 1e-4
    w = net.c["stem0_conv"][0].requires_grad_(True)
    with torch.enable_grad():  # importing pyfing with Keras turns gradients off process-wide
        pos, dvec, typ = net.maps(torch.from_numpy(x))
        pos.sum().backward()
    assert pos.shape == typ.shape == (1, 1, 96, 128) and dvec.shape == (1, 2, 96, 128)
    assert w.grad is not None and float(w.grad.abs().sum()) > 0
    back = net.keras_weights()  # the inverse of the port's layouts: the arrays it was built from
    assert all(
        np.array_equal(a, b) for k, v in onnx_leader.weights.items() for a, b in zip(v, back[k], strict=True)
    )


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


def test_network_window_is_the_whole_padded_image_without_a_box():
    from crms.fingerprint.leader_onnx import network_window

    # pyfing's padding: to a multiple of 32, centred (the extra pixel after)
    assert network_window((300, 388)) == ((0, 300, 10, 10), (0, 388, 14, 14))
    assert network_window((320, 64)) == ((0, 320, 0, 0), (0, 64, 0, 0))


def test_network_window_covers_box_and_margin_on_the_padded_images_grid():
    from crms.fingerprint.leader_onnx import network_window

    h, w = 480, 640  # padded as it is: offsets 0
    (r0, r1, top, bottom), (c0, c1, left, right) = network_window((h, w), 32, (200, 300, 250, 400), 64)
    assert (r0, r1, top, bottom) == (128, 384, 0, 0)  # 200 - 64 = 136 -> 128; 300 + 64 = 364 -> 384
    assert (c0, c1, left, right) == (160, 480, 0, 0)
    # an image that is padded: the window's edges are multiples of 32 in padded coordinates
    h, w = 300, 290  # padded to 320 x 320, offsets 10 / 15
    (r0, r1, top, bottom), (c0, c1, left, right) = network_window((h, w), 32, (100, 180, 120, 200), 32)
    assert (r0 + 10 - top) % 32 == 0 and (r1 - r0 + top + bottom) % 32 == 0
    assert (c0 + 15 - left) % 32 == 0 and (c1 - c0 + left + right) % 32 == 0
    assert r0 <= 100 - 32 and r1 >= 180 + 32 and c0 <= 120 - 32 and c1 >= 200 + 32
    assert (top, left) == (0, 0) and (bottom, right) == (0, 0)  # inside the image: no padding
    # a box at the image's edge keeps pyfing's padding on that side only
    (r0, r1, top, bottom), _ = network_window((h, w), 32, (0, 50, 0, 50), 64)
    assert (r0, top) == (0, 10) and (r1 + 10 + bottom) % 32 == 0 and bottom == 0


def _canvas_print(seed: int) -> np.ndarray:
    """A generated impression (384 x 288) inside a large canvas of its background: most of the image is
    background."""
    from crms import fingerprint as fp

    pixels = fp.render_impression(fp.generate_master(seed=seed, finger_index=2), 0)
    canvas = np.full((640, 576), pixels[0, 0], np.uint8)
    canvas[130:514, 150:438] = pixels
    return canvas


@pytest.mark.parametrize("seed", [1, 4])
def test_window_finds_the_whole_images_minutiae_on_a_generated_print(ex, seed):
    """The network on the foreground's window (+ 64 px, grid-aligned) reads far fewer pixels and finds
    the same minutiae as on the whole image: same positions and types, directions within 0.05 rad."""
    from crms.fingerprint.images import FingerImage

    pixels = _canvas_print(seed)
    leader = ex._alg("LEADER")
    seen: list[tuple[int, ...]] = []
    network = leader.network
    leader.network = lambda x: (seen.append(x.shape), network(x))[1]  # type: ignore[method-assign]
    try:
        img = FingerImage(pixels, 500.0, "caller", (576, 640), "raw")
        full = ex.extract(img, "leader_full").template.minutiae
        win = ex.extract(img, "leader").template.minutiae
    finally:
        del leader.network
    assert seen[0] == (640, 576) and seen[1][0] * seen[1][1] <= 0.6 * 640 * 576
    assert len(full) >= 10
    d = np.hypot(full[:, None, 0] - win[None, :, 0], full[:, None, 1] - win[None, :, 1])
    assert (d.min(axis=1) <= 2).mean() >= 0.95 and abs(len(win) - len(full)) <= 1 + 0.05 * len(full)
    same = d.min(axis=1) == 0
    j = d.argmin(axis=1)[same]
    assert (full[same, 3] == win[j, 3]).mean() >= 0.95
    assert np.abs(np.angle(np.exp(1j * (full[same, 2] - win[j, 2])))).max() < 0.05


def test_window_configuration_finds_the_full_images_minutiae_on_fvc(ex):
    img = load_image(fvc("fvc2004", "DB1_B", "103_4.png"))
    full = ex.extract(img, "leader_full").template.minutiae
    win = ex.extract(img, "leader").template.minutiae
    d = np.hypot(full[:, None, 0] - win[None, :, 0], full[:, None, 1] - win[None, :, 1]).min(axis=1)
    assert (d <= 2).mean() >= 0.95
    assert abs(len(win) - len(full)) <= 0.05 * len(full) + 1


def test_empty_mask_gives_no_minutiae(ex):
    ctx = {"image": np.full((64, 64), 255, np.uint8), "mask": np.zeros((64, 64), np.uint8)}
    ex.step_leader(ctx, ex.DEFAULT_LEADER)
    assert ctx["raw_minutiae"] == []
    assert ex.foreground_box(np.pad(np.ones((3, 4), bool), ((5, 6), (7, 8)))) == (5, 8, 7, 11)


def test_without_a_mask_the_network_reads_the_whole_image(ex):
    pixels = _canvas_print(1)
    ctx = {"image": pixels}
    ex.step_leader(ctx, ex.DEFAULT_LEADER)
    assert ctx["raw_minutiae"] == ex._alg("LEADER").run(pixels, 500)


def test_scaled_network_input_finds_the_minutiae_near_their_place(ex):
    """LeaderParams.network_scale: the network reads a smaller image; positions come back in the image's
    pixels, most minutiae within 4 px of the full-scale ones with the same direction (±0.2 rad)."""
    from crms.fingerprint.images import FingerImage
    from crms.fingerprint.params import LeaderParams

    pixels = _canvas_print(1)
    img = FingerImage(pixels, 500.0, "caller", (576, 640), "raw")
    scaled = ex.Step("minutiae", ex.step_leader, LeaderParams(network_scale=0.8))
    ex.CONFIGS["test_scaled"] = ex._leader_pipeline("test_scaled", scaled)
    leader = ex._alg("LEADER")
    seen: list[tuple[int, ...]] = []
    network = leader.network
    leader.network = lambda x: (seen.append(x.shape), network(x))[1]  # type: ignore[method-assign]
    try:
        full = ex.extract(img, "leader").template.minutiae
        small = ex.extract(img, "test_scaled").template.minutiae
    finally:
        del leader.network, ex.CONFIGS["test_scaled"]
    assert seen[1][0] * seen[1][1] < 0.85 * seen[0][0] * seen[0][1]  # windows are multiples of 32
    assert len(full) >= 10 and abs(len(small) - len(full)) <= 0.2 * len(full)
    d = np.hypot(full[:, None, 0] - small[None, :, 0], full[:, None, 1] - small[None, :, 1])
    near = d.min(axis=1) <= 4
    assert near.mean() >= 0.8
    j = d.argmin(axis=1)[near]
    assert np.median(np.abs(np.angle(np.exp(1j * (full[near, 2] - small[j, 2]))))) < 0.2
    assert small[:, 0].max() < 576 and small[:, 1].max() < 640


def test_network_adapted_to_075_finds_full_resolution_minutiae_better_than_plain_scaling(ex):
    """``leader_a75`` (LEADER's spatial layers retrained to read the image scaled by 0.75) against the
    same scaling with pyfing's weights: on generated prints it never used for training, more of
    full-resolution LEADER's minutiae are found within 3 px, and few that LEADER does not find."""
    from crms import fingerprint as fp
    from crms.fingerprint.images import FingerImage
    from crms.fingerprint.params import LeaderParams

    plain = ex.Step("minutiae", ex.step_leader, LeaderParams(network_scale=0.75))
    ex.CONFIGS["test_plain75"] = ex._leader_pipeline("test_plain75", plain)
    found = {"test_plain75": [0, 0, 0], "leader_a75": [0, 0, 0]}  # LEADER's found, LEADER's, own extra
    try:
        for seed in (5, 6, 7, 8):
            pixels = fp.render_impression(fp.generate_master(seed=seed, finger_index=2), 0)
            img = FingerImage(pixels, 500.0, "caller", pixels.shape[::-1], "raw")
            full = ex.extract(img, "leader").template.minutiae
            for config, counts in found.items():
                got = ex.extract(img, config).template.minutiae
                d = np.hypot(full[:, None, 0] - got[None, :, 0], full[:, None, 1] - got[None, :, 1])
                counts[0] += int((d.min(axis=1) <= 3).sum())
                counts[1] += len(full)
                counts[2] += len(got) - int((d.min(axis=0) <= 3).sum())
    finally:
        del ex.CONFIGS["test_plain75"]
    recall = {c: n[0] / n[1] for c, n in found.items()}
    assert recall["leader_a75"] >= 0.93
    assert recall["leader_a75"] >= recall["test_plain75"] + 0.04
    assert found["leader_a75"][2] <= 0.08 * found["leader_a75"][1]  # minutiae LEADER does not find
