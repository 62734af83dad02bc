"""bench/fp_leader_int8.py: which of LEADER's convolutions it quantises, and that its int8 graph runs and
finds the float graph's minutiae."""

from __future__ import annotations

import numpy as np


def _convs(model) -> dict[str, tuple[tuple[int, ...], int]]:
    """Conv node name -> (weight shape, group)."""
    shapes = {t.name: tuple(t.dims) for t in model.graph.initializer}
    return {
        n.name: (shapes[n.input[1]], next((a.i for a in n.attribute if a.name == "group"), 1))
        for n in model.graph.node
        if n.op_type == "Conv"
    }


def test_only_dense_convolutions_with_enough_channels_are_chosen(ex, bench_script):
    b = bench_script("fp_leader_int8")
    model = b.float_model()
    convs = _convs(model)
    one = set(b.chosen_convs(model, "1x1"))
    dense = set(b.chosen_convs(model, "dense"))
    wide = {n for n, (s, g) in convs.items() if g == 1 and s[0] >= 8 and s[1] >= 8}
    wide_1x1 = {n for n in wide if convs[n][0][2:] == (1, 1)}
    assert one == wide_1x1 and len(one) > 20
    assert one < dense and dense == wide
    # the stems (one input channel), depthwise convolutions and the mean/variance kernels stay float
    assert not any(convs[n][0][1] == 1 or convs[n][0][0] == 1 for n in dense)


def test_int8_graph_runs_and_keeps_most_minutiae(ex, tmp_path, bench_script):
    from crms.fingerprint.params import LeaderParams

    b = bench_script("fp_leader_int8")
    from fp_leader_prune import pad32, synthetic  # bench/ is on sys.path once the script is loaded

    prints = [pad32(x) for x in synthetic(3, seed=5)]
    out = tmp_path / "q.onnx"
    assert b.quantize(str(out), prints[:2]) > 20
    q, f = b.session(out.read_bytes()), b.session(b.float_model().SerializeToString())
    x = prints[2].astype(np.float32)[None, None]
    thr = LeaderParams().minutia_quality_threshold
    ref = np.argwhere(f.run(None, {"img": x})[0][0, 0] >= thr)
    got = np.argwhere(q.run(None, {"img": x})[0][0, 0] >= thr)
    assert len(ref) >= 10
    d = np.hypot(*(ref[:, None, :] - got[None, :, :]).transpose(2, 0, 1))
    assert (d.min(axis=1) <= 2).mean() >= 0.9


def test_a_configuration_runs_the_graph_it_is_given(ex, tmp_path, bench_script):
    """fp_leader_profile.with_graph: CONFIG@FILE extracts as CONFIG with its network replaced by the graph
    in FILE; the same graph gives the same template, another graph (the 0.75 adaptation's weights read
    at full scale) other minutiae."""
    from crms import fingerprint as fp

    b = bench_script("fp_leader_int8")
    import fp_leader_profile as prof

    png = tmp_path / "print.png"
    png.write_bytes(fp.png_bytes(fp.render_impression(fp.generate_master(seed=7, finger_index=1), 0)))
    img = fp.load_image(png)
    same, other = tmp_path / "same.onnx", tmp_path / "other.onnx"
    same.write_bytes(b.float_model("leader").SerializeToString())
    other.write_bytes(b.float_model("leader_a75").SerializeToString())
    assert prof.leader_params("leader_a75").network_scale == 0.75
    plain = ex.extract(img, "leader").template.minutiae
    assert len(plain) >= 15
    names = [prof.with_graph("leader", str(same)), prof.with_graph("leader", str(other))]
    try:
        assert names[0] == "leader@same.onnx"
        assert np.array_equal(ex.extract(img, names[0]).template.minutiae, plain)
        swapped = ex.extract(img, names[1]).template.minutiae
        assert swapped.shape != plain.shape or not np.array_equal(swapped, plain)
        # the graph is swapped only while the configuration runs
        assert np.array_equal(ex.extract(img, "leader").template.minutiae, plain)
    finally:
        for n in names:
            ex.CONFIGS.pop(n, None)
