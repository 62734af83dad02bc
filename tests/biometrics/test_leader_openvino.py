"""bench/fp_leader_openvino.py: the graph cut before its NMS, with the NMS done after it in float32, gives
the whole graph's NMS map (what lets OpenVINO run the network in bf16 without the plateaus)."""

from __future__ import annotations

import numpy as np


def test_nms_after_the_cut_graph_is_the_graphs_own(ex, bench_script):
    from crms.fingerprint.params import LeaderParams

    b = bench_script("fp_leader_openvino")
    from fp_leader_prune import pad32, synthetic  # bench/ is on sys.path once the script is loaded

    model = b.float_model()
    cut, kernel = b.cut_before_nms(model)
    assert kernel.shape == (5, 5) and kernel.dtype == np.float32
    whole, head = b.session(model.SerializeToString()), b.session(cut)
    x = pad32(synthetic(1, seed=9)[0]).astype(np.float32)[None, None]
    nms, feat = whole.run(None, {"img": x})
    pos, feat_cut = head.run(None, {"img": x})
    assert pos.shape == nms.shape and not np.array_equal(pos, nms)  # really cut before the NMS
    np.testing.assert_array_equal(feat_cut, feat)
    after = b.nms_after(pos[0, 0], kernel)
    np.testing.assert_allclose(after, nms[0, 0], atol=1e-5)
    thr = LeaderParams().minutia_quality_threshold
    peaks = np.argwhere(nms[0, 0] >= thr)
    assert len(peaks) >= 10
    np.testing.assert_array_equal(np.argwhere(after >= thr), peaks)


def test_nms_after_keeps_only_the_maximum_of_each_7x7_neighbourhood(bench_script):
    b = bench_script("fp_leader_openvino")
    pos = np.zeros((32, 32), np.float32)
    pos[10, 10], pos[12, 12], pos[25, 5] = 1.0, 0.9, 0.5  # the second is within 3 px of the first
    kernel = np.zeros((5, 5), np.float32)
    kernel[2, 2] = 1.0  # identity blur: the map itself
    out = b.nms_after(pos, kernel)
    assert set(map(tuple, np.argwhere(out > 0))) == {(10, 10), (25, 5)}
    assert out[10, 10] == 1.0 and out[25, 5] == 0.5
