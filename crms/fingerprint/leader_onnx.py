"""LEADER (pyfing's end-to-end minutia network) as an ONNX graph built in memory from pyfing's weights.

Nothing is exported, written or downloaded: at first use the graph is assembled node by node from the
weights pyfing ships in its wheel (``LEADER.weights.h5``, read with h5py by
:mod:`crms.fingerprint.leader_weights`; neither Keras nor PyTorch is needed), so the result is
deterministic and needs no file beside the package. ONNX Runtime (CPU, one thread) then runs it.

The graph computes the same function as ``pyfing.minutiae_end_to_end.Leader._build_model`` (and
:mod:`crms.fingerprint.leader_torch`), rearranged so that a CPU does less work; each rewrite is exact in
real arithmetic (float rounding differs by ~1e-6, see tests/biometrics/test_leader_onnx.py):

- layout NCHW; every 1x1 convolution is an ONNX ``Conv`` (one GEMM with the bias fused);
- LayerNormalization over channels is ONNX's fused ``LayerNormalization`` (opset 17) on a channel-last
  view, GELU applied there too: ONNX Runtime turns the transposes into the reorders out of and back into
  its blocked layout that the element-wise chain needed anyway (the network 6-11 % and an extraction
  3-7 % less CPU than with the decomposed form, docs/BENCHMARKS.md); its scale and shift are folded into
  the next 1x1 convolution where there is one (inverse bottleneck, head). Only the inverse-bottleneck
  blocks whose channels are padded keep the decomposed form (mean and variance as 1x1 convolutions over
  the real channels);
- the stem's plain 5x5 and dilated 5x5 convolutions of one block are one 9x9 convolution (same taps);
- inverse-bottleneck blocks whose output has fewer channels than their input fold the reduction into
  the adjustment convolution (``adj(x + red(e)) = adj(x) + (adj·red)(e)``), which removes most of the
  reduction's multiply-adds; a head's adjustment and first convolution are folded the same way;
- a head's 1x1 layers run before its nearest-neighbour upsampling (they commute), at a quarter of the
  pixels; the position head's 5x5 output convolution of the upsampled map is a 3x3 convolution at half
  resolution with one kernel per output phase, then ``DepthToSpace`` (the same sums, no upsampled copy);
- direction and type are only needed where a minutia is found: the graph computes only the position
  head (and its NMS map) and also outputs the decoder features; :meth:`LeaderOnnx.run` evaluates the
  direction and type heads (numpy, :func:`head_at`) at the few hundred pixels the minutiae read.

``LeaderOnnx.run`` is a drop-in for ``pyfing.Leader.run`` at 500 ppi (same padding, same minutiae).

(``leader_weights`` checks that the arrays read from the file are those Keras loads, so the graph is the
one built from the Keras model before.)
"""

from __future__ import annotations

import math

import numpy as np

LN_EPS = 1e-3  # Keras LayerNormalization default
T = tuple  # (tensor name, positions of the real channels, channel count with padding)


def _c8(n: int) -> int:
    """Channel counts are padded with zero channels to a multiple of 8 (ONNX Runtime's blocked layout)."""
    return (n + 7) // 8 * 8


OPSET = 20  # Gelu is a standard operator from opset 20


class _Graph:
    def __init__(self) -> None:
        from onnx import helper

        self.h = helper
        self.nodes: list = []
        self.inits: list = []
        self.n = 0

    def const(self, a: np.ndarray, name: str = "c") -> str:
        from onnx import numpy_helper

        self.n += 1
        nm = f"{name}_{self.n}"
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(a, dtype=a.dtype), nm))
        return nm

    def op(self, op: str, inputs: list[str], name: str = "t", **attrs) -> str:
        self.n += 1
        out = f"{name}_{self.n}"
        self.nodes.append(self.h.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def conv(self, x: str, w: np.ndarray, b: np.ndarray | None, dil: int = 1, group: int = 1) -> str:
        k = w.shape[-1]
        p = dil * (k - 1) // 2
        ins = [x, self.const(w.astype(np.float32), "w")]
        if b is not None:
            ins.append(self.const(b.astype(np.float32), "b"))
        return self.op("Conv", ins, "conv", dilations=[dil, dil], group=group, pads=[p, p, p, p])

    def gelu(self, x: str) -> str:
        return self.op("Gelu", [x], "gelu")

    def layer_norm(
        self, x: str, c: int, gam: np.ndarray | None = None, bet: np.ndarray | None = None, gelu: bool = False
    ) -> str:
        """LayerNormalization over the c channels of x (NCHW, no padding channels), then an optional GELU.

        One fused ``LayerNormalization`` on a channel-last view: ONNX Runtime turns the first transpose into
        the reorder out of its blocked layout (which it needs anyway) and the second, when a convolution or
        pooling reads it, into the reorder back in; GELU runs on the channel-last tensor in between."""
        t = self.op("Transpose", [x], "nhwc", perm=[0, 2, 3, 1])
        g = np.ones(c) if gam is None else gam
        b = np.zeros(c) if bet is None else bet
        ins = [t, self.const(g.astype(np.float32), "g"), self.const(b.astype(np.float32), "b")]
        t = self.op("LayerNormalization", ins, "ln", axis=-1, epsilon=LN_EPS)
        if gelu:
            t = self.gelu(t)
        return self.op("Transpose", [t], "nchw", perm=[0, 3, 1, 2])

    def ln_scale(self, xc: str, ones: np.ndarray) -> str:
        """xc has zero mean over its real channels: divide by their standard deviation (``ones``: the
        mean's 1x1 kernel, 1/C on the real channels, 0 on padding channels)."""
        var = self.conv(self.op("Mul", [xc, xc], "sq"), ones, None)
        r = self.op(
            "Pow", [self.op("Add", [var, self.const(np.float32(LN_EPS))]), self.const(np.float32(-0.5))]
        )
        return self.op("Mul", [xc, r], "ln")


def _conv_w(k: np.ndarray) -> np.ndarray:
    """Keras Conv2D kernel (kh, kw, in, out) -> ONNX (out, in, kh, kw)."""
    return np.ascontiguousarray(k.transpose(3, 2, 0, 1))


def _dw_w(k: np.ndarray) -> np.ndarray:
    """Keras depthwise kernel (kh, kw, in, 1) -> ONNX grouped (in, 1, kh, kw)."""
    return np.ascontiguousarray(k.transpose(2, 3, 0, 1))


def build_model(weights: dict[str, list[np.ndarray]]):
    """The ONNX model (``onnx.ModelProto``) of LEADER from the Keras layers' weights (name -> arrays).

    Input ``img``: float32 (1, 1, H, W), H and W multiples of 32. Outputs: ``nms`` (1, 1, H, W), the
    minutia score after non-maximum suppression, and ``feat`` (1, C', H/2, W/2), the refinement
    decoder's output that the three heads read (zero channels padded in; returned second: the positions
    of the real channels). The direction and type heads are evaluated at minutiae only (:func:`head_at`).
    """
    from onnx import TensorProto

    w = {k: [a.astype(np.float64) for a in v] for k, v in weights.items()}  # fold in double precision
    g = _Graph()

    def stem(name: str, x: str, maxpool: bool) -> str:
        k, b = w[f"{name}_conv"]  # (5, 5, 1, f)
        kd, bd = w[f"{name}_dilated_conv"]
        f = k.shape[-1]
        k9 = np.zeros((9, 9, 1, 2 * f))
        k9[2:7, 2:7, :, :f] = k
        k9[0:9:2, 0:9:2, :, f:] = kd
        bb = np.concatenate([b, bd])
        gam, bet = w[f"{name}_ln"]
        y = g.layer_norm(g.conv(x, _conv_w(k9), bb), 2 * f, gam, bet, gelu=True)
        return g.op("MaxPool" if maxpool else "AveragePool", [y], "pool", kernel_shape=[2, 2], strides=[2, 2])

    def sep(name: str, x: str) -> str:
        dw, pw, b = w[f"{name}_conv"]  # (5,5,in,1), (1,1,in,out), (out,)
        y = g.conv(x, _dw_w(dw), None, group=dw.shape[2])
        gam, bet = w[f"{name}_ln"]
        return g.layer_norm(g.conv(y, _conv_w(pw), b), pw.shape[-1], gam, bet, gelu=True)

    def pad_w(k: np.ndarray, oi: np.ndarray, ocp: int, ii: np.ndarray, icp: int) -> np.ndarray:
        """(in, out) matrix -> ONNX 1x1 kernel (ocp, icp) with the real channels at oi / ii."""
        out = np.zeros((ocp, icp))
        out[np.ix_(oi, ii)] = k.T
        return out[:, :, None, None]

    def pad_b(b: np.ndarray, oi: np.ndarray, ocp: int) -> np.ndarray:
        out = np.zeros(ocp)
        out[oi] = b
        return out

    def ibc_expand(name: str, x: T) -> T:
        """depthwise -> LN -> 1x1 expansion (GELU), LN's scale and shift folded into the expansion."""
        (dw,) = w[f"{name}_depthwise_conv"]
        xn, ii, icp = x
        c = dw.shape[2]
        dwp = np.zeros((icp, 1) + dw.shape[:2])
        dwp[ii] = _dw_w(dw)
        y = g.conv(xn, dwp, None, group=icp)
        if icp == c:
            y = g.layer_norm(y, c)
        else:  # padding channels: mean / variance over the real channels only, as 1x1 convolutions
            ones = np.zeros((1, icp, 1, 1))
            ones[0, ii] = 1.0 / c
            y = g.ln_scale(g.op("Sub", [y, g.conv(y, ones, None)], "xc"), ones)
        gam, bet = w[f"{name}_ln"]
        ke, be = w[f"{name}_conv_exp"]  # (1,1,c,hidden)
        ke2 = ke[0, 0] * gam[:, None]  # (c, hidden)
        be2 = be + bet @ ke[0, 0]
        e = np.arange(ke.shape[-1])  # 4c hidden units, fewer in a pruned block
        ecp = _c8(e.size)
        return g.gelu(g.conv(y, pad_w(ke2, e, ecp, ii, icp), pad_b(be2, e, ecp))), e, ecp

    def ibc(name: str, x: T, post: tuple[np.ndarray, np.ndarray] | None = None, pad: bool = True) -> T:
        """Inverse bottleneck; ``post`` = a further 1x1 linear layer (in, out) + bias to fold in."""
        en, ei, ecp = ibc_expand(name, x)
        xn, ii, icp = x
        kr, br = w[f"{name}_conv_red"]  # (1,1,hidden,c)
        ka, ba = w[f"{name}_conv_adj"]  # (1,1,c,o)
        kr, ka = kr[0, 0], ka[0, 0]
        c = kr.shape[1]
        if post is not None:
            ka, ba = ka @ post[0], ba @ post[0] + post[1]
        o = ka.shape[1]
        oi, ocp = np.arange(o), (_c8(o) if pad else o)
        if o < c:  # adj(x + red(e)) = adj(x) + (red·adj)(e): fewer multiply-adds
            a = g.conv(en, pad_w(kr @ ka, oi, ocp, ei, ecp), pad_b(br @ ka + ba, oi, ocp))
            return g.op("Add", [a, g.conv(xn, pad_w(ka, oi, ocp, ii, icp), None)]), oi, ocp
        s = g.op("Add", [xn, g.conv(en, pad_w(kr, ii, icp, ei, ecp), pad_b(br, ii, icp))])
        return g.conv(s, pad_w(ka, oi, ocp, ii, icp), pad_b(ba, oi, ocp)), oi, ocp

    def down(x: str, c: int) -> str:
        h = c // 2
        a = g.op(
            "Slice",
            [
                x,
                g.const(np.array([0], np.int64)),
                g.const(np.array([h], np.int64)),
                g.const(np.array([1], np.int64)),
            ],
        )
        b = g.op(
            "Slice",
            [
                x,
                g.const(np.array([h], np.int64)),
                g.const(np.array([c], np.int64)),
                g.const(np.array([1], np.int64)),
            ],
        )
        a = g.op("MaxPool", [a], "mp", kernel_shape=[2, 2], strides=[2, 2])
        b = g.op("AveragePool", [b], "ap", kernel_shape=[2, 2], strides=[2, 2])
        return g.op("Concat", [a, b], "cat", axis=1)

    def up(x: str, skip: str | None = None) -> str:
        scales = g.const(np.array([1, 1, 2, 2], np.float32))
        y = g.op(
            "Resize",
            [x, "", scales],
            "up",
            mode="nearest",
            nearest_mode="floor",
            coordinate_transformation_mode="asymmetric",
        )
        return y if skip is None else g.op("Concat", [y, skip], "cat", axis=1)

    def up_t(x: T, skip: T) -> T:
        return up(x[0], skip[0]), np.concatenate([x[1], skip[1] + x[2]]), x[2] + skip[2]

    def head(k: int, x: T) -> str:
        """ibc -> (upsample) -> conv1 -> LN -> conv2 (GELU); at half resolution (upsampled by the caller)."""
        k1, b1 = w[f"head_{k}_conv1"]
        y = ibc(f"head_{k}_ibc", x, post=(k1[0, 0], b1), pad=False)[0]
        y = g.layer_norm(y, 4)
        gam, bet = w[f"head_{k}_ln"]
        k2, b2 = w[f"head_{k}_conv2"]
        k2 = k2[0, 0]
        return g.gelu(g.conv(y, (k2 * gam[:, None]).T[:, :, None, None], b2 + bet @ k2))

    inp = "img"
    x = stem("stem0", inp, True)
    x1 = stem("stem1", inp, False)
    skips = []
    for i in range(4):
        x = sep(f"enc0_{i}", x)
        c = w[f"enc0_{i}_conv"][1].shape[-1]
        skips.append(x)
        x = down(x, c)
    for i in reversed(range(4)):
        x = sep(f"dec0_{i}", x)
        x = up(x, skips[i])
    d = []
    for r in (1, 3, 6):
        kd, bd = w[f"attention_conv_d{r}"]
        d.append(g.gelu(g.conv(x, _conv_w(kd), bd, dil=r)))
    ks, bs = w["attention_s"]
    xf = g.op("Sigmoid", [g.conv(g.op("Concat", d, "cat", axis=1), _conv_w(ks), bs)])
    x = g.op("Concat", [g.op("Mul", [x, xf]), x1], "cat", axis=1)
    t: T = (x, np.arange(64), 64)
    tskips: list[T] = []
    for i in range(4):
        t = ibc(f"enc1_{i}", t)
        tskips.append(t)
        t = (down(t[0], t[2]), t[1], t[2])
    for i in reversed(range(4)):
        t = ibc(f"dec1_{i}", t)
        t = up_t(t, tskips[i])
    x = t
    # The position head's 5x5 convolution of the 2x nearest-upsampled map, as a 3x3 convolution of the
    # half-resolution map with one kernel per output phase (p, q) and DepthToSpace: full-resolution
    # pixel (2i + p, 2j + q) reads half-resolution rows i + (p + dy) // 2 and columns j + (q + dx) // 2,
    # and zero padding maps to zero padding. A quarter of the pixels, no upsampled copy, and 4 output
    # channels instead of 1 padded to a whole block.
    kp, bp = w["head_conv_pos"]  # (5, 5, 4, 1), (1,)
    k3 = np.zeros((4, kp.shape[2], 3, 3))
    for p, q, dy, dx in np.ndindex(2, 2, 5, 5):
        k3[p * 2 + q, :, (p + dy - 2) // 2 + 1, (q + dx - 2) // 2 + 1] += kp[dy, dx, :, 0]
    pos4 = g.op("Sigmoid", [g.conv(head(0, x), k3, np.repeat(bp, 4))])
    pos = g.op("DepthToSpace", [pos4], "d2s", blocksize=2, mode="DCR")
    (kg,) = w["nms_Gaussian_blur"]
    gb = g.conv(pos, _conv_w(kg), None)
    mp = g.op("MaxPool", [gb], "mp", kernel_shape=[7, 7], strides=[1, 1], pads=[3, 3, 3, 3])
    keep = g.op("Cast", [g.op("Equal", [gb, mp])], "keep", to=TensorProto.FLOAT)
    g.nodes.append(g.h.make_node("Mul", [gb, keep], ["nms"], name="nms"))
    for node in g.nodes:  # the decoder output is the graph output ``feat`` itself (no copy)
        node.input[:] = ["feat" if i == x[0] else i for i in node.input]
        node.output[:] = ["feat" if o == x[0] else o for o in node.output]
    f = TensorProto.FLOAT
    graph = g.h.make_graph(
        g.nodes,
        "leader",
        [g.h.make_tensor_value_info("img", f, [1, 1, "H", "W"])],
        [
            g.h.make_tensor_value_info("nms", f, [1, 1, "H", "W"]),
            g.h.make_tensor_value_info("feat", f, [1, x[2], "H2", "W2"]),
        ],
        g.inits,
    )
    return g.h.make_model(graph, opset_imports=[g.h.make_opsetid("", OPSET)], ir_version=10), x[1]


def _gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x * np.float32(1 / math.sqrt(2))))


def _ln(x: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    mu = x.mean(axis=1, keepdims=True)
    xc = x - mu
    return xc / np.sqrt((xc * xc).mean(axis=1, keepdims=True) + np.float32(LN_EPS)) * g + b


def neighbourhoods(
    feat: np.ndarray, idx: np.ndarray, py: np.ndarray, px: np.ndarray, r: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """The (2r+1)^2 neighbourhoods (n, 2r+1, 2r+1, C; zero outside) and centres (n, C) of the real
    channels ``idx`` of ``feat`` (C', H/2, W/2) at half-resolution pixels (py, px)."""
    _, h2, w2 = feat.shape
    y0, y1 = max(0, int(py.min()) - r), min(h2, int(py.max()) + r + 1)
    x0, x1 = max(0, int(px.min()) - r), min(w2, int(px.max()) + r + 1)
    hwc = np.zeros((y1 - y0 + 2 * r, x1 - x0 + 2 * r, idx.size), np.float32)  # zero border = padding
    hwc[r:-r, r:-r] = feat[idx, y0:y1, x0:x1].transpose(1, 2, 0)
    d = np.arange(2 * r + 1)
    yy, xx = (py - y0)[:, None] + d, (px - x0)[:, None] + d  # (n, 2r+1) rows/columns of hwc
    patches = hwc[yy[:, :, None], xx[:, None, :]]
    return patches, patches[:, r, r]


def head_at(patches: np.ndarray, centre: np.ndarray, w: dict[str, list[np.ndarray]], k: int) -> np.ndarray:
    """Head ``k``'s 4 features (before its nearest upsampling) at the pixels of :func:`neighbourhoods`.

    The Keras layers' own formulation (depthwise 7x7 with zero padding, LayerNormalization, expansion +
    GELU, reduction, residual, adjustment, conv1, LayerNormalization, conv2 + GELU), for a few hundred
    pixels. Returns (n, 4).
    """
    name = f"head_{k}_ibc"
    (dw,) = w[f"{name}_depthwise_conv"]  # (7, 7, C, 1)
    n = patches.shape[0]
    z = (patches * dw[None, :, :, :, 0]).reshape(n, -1, dw.shape[2]).sum(axis=1)
    y = _ln(z, *w[f"{name}_ln"])
    ke, be = w[f"{name}_conv_exp"]
    kr, br = w[f"{name}_conv_red"]
    ka, ba = w[f"{name}_conv_adj"]
    s = centre + (_gelu(y @ ke[0, 0] + be) @ kr[0, 0] + br)
    a = s @ ka[0, 0] + ba
    k1, b1 = w[f"head_{k}_conv1"]
    k2, b2 = w[f"head_{k}_conv2"]
    return _gelu(_ln(a @ k1[0, 0] + b1, *w[f"head_{k}_ln"]) @ k2[0, 0] + b2)


def point_outputs(
    hmap: np.ndarray, kernel: np.ndarray, bias: np.ndarray, ys: np.ndarray, xs: np.ndarray
) -> np.ndarray:
    """A 5x5 'same' convolution of the 2x nearest-upsampled ``hmap`` (C, H/2, W/2), only at (ys, xs).

    kernel: Keras (5, 5, C, O). Returns (len(ys), O). Zero padding as in the Keras layer.
    """
    c, h2, w2 = hmap.shape
    k = kernel.shape[0]
    r = k // 2
    dy = np.arange(-r, r + 1)
    yy = ys[:, None] + dy[None]  # (n, 5) full-resolution rows
    xx = xs[:, None] + dy[None]
    vy = (yy >= 0) & (yy < 2 * h2)
    vx = (xx >= 0) & (xx < 2 * w2)
    py = np.clip(yy, 0, 2 * h2 - 1) // 2
    px = np.clip(xx, 0, 2 * w2 - 1) // 2
    patch = hmap[:, py[:, :, None], px[:, None, :]]  # (C, n, 5, 5)
    patch = patch * (vy[:, :, None] & vx[:, None, :])[None]
    return np.einsum("cnij,ijco->no", patch, kernel, optimize=True) + bias


def session_options(threads: int = 1):
    """ONNX Runtime's session options for LEADER's graph: ``threads`` threads in an operator, operators in
    sequence, every graph optimisation."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, threads)
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # All optimisations, including the blocked (NCHWc) layout for convolutions: the depthwise 7x7
    # convolutions run ~5x faster in it (hence the channel padding to multiples of 8).
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    return so


class LeaderOnnx:
    """Drop-in for ``pyfing.Leader`` at 500 ppi: same padding, same minutiae, ONNX Runtime network."""

    def __init__(
        self, parameters, threads: int = 1, weights: dict[str, list[np.ndarray]] | None = None
    ) -> None:
        """``parameters``: a ``pyfing.LeaderParameters``; ``weights``: layer name -> arrays, by default
        those of pyfing's weights file (:func:`crms.fingerprint.leader_weights.load_weights`)."""
        import onnxruntime as ort

        from crms.fingerprint.leader_weights import load_weights

        self.parameters = parameters
        if weights is None:
            weights = load_weights()
        weights = {k: [np.asarray(a, np.float32) for a in v] for k, v in weights.items()}
        self.kdir, self.bdir = weights["head_conv_dir"]
        self.ktyp, self.btyp = weights["head_conv_typ"]
        self.weights = weights
        model, self.feat_idx = build_model(weights)
        self.session = ort.InferenceSession(
            model.SerializeToString(), session_options(threads), providers=["CPUExecutionProvider"]
        )

    def network(self, padded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The NMS map (H, W) and the decoder features (C', H/2, W/2) of a padded image."""
        x = padded.astype(np.float32)[None, None]
        nms, feat = self.session.run(None, {"img": x})
        return nms[0, 0], feat[0]

    def dir_typ(self, feat: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Direction (radians) and ending probability at full-resolution pixels (ys, xs) of the input."""
        _, h2, w2 = feat.shape
        need = np.zeros((h2, w2), bool)
        for d in (-2, 0, 2):  # the 5x5 output convolutions read half-res rows (y-2)//2 .. (y+2)//2
            for e in (-2, 0, 2):
                need[np.clip((ys + d) // 2, 0, h2 - 1), np.clip((xs + e) // 2, 0, w2 - 1)] = True
        py, px = np.nonzero(need)
        patches, centre = neighbourhoods(feat, self.feat_idx, py, px)
        out = []
        for k, kern, bias in ((1, self.kdir, self.bdir), (2, self.ktyp, self.btyp)):
            hmap = np.zeros((4, h2, w2), np.float32)
            hmap[:, py, px] = head_at(patches, centre, self.weights, k).T
            out.append(point_outputs(hmap, kern, bias, ys, xs))
        dv, tv = out
        return np.arctan2(dv[:, 1], dv[:, 0]), 1.0 / (1.0 + np.exp(-tv[:, 0]))

    def run(
        self,
        image: np.ndarray,
        dpi: int = 500,
        fill: int | None = None,
        box: tuple[int, int, int, int] | None = None,
        margin: int = 64,
    ) -> list:
        """Minutiae of a 500 ppi image, padded (with ``fill``, default its top-left pixel as pyfing
        does) to a multiple of 32 on each side.

        ``box`` (y0, y1, x0, x1), the foreground's bounding box: the network reads only the window of
        the padded image that covers the box plus ``margin`` pixels, its edges on the padded image's
        grid of 32 (see :func:`network_window`), and only minutiae inside that window are returned."""
        import cv2 as cv

        from crms.fingerprint._pyfing import import_pyfing

        minutia = import_pyfing().Minutia
        p = self.parameters
        if dpi != p.dnn_input_dpi:
            raise ValueError("LeaderOnnx expects images already normalised to 500 ppi")
        h, w = image.shape
        (y0, y1, top, bottom), (x0, x1, left, right) = network_window(
            image.shape, p.dnn_input_size_multiple, box, margin
        )
        value = int(image[0, 0]) if fill is None else int(fill)
        ir = cv.copyMakeBorder(image[y0:y1, x0:x1], top, bottom, left, right, cv.BORDER_CONSTANT, value=value)
        nms, feat = self.network(ir)
        nms = nms[top : top + y1 - y0, left : left + x1 - x0]
        iy, ix = np.nonzero(nms >= p.minutia_quality_threshold)  # row-major, as np.argwhere
        if iy.size == 0:
            return []
        direction, typ = self.dir_typ(feat, iy + top, ix + left)
        qq = nms[iy, ix]
        return [
            minutia(int(x), int(y), float(d), "E" if t >= p.type_threshold else "B", float(q))
            for x, y, d, t, q in zip(ix + x0, iy + y0, direction, typ, qq, strict=True)
        ]


def network_window(
    shape: tuple[int, int], multiple: int = 32, box: tuple[int, int, int, int] | None = None, margin: int = 64
) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """Which part of an image the network reads: per axis (rows, then columns) the image's range
    [a, b) and the padding before and after it.

    The image is padded as pyfing does (to a multiple of ``multiple``, centred). Without ``box`` the
    network reads all of it. With ``box`` (y0, y1, x0, x1) it reads the padded image's window that
    covers the box plus ``margin``, widened outwards to the padded image's grid of ``multiple``: the
    network's pooling cells then fall where they fall for the whole image, so inside the window its
    output differs from the whole image's only through what it no longer sees beyond the window."""
    out = []
    ranges = ((0, shape[0]), (0, shape[1])) if box is None else ((box[0], box[1]), (box[2], box[3]))
    for size, (lo, hi) in zip(shape, ranges, strict=True):
        padded = -(-size // multiple) * multiple
        off = (padded - size) // 2
        a, b = 0, padded
        if box is not None:
            a = max(0, (lo + off - margin) // multiple * multiple)
            b = min(padded, -(-(hi + off + margin) // multiple) * multiple)
        r0, r1 = min(size, max(0, a - off)), max(0, min(size, b - off))
        out.append((r0, r1, r0 + off - a, b - off - r1))
    return out[0], out[1]
