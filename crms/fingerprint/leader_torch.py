"""LEADER (pyfing's end-to-end minutia network) re-expressed as plain PyTorch in NCHW layout.

Keras 3 on the torch backend runs the model in NHWC and transposes around every convolution; on a CPU
half of LEADER's time went to those copies. This module builds the same network (same layer graph as
``pyfing.minutiae_end_to_end.Leader._build_model``) with ``torch.nn.functional`` in NCHW, taking the
weights from the Keras model that pyfing loads, so results match the Keras model to float precision
(checked by tests/biometrics/test_extract.py). Dropout layers are identities at inference.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

LN_EPS = 1e-3  # Keras LayerNormalization default


def _layer_kind(name: str, ws: list) -> str | None:
    """Which Keras layer a name's arrays (numpy or torch, Keras layout) belong to: ``depthwise``,
    ``separable``, ``ln``, ``conv`` or None; one rule for :meth:`LeaderTorch._prep` and its inverse."""
    if name.endswith("_depthwise_conv"):
        return "depthwise"
    if name.endswith("_conv") and len(ws) == 3 and ws[1].shape[0] == 1:
        return "separable"
    if name.endswith("_ln"):
        return "ln"
    if len(ws) in (1, 2) and ws[0].ndim == 4:
        return "conv"
    return None


class LeaderTorch:
    def __init__(self, keras_model) -> None:
        self._load({layer.name: ws for layer in keras_model.layers if (ws := layer.get_weights())})

    @classmethod
    def from_weights(cls, weights: dict[str, list[np.ndarray]]) -> LeaderTorch:
        """The network from the Keras layers' arrays (name -> list, as
        :func:`crms.fingerprint.leader_weights.load_weights` reads them), without Keras."""
        self = cls.__new__(cls)
        self._load(weights)
        return self

    def _load(self, weights: dict[str, list[np.ndarray]]) -> None:
        self.w: dict[str, list[torch.Tensor]] = {
            name: [torch.from_numpy(np.ascontiguousarray(np.asarray(a, np.float32))) for a in ws]
            for name, ws in weights.items()
        }
        self._prep()

    def keras_weights(self) -> dict[str, list[np.ndarray]]:
        """The weights back in Keras layout (name -> arrays, as ``load_weights`` gives them): the inverse
        of :meth:`_prep`'s layouts, taking what training changed in ``self.c``."""
        out = {k: [t.detach().numpy().copy() for t in v] for k, v in self.w.items()}
        for name, ts in self.c.items():
            ws, kind = out[name], _layer_kind(name, out[name])
            if kind == "depthwise":
                ws[0] = ts[0].detach().permute(2, 3, 0, 1).numpy()
            elif kind == "separable":
                ws[:] = [
                    ts[0].detach().permute(2, 3, 0, 1).numpy(),
                    ts[1].detach().permute(2, 3, 1, 0).numpy(),
                    ts[2].detach().numpy(),
                ]
            elif kind == "ln":
                ws[:] = [ts[0].detach().reshape(-1).numpy(), ts[1].detach().reshape(-1).numpy()]
            elif kind == "conv":
                ws[0] = ts[0].detach().permute(2, 3, 1, 0).numpy()
                if len(ws) == 2:
                    ws[1] = ts[1].detach().numpy()
        return {k: [np.ascontiguousarray(x) for x in v] for k, v in out.items()}

    # ----------------------------------------------------------------- weight layout conversion
    def _prep(self) -> None:
        conv: dict[str, tuple] = {}
        for name, ws in self.w.items():
            kind = _layer_kind(name, ws)
            if kind == "depthwise":  # DepthwiseConv2D: (kh, kw, in, 1), no bias
                conv[name] = (ws[0].permute(2, 3, 0, 1).contiguous(), None)
            elif kind == "separable":  # SeparableConv2D
                dw = ws[0].permute(2, 3, 0, 1).contiguous()
                pw = ws[1].permute(3, 2, 0, 1).contiguous()
                conv[name] = (dw, pw, ws[2])
            elif kind == "ln":
                conv[name] = (ws[0].view(1, -1, 1, 1), ws[1].view(1, -1, 1, 1))
            elif kind == "conv":  # Conv2D
                conv[name] = (ws[0].permute(3, 2, 0, 1).contiguous(), ws[1] if len(ws) == 2 else None)
        self.c = conv

    # ----------------------------------------------------------------- building blocks
    def conv(self, name: str, x: torch.Tensor, dilation: int = 1, act: str | None = None) -> torch.Tensor:
        w, b = self.c[name]
        k = w.shape[-1]
        if k == 1:  # a 1x1 convolution is one matrix product (no im2col copy)
            n, c, hh, ww = x.shape
            y = torch.matmul(w.view(w.shape[0], c), x.reshape(n, c, hh * ww))
            if b is not None:
                y = y + b.view(1, -1, 1)
            y = y.view(n, -1, hh, ww)
        else:
            pad = dilation * (k - 1) // 2
            y = F.conv2d(x, w, b, padding=pad, dilation=dilation)
        if act == "gelu":
            y = F.gelu(y)
        elif act == "sigmoid":
            y = torch.sigmoid(y)
        return y

    def ln(self, name: str, x: torch.Tensor) -> torch.Tensor:
        g, b = self.c[name]
        mean = x.mean(dim=1, keepdim=True)
        var = (x - mean).pow(2).mean(dim=1, keepdim=True)
        return (x - mean) * torch.rsqrt(var + LN_EPS) * g + b

    def stem(self, k: int, maxpool: bool, dil: int, name: str, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.conv(f"{name}_conv", x), self.conv(f"{name}_dilated_conv", x, dil)], 1)
        x = F.gelu(self.ln(f"{name}_ln", x))
        return F.max_pool2d(x, 2) if maxpool else F.avg_pool2d(x, 2)

    def sep(self, name: str, x: torch.Tensor) -> torch.Tensor:
        dw, pw, b = self.c[f"{name}_conv"]
        k = dw.shape[-1]
        x = F.conv2d(x, dw, None, padding=(k - 1) // 2, groups=dw.shape[0])
        n, c, hh, ww = x.shape
        x = (torch.matmul(pw.view(pw.shape[0], c), x.reshape(n, c, hh * ww)) + b.view(1, -1, 1)).view(
            n, -1, hh, ww
        )
        return F.gelu(self.ln(f"{name}_ln", x))

    def ibc(self, name: str, x: torch.Tensor) -> torch.Tensor:
        dw, _ = self.c[f"{name}_depthwise_conv"]
        k = dw.shape[-1]
        y = F.conv2d(x, dw, None, padding=(k - 1) // 2, groups=dw.shape[0])
        y = self.ln(f"{name}_ln", y)
        y = self.conv(f"{name}_conv_exp", y, act="gelu")
        y = self.conv(f"{name}_conv_red", y)
        return self.conv(f"{name}_conv_adj", x + y)

    @staticmethod
    def down(x: torch.Tensor) -> torch.Tensor:
        c1 = x.shape[1] // 2
        return torch.cat([F.max_pool2d(x[:, :c1], 2), F.avg_pool2d(x[:, c1:], 2)], 1)

    @staticmethod
    def up(x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return x if skip is None else torch.cat([x, skip], 1)

    def head(self, name: str, x: torch.Tensor) -> torch.Tensor:
        x = self.ibc(f"{name}_ibc", x)
        x = self.up(x)
        x = self.conv(f"{name}_conv1", x)
        x = self.ln(f"{name}_ln", x)
        return self.conv(f"{name}_conv2", x, act="gelu")

    # ----------------------------------------------------------------- the network
    def maps(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """img: float32 (N, 1, H, W) with H, W multiples of 32. The heads' outputs before decoding, each
        (N, C, H, W): minutia probability (C = 1), direction vector (C = 2: cosine, sine), ending
        probability (C = 1). Differentiable (no ``no_grad``)."""
        inp = img
        x = self.stem(5, True, 2, "stem0", inp)
        x1 = self.stem(5, False, 2, "stem1", inp)
        skips = []
        for i in range(4):
            x = self.sep(f"enc0_{i}", x)
            skips.append(x)
            x = self.down(x)
        for i in reversed(range(4)):
            x = self.sep(f"dec0_{i}", x)
            x = self.up(x, skips[i])
        d = [self.conv(f"attention_conv_d{r}", x, r, act="gelu") for r in (1, 3, 6)]
        xf = self.conv("attention_s", torch.cat(d, 1), act="sigmoid")
        x = torch.cat([x * xf, x1], 1)
        skips = []
        for i in range(4):
            x = self.ibc(f"enc1_{i}", x)
            skips.append(x)
            x = self.down(x)
        for i in reversed(range(4)):
            x = self.ibc(f"dec1_{i}", x)
            x = self.up(x, skips[i])
        h = [self.head(f"head_{k}", x) for k in range(3)]
        pos = self.conv("head_conv_pos", h[0], act="sigmoid")
        dvec = self.conv("head_conv_dir", h[1])
        typ = self.conv("head_conv_typ", h[2], act="sigmoid")
        return pos, dvec, typ

    @torch.no_grad()
    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """img: float32 (1, 1, H, W) with H, W multiples of 32. Returns (H, W, 4) like the Keras model."""
        pos, dvec, typ = self.maps(img)
        direction = torch.atan2(dvec[:, 1:2], dvec[:, 0:1])
        gb = self.conv("nms_Gaussian_blur", pos)
        mp = F.max_pool2d(gb, 7, stride=1, padding=3)
        nms = gb * (gb == mp).float()
        out = torch.cat([pos, direction, typ, nms], 1)
        return out[0].permute(1, 2, 0)


class LeaderFast:
    """Drop-in for ``pyfing.Leader`` at 500 ppi: same padding, same minutia decoding, torch NCHW network."""

    def __init__(self, leader) -> None:
        self.leader = leader
        self.parameters = leader.parameters
        self.net = LeaderTorch(leader.model)

    def run(self, image: np.ndarray, dpi: int = 500) -> list:
        import cv2 as cv

        if dpi != self.parameters.dnn_input_dpi:
            raise ValueError("LeaderFast expects images already normalised to 500 ppi")
        h, w = image.shape
        m = self.parameters.dnn_input_size_multiple
        iw, ih = self.leader._compute_size(w, h, m, 0)
        bl, bt = (iw - w) // 2, (ih - h) // 2
        ir = cv.copyMakeBorder(
            image, bt, ih - h - bt, bl, iw - w - bl, cv.BORDER_CONSTANT, value=image[0, 0].tolist()
        )
        x = torch.from_numpy(ir.astype(np.float32))[None, None]
        out = self.net.forward(x).numpy()
        out = out[bt : bt + h, bl : bl + w]
        return self.leader._get_minutiae(out)
