"""LEADER with pruned inverse-bottleneck blocks: the loader's checks, the ONNX graph and the PyTorch port
on the same pruned weights, and the closed-form pruning rule of bench/fp_leader_prune.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def _prune_file(tmp_path: Path, base: dict, keep: dict[str, np.ndarray]) -> str:
    """An .npz keeping hidden units ``keep[block]`` (in that order) of each block, reductions unrefit."""
    out = {}
    for block, idx in keep.items():
        ke, be = base[f"{block}_conv_exp"]
        kr, br = base[f"{block}_conv_red"]
        out |= {f"{block}_conv_exp|0": ke[..., idx], f"{block}_conv_exp|1": be[idx]}
        out |= {f"{block}_conv_red|0": kr[:, :, idx], f"{block}_conv_red|1": br}
    path = tmp_path / "p.npz"
    np.savez(path, **out)
    return str(path)


def test_all_hidden_units_in_another_order_is_the_same_network(ex, tmp_path):
    from crms.fingerprint.leader_onnx import LeaderOnnx
    from crms.fingerprint.leader_weights import adapted_weights

    base = ex._alg("LEADER").weights
    rng = np.random.default_rng(0)
    blocks = ("enc1_0", "dec1_1", "head_0_ibc", "head_1_ibc")
    keep = {b: rng.permutation(base[f"{b}_conv_exp"][0].shape[3]) for b in blocks}
    perm = LeaderOnnx(
        ex._alg("LEADER").parameters, weights=adapted_weights(_prune_file(tmp_path, base, keep))
    )
    x = rng.integers(0, 256, (96, 128)).astype(np.float32)
    (n0, f0), (n1, f1) = ex._alg("LEADER").network(x), perm.network(x)
    assert np.abs(n0 - n1).max() < 1e-4 and np.abs(f0 - f1).max() < 1e-3
    ys, xs = np.array([10, 40, 90]), np.array([5, 64, 120])
    for a, b in zip(ex._alg("LEADER").dir_typ(f0, ys, xs), perm.dir_typ(f1, ys, xs), strict=True):
        assert np.abs(a - b).max() < 1e-4


def test_pruned_graph_computes_the_torch_ports_function(ex, tmp_path):
    """Fewer hidden units (a third of four blocks, one head read in numpy at minutiae): the graph's NMS map,
    direction and type against the PyTorch port on the same weights; and the network has changed."""
    torch = pytest.importorskip("torch", reason="the PyTorch port needs the 'fingerprint-torch' extra")
    from crms.fingerprint.leader_onnx import LeaderOnnx
    from crms.fingerprint.leader_torch import LeaderTorch
    from crms.fingerprint.leader_weights import adapted_weights

    base = ex._alg("LEADER").weights
    keep = {
        b: np.arange(0, base[f"{b}_conv_exp"][0].shape[3], 3)
        for b in ("enc1_0", "dec1_0", "head_0_ibc", "head_2_ibc")
    }
    weights = adapted_weights(_prune_file(tmp_path, base, keep))
    assert weights["dec1_0_conv_red"][0].shape == (1, 1, 142, 106)
    onnx_net, net = (
        LeaderOnnx(ex._alg("LEADER").parameters, weights=weights),
        LeaderTorch.from_weights(weights),
    )
    x = np.random.default_rng(2).integers(0, 256, (96, 128)).astype(np.float32)
    nms, feat = onnx_net.network(x)
    with torch.no_grad():
        pos, dvec, typ = (t[0].numpy() for t in net.maps(torch.from_numpy(x)[None, None]))
    assert np.abs(nms - net.forward(torch.from_numpy(x)[None, None]).numpy()[..., 3]).max() < 1e-4
    assert np.abs(nms - ex._alg("LEADER").network(x)[0]).max() > 1e-3
    ys, xs = np.array([12, 50, 80]), np.array([7, 60, 111])
    direction, ending = onnx_net.dir_typ(feat, ys, xs)
    want = np.arctan2(dvec[1, ys, xs], dvec[0, ys, xs])
    assert np.abs(np.remainder(direction - want + np.pi, 2 * np.pi) - np.pi).max() < 1e-3
    assert np.abs(ending - typ[0, ys, xs]).max() < 1e-4


def test_a_wrong_pruning_is_refused(ex, tmp_path):
    from crms.fingerprint.leader_weights import adapted_weights

    base = ex._alg("LEADER").weights
    ke, be = base["enc1_0_conv_exp"]
    kr = base["enc1_0_conv_red"][0]
    np.savez(tmp_path / "a.npz", **{"enc1_0_conv_exp|0": ke[..., :100], "enc1_0_conv_exp|1": be[:100]})
    with pytest.raises(
        ValueError, match="enc1_0 has 100 hidden units in its expansion and 256 in its reduction"
    ):
        adapted_weights(str(tmp_path / "a.npz"))
    more = np.concatenate([kr, kr[:, :, :4]], axis=2)
    np.savez(tmp_path / "b.npz", **{"enc1_0_conv_red|0": more})
    with pytest.raises(ValueError, match=r"enc1_0_conv_red\|0 has shape \(1, 1, 260, 64\), LEADER's"):
        adapted_weights(str(tmp_path / "b.npz"))
    np.savez(tmp_path / "c.npz", **{"enc1_0_conv_adj|0": base["enc1_0_conv_adj"][0][:, :, :10]})
    with pytest.raises(ValueError, match=r"enc1_0_conv_adj\|0 has shape \(1, 1, 10, 32\)"):
        adapted_weights(str(tmp_path / "c.npz"))


def test_a_configuration_with_a_weights_file(ex, tmp_path):
    base = ex._alg("LEADER").weights
    path = _prune_file(tmp_path, base, {"head_0_ibc": np.arange(200)})
    pipe = ex.pipeline(f"leader+{path}")
    assert pipe.name.endswith("LEADER weights from p.npz")
    assert [s.params.adapted for s in pipe.steps if s.name == "minutiae"] == [path]
    with pytest.raises(ValueError, match="unknown extractor configuration 'leader\\+nothing.npz'"):
        ex.pipeline("leader+nothing.npz")


def test_pruning_rule_refits_the_kept_units_by_least_squares(bench_script):
    """Each removal is the optimal-brain-surgeon step: the refit of the kept units is the least-squares
    solution on those units alone, and the unit that carries the target is kept."""
    obs_prune = bench_script("fp_leader_prune").obs_prune
    rng = np.random.default_rng(3)
    e = np.hstack([rng.normal(size=(2000, 12)), np.ones((2000, 1))])
    y = 2.0 * e[:, [4]] - e[:, [9]] + 0.5 + 0.01 * rng.normal(size=(2000, 1))
    kept, w = obs_prune(e.T @ e, e.T @ y, np.eye(1), keep=2)
    assert sorted(kept.tolist()) == [4, 9]
    cols = [*kept.tolist(), 12]
    direct = np.linalg.lstsq(e[:, cols], y, rcond=None)[0]
    assert np.allclose(w, direct, atol=1e-4)
    coef = dict(zip(kept.tolist(), w[:-1, 0], strict=True))
    assert abs(coef[4] - 2.0) < 0.01 and abs(coef[9] + 1.0) < 0.01 and abs(w[-1, 0] - 0.5) < 0.01
