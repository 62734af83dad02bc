"""Can LEADER run with fewer hidden units in its inverse-bottleneck blocks? Pruning with a closed-form refit.

    .venv/bin/python bench/fp_leader_prune.py prune --keep 0.5 --out pruned.npz [--synthetic 60] [--seed 31]
    .venv/bin/python bench/fp_leader_prune.py agree pruned.npz [--synthetic 30] [--seed 32]

Needs the ``fingerprint-torch`` extra (torch). Most of the graph's multiply-adds that ONNX Runtime runs
densely are the 1x1 expansions (4x the channels, GELU) and reductions of four inverse-bottleneck blocks:
``enc1_0`` and the position head's ``head_0_ibc`` at half resolution, ``dec1_0`` and ``dec1_1`` (876
hidden units). ``prune`` keeps ``--keep`` of each block's hidden units and refits the block's reduction
(weights and bias) in closed form, so that the student's block output matches full LEADER's:

- block by block in the order the network runs them, each on the student pruned so far (so each refit
  also corrects what the earlier blocks' pruning changed, as in ThiNet);
- the statistics are the Gram matrix of the student's hidden activations (with a constant for the bias)
  and their cross products with the target ``x_teacher + red_teacher(e_teacher) - x_student``, summed
  over every pixel of the calibration prints: the project's synthetic prints (``crms.fingerprint
  .synthesis``, difficulty up to 0.9, scaled by U(0.85, 1.2)) and NIST's 11 public-domain 500 ppi
  prints. Never FVC (it measures accuracy) nor SOCOFing (non-commercial terms);
- units are removed one at a time by the optimal-brain-surgeon rule for this least-squares problem: the
  unit whose removal (with the others refitted) adds the least squared error after the block's
  adjustment convolution (for the position head: after the adjustment and the head's first
  convolution), then the refit weights are updated by the rank-one formula.

The output holds the pruned blocks' ``conv_exp`` and ``conv_red`` arrays (Keras layout, fewer hidden
units), as ``crms.fingerprint.leader_weights.adapted_weights`` reads them.
``agree``: minutiae of the pruned network against full LEADER (ONNX graphs, full resolution) on held-out
synthetic prints (another seed): recall and precision within 3 px, direction error, type agreement.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fp_leader_adapt import NIST, NIST_PRINTS, agreement_sums, pad32  # noqa: E402

BLOCKS = ("enc1_0", "dec1_1", "dec1_0", "head_0_ibc")  # in the order the network runs them


def synthetic(n: int, seed: int) -> list[np.ndarray]:
    import cv2

    from crms.fingerprint.synthesis.impression import render_impression
    from crms.fingerprint.synthesis.master import generate_master

    rng, out = np.random.default_rng(seed), []
    for i in range(n):
        img = render_impression(
            generate_master(seed, i, iterations=10), int(rng.integers(0, 100)), difficulty=rng.uniform(0, 0.9)
        )
        z = float(rng.uniform(0.85, 1.2))
        img = cv2.resize(img, None, fx=z, fy=z, interpolation=cv2.INTER_AREA if z < 1 else cv2.INTER_CUBIC)
        out.append(img)
    return out


def calibration(n: int, seed: int) -> list[np.ndarray]:
    from crms.fingerprint.images import load_image

    files = sorted(f for pattern in NIST_PRINTS for f in NIST.glob(pattern))
    if not files:
        print(f"NIST prints not found under {NIST} (../shared): synthetic prints only", flush=True)
    return [pad32(load_image(f, 500).pixels) for f in files] + [pad32(x) for x in synthetic(n, seed)]


def capture(net, block: str, img: np.ndarray) -> dict[str, object]:
    """The block's input x, hidden activations e (after GELU) and pre-adjustment sum s, one print."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    got: dict[str, object] = {}
    plain = net.ibc

    def ibc(name, x):
        if name != block:
            return plain(name, x)
        dw, _ = net.c[f"{name}_depthwise_conv"]
        y = F.conv2d(x, dw, None, padding=(dw.shape[-1] - 1) // 2, groups=dw.shape[0])
        e = net.conv(f"{name}_conv_exp", net.ln(f"{name}_ln", y), act="gelu")
        s = x + net.conv(f"{name}_conv_red", e)
        got.update(x=x, e=e, s=s)
        raise StopIteration

    net.ibc = ibc
    try:
        with torch.no_grad():
            net.maps(torch.from_numpy(img.astype(np.float32))[None, None])
    except StopIteration:
        pass
    finally:
        del net.ibc
    return got


def flat(t) -> np.ndarray:
    """(1, C, H, W) tensor -> (H*W, C) float64."""
    return t[0].reshape(t.shape[1], -1).T.numpy().astype(np.float64)


def obs_prune(g: np.ndarray, c: np.ndarray, a: np.ndarray, keep: int) -> tuple[np.ndarray, np.ndarray]:
    """Least squares ``min |(E W - Y) a|`` over the kept columns of E (the last column, the constant,
    always kept), with G = E'E and C = E'Y; units removed one at a time by the optimal-brain-surgeon
    saliency |W_j a|^2 / H_jj (H = G^-1). Returns the kept unit indices and their refit W (incl. bias)."""
    n = g.shape[0]
    g = g + np.eye(n) * 1e-6 * np.trace(g) / n
    h = np.linalg.inv(g)
    w = h @ c
    alive = list(range(n))  # unit ids of the rows of w and h; the constant last
    while len(alive) - 1 > keep:
        sal = ((w[:-1] @ a) ** 2).sum(1) / np.diag(h)[:-1]
        k = int(sal.argmin())
        hk = h[:, k].copy()
        w = w - np.outer(hk / hk[k], w[k])
        h = h - np.outer(hk, hk) / hk[k]
        sel = np.delete(np.arange(len(alive)), k)
        h, w = h[np.ix_(sel, sel)], w[sel]
        alive.pop(k)
    return np.array(alive[:-1]), w


def cmd_prune(a: argparse.Namespace) -> None:
    import torch

    from crms.fingerprint.leader_torch import LeaderTorch
    from crms.fingerprint.leader_weights import load_weights

    torch.set_num_threads(a.threads)
    base = load_weights()
    teacher, student = LeaderTorch.from_weights(base), LeaderTorch.from_weights(base)
    imgs = calibration(a.synthetic, a.seed)
    print(f"{len(imgs)} calibration prints", flush=True)
    out: dict[str, np.ndarray] = {}
    for block in BLOCKS:
        t0 = time.time()
        wr = student.c[f"{block}_conv_red"][0].numpy()[:, :, 0, 0].T  # (hidden, c)
        adj = student.c[f"{block}_conv_adj"][0].numpy()[:, :, 0, 0].T.astype(np.float64)  # (c, o)
        if block.startswith("head_"):
            adj = adj @ student.c[f"{block[:-4]}_conv1"][0].numpy()[:, :, 0, 0].T
        n = wr.shape[0] + 1
        g, cc, yy = np.zeros((n, n)), np.zeros((n, wr.shape[1])), np.zeros((wr.shape[1],) * 2)
        for img in imgs:
            t, s = capture(teacher, block, img), capture(student, block, img)
            e = np.hstack([flat(s["e"]), np.ones((s["e"].shape[2] * s["e"].shape[3], 1))])
            y = flat(t["s"]) - flat(s["x"])
            g += e.T @ e
            cc += e.T @ y
            yy += y.T @ y
        keep = max(1, round(a.keep * wr.shape[0]))
        kept, w = obs_prune(g, cc, adj, keep)
        rows = [*kept, n - 1]
        ya = np.einsum("ij,ik,kj", adj, yy, adj)  # |Y a|^2
        r = w @ adj
        err = np.einsum("ij,ik,kj", r, g[np.ix_(rows, rows)], r) - 2 * np.einsum("ij,ik,kj", r, cc[rows], adj)
        print(f"{block}: relative squared error after the adjustment {(err + ya) / ya:.4f}", flush=True)
        ke, be = student.w[f"{block}_conv_exp"]
        kr = np.asarray(w[:-1], np.float32)[None, None]  # (1, 1, keep, c)
        arrays = {
            "conv_exp": [ke.numpy()[:, :, :, kept], be.numpy()[kept]],
            "conv_red": [kr, np.asarray(w[-1], np.float32)],
        }
        weights = student.keras_weights()
        for part, arrs in arrays.items():
            weights[f"{block}_{part}"] = [np.ascontiguousarray(x, np.float32) for x in arrs]
            for i, x in enumerate(weights[f"{block}_{part}"]):
                out[f"{block}_{part}|{i}"] = x
        student = LeaderTorch.from_weights(weights)
        print(f"{block}: {wr.shape[0]} -> {len(kept)} hidden units, {time.time() - t0:.0f} s", flush=True)
    np.savez(a.out, **out)


def cmd_agree(a: argparse.Namespace) -> None:
    from crms.fingerprint import extract
    from crms.fingerprint.leader_onnx import LeaderOnnx
    from crms.fingerprint.leader_weights import adapted_weights

    extract.set_threads(1)
    full = extract._alg("LEADER")
    pruned = LeaderOnnx(full.parameters, weights=adapted_weights(a.pruned))
    tot, dirs, types = agreement_sums(
        (
            [(m.x, m.y, m.direction, m.type) for m in full.run(img, 500)],
            [(m.x, m.y, m.direction, m.type) for m in pruned.run(img, 500)],
        )
        for img in synthetic(a.synthetic, a.seed)
    )
    print(
        f"{a.pruned}: {tot[2]:.0f} / {tot[1]:.0f} minutiae, recall {tot[0] / tot[1]:.3f}, "
        f"precision {tot[0] / max(1, tot[2]):.3f}, direction error {np.mean(dirs):.3f} rad, "
        f"same type {np.mean(types):.3f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prune")
    p.add_argument("--keep", type=float, default=0.5, help="fraction of each block's hidden units kept")
    p.add_argument("--out", required=True)
    p.add_argument("--synthetic", type=int, default=60)
    p.add_argument("--seed", type=int, default=31)
    p.add_argument("--threads", type=int, default=2)
    g = sub.add_parser("agree")
    g.add_argument("pruned")
    g.add_argument("--synthetic", type=int, default=30)
    g.add_argument("--seed", type=int, default=32)
    a = ap.parse_args()
    {"prune": cmd_prune, "agree": cmd_agree}[a.cmd](a)


if __name__ == "__main__":
    main()
