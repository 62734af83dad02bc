"""Can LEADER read a smaller image if its spatial layers are adapted to it? Distillation at a lower scale.

    .venv/bin/python bench/fp_leader_adapt.py targets DIR [--synthetic 400] [--socofing 200] [--seed 11]
                                              [--nist] [--difficulty 0.6] [--zoom 1 1]
    .venv/bin/python bench/fp_leader_adapt.py train DIR --scale 0.75 --steps 1500 --out adapted.npz
                                              [--init adapted.npz] [--real-repeat 30] [--lr 2e-4] [--cosine]
                                              [--train {spatial,init,all}] [--same-crop]
    .venv/bin/python bench/fp_leader_adapt.py agree DIR --scale 0.75 [--adapted adapted.npz]

Needs the ``fingerprint-torch`` extra (torch). The network's multiply-adds fall with the square of the
scale (0.75: 44 % fewer), but LEADER was trained at 500 ppi and loses FVC accuracy on a smaller image
(docs/BENCHMARKS.md). This script measures how far adapting it recovers:

- ``targets``: full-resolution LEADER's maps (minutia probability, direction vector, ending probability;
  PyTorch port from the shipped weights) for synthetic prints (``crms.fingerprint.synthesis``) and
  SOCOFing Real prints (at their 170 ppi, brought to 500). Never FVC: its prints measure accuracy.
- ``train``: the student is LEADER on the image scaled by ``--scale`` (area interpolation), starting from
  LEADER's weights; trainable are the stems, the first U-net, the attention, every depthwise
  convolution, every LayerNormalization and the output convolutions, 129 k of 948 k weights (0.5 MB as
  float32); the second U-net's and the heads' 1x1 convolutions, which do not see space, stay LEADER's.
  Loss: squared error to the teacher's maps sampled at the student's pixel centres (minutia probability
  max-filtered over 3x3 first below scale 1, so that a peak between two student pixels keeps its height),
  direction and type weighted where a minutia is likely; 128x128 crops, 4 per step, Adam, 40 prints held out.
  ``--nist`` prints (NIST's public-domain 500 ppi rolled prints) are drawn ``--real-repeat`` times as
  often. ``--train init`` trains instead the layers the ``--init`` file holds (a pruning's 1x1
  convolutions from ``bench/fp_leader_prune.py``), ``--train all`` every layer. ``--same-crop`` takes
  the targets from the teacher run on a 128-pixel crop and the student's input from the same crop scaled
  (96 pixels at 0.75), so the loss asks nothing that the crop's context cannot give (the stored
  whole-image maps are not used). The output holds the trained layers in Keras layout, as
  ``crms.fingerprint.leader_weights.adapted_weights`` reads them (``leader_scale075.npz`` is one).
- ``agree``: minutiae of the scaled network (LEADER's own weights, and with ``--adapted``) against
  full-resolution LEADER on the 40 held-out prints (ONNX graph, the scaled positions mapped back):
  recall and precision within 3 px, direction error, type agreement of matched pairs.
"""

from __future__ import annotations

import argparse
import glob
import os
import random
import sys
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SOCOFING = ROOT.parent / "shared" / "data" / "fingerprints" / "socofing" / "Real"
NIST = ROOT.parent / "shared" / "data" / "fingerprints" / "nist_ansi_itl_reference"
NIST_PRINTS = ("tenprint_card/*.png", "latent_match/tenprint_type14_*.png")  # 500 ppi, public domain
SPATIAL = ("stem", "enc0", "dec0", "attention", "head_conv_pos", "head_conv_dir", "head_conv_typ")
HELD_OUT = 40


def pad32(img: np.ndarray) -> np.ndarray:
    """The whole image padded as LEADER pads it (``leader_onnx.network_window`` without a box)."""
    import cv2

    from crms.fingerprint.leader_onnx import network_window

    (_, _, top, bottom), (_, _, left, right) = network_window(img.shape)
    return cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=int(img[0, 0]))


def teacher():
    from crms.fingerprint.leader_torch import LeaderTorch
    from crms.fingerprint.leader_weights import load_weights

    return LeaderTorch.from_weights(load_weights())


def cmd_targets(a: argparse.Namespace) -> None:
    import cv2
    import torch

    from crms.fingerprint.images import list_images, load_image
    from crms.fingerprint.synthesis.impression import render_impression
    from crms.fingerprint.synthesis.master import generate_master

    if a.socofing and not SOCOFING.is_dir():
        sys.exit(f"SOCOFing Real not found at {SOCOFING} (../shared); use --socofing 0")
    out = Path(a.dir)
    out.mkdir(parents=True, exist_ok=True)
    net, rng = teacher(), np.random.default_rng(a.seed)
    images = []
    if a.socofing:
        files = list_images(SOCOFING)
        images += [
            ("soc", lambda f=files[i]: load_image(f, 170).pixels)
            for i in rng.choice(len(files), a.socofing, replace=False)
        ]
    if a.nist:
        files = sorted(f for pattern in NIST_PRINTS for f in NIST.glob(pattern))
        if not files:
            sys.exit(f"NIST prints not found under {NIST} (../shared); leave out --nist")
        images += [("nist", lambda f=f: load_image(f, 500).pixels) for f in files]
    for i in range(a.synthetic):
        k, d = int(rng.integers(0, 100)), float(rng.uniform(0, a.difficulty))
        images.append(
            (
                "syn",
                lambda i=i, k=k, d=d: render_impression(
                    generate_master(a.seed, i, iterations=10), k, difficulty=d
                ),
            )
        )
    lo, hi = a.zoom
    t0 = time.time()
    for n, (tag, make) in enumerate(images):
        img = make()
        if tag == "syn" and (lo, hi) != (1.0, 1.0):  # vary the ridge period beyond the generator's 8-11 px
            z = float(rng.uniform(lo, hi))
            inter = cv2.INTER_AREA if z < 1 else cv2.INTER_CUBIC
            img = cv2.resize(img, None, fx=z, fy=z, interpolation=inter)
        img = pad32(img)
        with torch.no_grad():
            maps = torch.cat(net.maps(torch.from_numpy(img.astype(np.float32))[None, None]), 1)[0]
        np.savez(out / f"{tag}_{n:04d}.npz", img=img, maps=maps.numpy().astype(np.float16))
        if (n + 1) % 50 == 0:
            print(f"{n + 1}/{len(images)} {time.time() - t0:.0f} s", flush=True)


def split(d: str) -> tuple[list[str], list[str]]:
    files = sorted(glob.glob(str(Path(d) / "*.npz")))
    random.Random(0).shuffle(files)
    return files[HELD_OUT:], files[:HELD_OUT]


def cmd_train(a: argparse.Namespace) -> None:
    import cv2
    import torch
    import torch.nn.functional as F  # noqa: N812

    torch.set_num_threads(a.threads)
    train, _ = split(a.dir)
    crop, margin = 128, 12
    if a.same_crop:  # the teacher reads a crop of `crop` pixels, the student the same crop scaled
        student_crop = round(crop * a.scale)
        if student_crop % 32 or abs(student_crop / crop - a.scale) > 1e-9:
            sys.exit("--same-crop needs a scale that makes 128 pixels a multiple of 32 (1, 0.75, 0.5, 0.25)")
    data = []
    for f in train + [f for f in train if Path(f).name.startswith("nist")] * (a.real_repeat - 1):
        z = np.load(f)
        if a.same_crop:  # targets come from the teacher during training
            data.append((z["img"].astype(np.float32), None, float(z["img"][0, 0])))
            continue
        img, maps = z["img"], torch.from_numpy(z["maps"].astype(np.float32))[None]
        h, w = img.shape
        sh, sw = round(h * a.scale), round(w * a.scale)
        small = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32)
        if a.scale != 1.0:  # a peak between two student pixels keeps its height
            maps[:, :1] = F.max_pool2d(maps[:, :1], 3, 1, 1)
        gy, gx = torch.meshgrid((torch.arange(sh) + 0.5) / sh, (torch.arange(sw) + 0.5) / sw, indexing="ij")
        grid = torch.stack([gx * 2 - 1, gy * 2 - 1], -1)[None]  # student pixel centres on the teacher's image
        data.append(
            (small, F.grid_sample(maps, grid, mode="bilinear", align_corners=False)[0], float(img[0, 0]))
        )
    if a.init:
        from crms.fingerprint.leader_torch import LeaderTorch
        from crms.fingerprint.leader_weights import adapted_weights

        net = LeaderTorch.from_weights(adapted_weights(a.init))
    else:
        net = teacher()
    if a.train == "init":
        if not a.init:
            sys.exit("--train init needs --init (the layers to train are those the file holds)")
        with np.load(a.init) as z:
            chosen = {k.rsplit("|", 1)[0] for k in z.files}

        def trainable(name: str) -> bool:
            return name in chosen
    elif a.train == "all":

        def trainable(name: str) -> bool:
            return True
    else:

        def trainable(name: str) -> bool:
            return name.startswith(SPATIAL) or name.endswith(("_depthwise_conv", "_ln"))

    names, params = [], []
    for name, ts in net.c.items():
        if trainable(name):
            for i, t in enumerate(ts):
                if t is not None:
                    names.append(f"{name}|{i}")
                    params.append(t.requires_grad_(True))
    print(f"{len(data)} training prints, {sum(p.numel() for p in params)} trainable weights", flush=True)
    opt = torch.optim.Adam(params, a.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, a.steps) if a.cosine else None
    rng = random.Random(a.seed)
    ref = teacher() if a.same_crop else None

    def batch_same_crop():
        """The teacher's maps of a full-resolution crop, sampled at the student's pixel centres on the
        same crop scaled: no context the student lacks."""
        side = round(crop * a.scale)
        full = []
        for _ in range(4):
            img, _, v = rng.choice(data)
            ph, pw = max(0, crop - img.shape[0]), max(0, crop - img.shape[1])
            if ph or pw:
                img = np.pad(img, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)), constant_values=v)
            y0, x0 = rng.randint(0, img.shape[0] - crop), rng.randint(0, img.shape[1] - crop)
            full.append(np.ascontiguousarray(img[y0 : y0 + crop, x0 : x0 + crop]))
        with torch.no_grad():
            t = torch.cat(ref.maps(torch.from_numpy(np.stack(full))[:, None]), 1)
        if side == crop:
            return torch.from_numpy(np.stack(full))[:, None], t
        t[:, :1] = F.max_pool2d(t[:, :1], 3, 1, 1)  # a peak between two student pixels keeps its height
        c = (torch.arange(side) + 0.5) / side * 2 - 1
        gy, gx = torch.meshgrid(c, c, indexing="ij")
        t = F.grid_sample(
            t, torch.stack([gx, gy], -1)[None].expand(len(full), -1, -1, -1), align_corners=False
        )
        small = [cv2.resize(im, (side, side), interpolation=cv2.INTER_AREA) for im in full]
        return torch.from_numpy(np.stack(small))[:, None], t

    def batch():
        if ref is not None:
            return batch_same_crop()
        xs, ts = [], []
        for _ in range(4):
            small, tgt, v = rng.choice(data)
            ph, pw = max(0, crop - small.shape[0]), max(0, crop - small.shape[1])
            if ph or pw:
                small = np.pad(small, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)), constant_values=v)
                tgt = F.pad(tgt, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
            y0, x0 = rng.randint(0, small.shape[0] - crop), rng.randint(0, small.shape[1] - crop)
            xs.append(torch.from_numpy(np.ascontiguousarray(small[y0 : y0 + crop, x0 : x0 + crop]))[None])
            ts.append(tgt[:, y0 : y0 + crop, x0 : x0 + crop])
        return torch.stack(xs), torch.stack(ts)

    inner = (
        slice(None),
        slice(None),
        slice(margin, -margin),
        slice(margin, -margin),
    )  # crop edges: no context
    t0, avg = time.time(), None
    torch.set_grad_enabled(True)  # importing pyfing with Keras turns gradients off process-wide
    for step in range(1, a.steps + 1):
        x, t = batch()
        pos, dvec, typ = net.maps(x)
        tp = t[:, :1]
        near = (tp > 0.05).float()
        loss = (
            ((pos - tp) ** 2 * (1 + 20 * tp))[inner].mean()
            + 0.1 * (((dvec - t[:, 1:3]) ** 2).sum(1, keepdim=True) * near)[inner].mean()
            + (((typ - t[:, 3:]) ** 2) * near)[inner].mean()
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        avg = loss.item() if avg is None else 0.98 * avg + 0.02 * loss.item()
        if step % 100 == 0 or step == a.steps:
            print(f"step {step} {time.time() - t0:.0f} s loss {avg:.5f}", flush=True)
    trained = {n.split("|")[0] for n in names}
    keras = net.keras_weights()
    np.savez(a.out, **{f"{k}|{i}": x for k in sorted(trained) for i, x in enumerate(keras[k])})


def agreement(ref: list, got: list, tol: float = 3.0) -> tuple[int, int, int, list[float], list[bool]]:
    """Reference minutiae with a found one within ``tol`` px (nearest), counts, and the matched pairs'
    direction errors and type agreement."""
    if not ref or not got:
        return 0, len(ref), len(got), [], []
    r, g = np.array([m[:2] for m in ref], float), np.array([m[:2] for m in got], float)
    d = np.linalg.norm(r[:, None] - g[None], axis=2)
    j = d.argmin(1)
    hit = np.flatnonzero(d[np.arange(len(r)), j] <= tol)
    dirs = [abs(float(np.remainder(ref[i][2] - got[j[i]][2] + np.pi, 2 * np.pi) - np.pi)) for i in hit]
    return len(hit), len(ref), len(got), dirs, [ref[i][3] == got[j[i]][3] for i in hit]


def agreement_sums(pairs) -> tuple[np.ndarray, list[float], list[bool]]:
    """:func:`agreement` summed over (reference, found) minutia lists: (matched, reference, found)
    counts, and all matched pairs' direction errors and type agreement."""
    tot, dirs, types = np.zeros(3), [], []
    for ref, got in pairs:
        hit, nr, ng, dd, ty = agreement(ref, got)
        tot += (hit, nr, ng)
        dirs += dd
        types += ty
    return tot, dirs, types


def cmd_agree(a: argparse.Namespace) -> None:
    import cv2

    from crms.fingerprint import extract
    from crms.fingerprint.leader_onnx import LeaderOnnx
    from crms.fingerprint.leader_weights import adapted_weights

    extract.set_threads(1)
    params = extract._alg("LEADER").parameters
    full = extract._alg("LEADER")
    nets = {f"LEADER at {a.scale}": LeaderOnnx(params)}
    if a.adapted:
        nets[f"adapted at {a.scale}"] = LeaderOnnx(params, weights=adapted_weights(a.adapted))
    _, held = split(a.dir)
    print(f"{len(held)} held-out prints; against full-resolution LEADER, within 3 px")
    print("| network | minutiae found / LEADER's | recall | precision | direction error (rad) | same type |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, net in nets.items():

        def pairs(net=net):
            for f in held:
                img = np.load(f)["img"]
                h, w = img.shape
                ref = [(m.x, m.y, m.direction, m.type) for m in full.run(img, 500)]
                sh, sw = round(h * a.scale), round(w * a.scale)
                small = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA)
                got = [
                    ((m.x + 0.5) * w / sw - 0.5, (m.y + 0.5) * h / sh - 0.5, m.direction, m.type)
                    for m in net.run(small, 500)
                ]
                yield ref, got

        tot, dirs, types = agreement_sums(pairs())
        print(
            f"| {name} | {tot[2]:.0f} / {tot[1]:.0f} | {tot[0] / tot[1]:.3f} | {tot[0] / max(1, tot[2]):.3f} "
            f"| {np.mean(dirs):.3f} | {np.mean(types):.3f} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("targets")
    t.add_argument("dir")
    t.add_argument("--synthetic", type=int, default=400)
    t.add_argument("--socofing", type=int, default=200)
    t.add_argument("--seed", type=int, default=11)
    t.add_argument("--nist", action="store_true", help="also NIST's public-domain 500 ppi prints (11)")
    t.add_argument("--difficulty", type=float, default=0.6, help="synthetic difficulty drawn from [0, this]")
    t.add_argument(
        "--zoom", type=float, nargs=2, default=(1.0, 1.0), help="synthetic prints scaled by U(lo, hi)"
    )
    r = sub.add_parser("train")
    r.add_argument("dir")
    r.add_argument("--scale", type=float, default=0.75)
    r.add_argument("--steps", type=int, default=1500)
    r.add_argument("--lr", type=float, default=2e-4)
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", required=True)
    r.add_argument("--init", help="start from this adaptation (an .npz this script wrote)")
    r.add_argument("--real-repeat", type=int, default=1, help="draw NIST prints this many times as often")
    r.add_argument("--cosine", action="store_true", help="learning rate falls to 0 along a cosine")
    r.add_argument(
        "--train",
        choices=("spatial", "init", "all"),
        default="spatial",
        help="the layers that see space, those the --init file holds (a pruning's 1x1 convolutions), or all",
    )
    r.add_argument("--same-crop", action="store_true", help="targets from the teacher on the same crop")
    g = sub.add_parser("agree")
    g.add_argument("dir")
    g.add_argument("--scale", type=float, default=0.75)
    g.add_argument("--adapted")
    a = ap.parse_args()
    {"targets": cmd_targets, "train": cmd_train, "agree": cmd_agree}[a.cmd](a)


if __name__ == "__main__":
    main()
