"""Synthetic minutia templates (no images), for 1:N benchmarks and tests of the gallery at scale.

A *master* finger is a set of minutiae spread over a finger-sized pad with a minimum spacing, directions
following a smooth field; an *impression* of it is the master seen through a rigid motion (rotation up to
+-20 degrees, shift), with position jitter, some minutiae lost and a few spurious ones. The images of
``crms.fingerprint.synthesis`` are far more realistic; these cost microseconds, so a million fit in a
benchmark.
"""

from __future__ import annotations

import math

import numpy as np

from crms.fingerprint.template import Template

WIDTH, HEIGHT = 320, 400


def master(rng: np.random.Generator, minutiae: int = 40) -> Template:
    pts: list[tuple[float, float]] = []
    tries = 0
    while len(pts) < minutiae and tries < minutiae * 50:
        tries += 1
        x, y = rng.uniform(20, WIDTH - 20), rng.uniform(20, HEIGHT - 20)
        if ((x - WIDTH / 2) / (WIDTH * 0.45)) ** 2 + ((y - HEIGHT / 2) / (HEIGHT * 0.45)) ** 2 > 1:
            continue
        if all((x - a) ** 2 + (y - b) ** 2 >= 15**2 for a, b in pts):
            pts.append((x, y))
    p = np.array(pts, dtype=np.float64).reshape(-1, 2)
    cx, cy = rng.uniform(0.35, 0.65) * WIDTH, rng.uniform(0.35, 0.65) * HEIGHT
    field = np.arctan2(p[:, 1] - cy, p[:, 0] - cx) + math.pi / 2  # loops around a core
    theta = np.mod(
        field + rng.choice([0.0, math.pi], p.shape[0]) + rng.normal(0, 0.15, p.shape[0]), 2 * math.pi
    )
    m = np.column_stack([p, theta, rng.integers(1, 3, p.shape[0]), np.full(p.shape[0], 60.0)])
    return Template(WIDTH, HEIGHT, m.astype(np.float32), quality=60)


def impression(t: Template, rng: np.random.Generator, keep: float = 0.8, extra: int = 3) -> Template:
    m = t.minutiae.astype(np.float64)
    m = m[rng.random(m.shape[0]) < keep]
    a = rng.uniform(-0.35, 0.35)
    c, s = math.cos(a), math.sin(a)
    x, y = m[:, 0] - WIDTH / 2, m[:, 1] - HEIGHT / 2
    dx, dy = rng.uniform(-25, 25, 2)
    nx = c * x - s * y + WIDTH / 2 + dx + rng.normal(0, 2.0, m.shape[0])
    ny = s * x + c * y + HEIGHT / 2 + dy + rng.normal(0, 2.0, m.shape[0])
    # image y points down: a point rotation by +a turns directions (counter-clockwise, y up) by -a
    nt = np.mod(m[:, 2] - a + rng.normal(0, 0.08, m.shape[0]), 2 * math.pi)
    out = np.column_stack([nx, ny, nt, m[:, 3], m[:, 4]])
    if extra:
        sp = np.column_stack(
            [
                rng.uniform(20, WIDTH - 20, extra),
                rng.uniform(20, HEIGHT - 20, extra),
                rng.uniform(0, 2 * math.pi, extra),
                np.ones(extra),
                np.full(extra, 30.0),
            ]
        )
        out = np.vstack([out, sp])
    ok = (out[:, 0] >= 0) & (out[:, 1] >= 0) & (out[:, 0] < WIDTH + 60) & (out[:, 1] < HEIGHT + 60)
    return Template(WIDTH + 60, HEIGHT + 60, out[ok].astype(np.float32), quality=55)


def bulk(fingers: int, rng: np.random.Generator, distinct: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """``fingers`` synthetic fingers for a speed benchmark, vectorised: each is an impression (rotation,
    shift, jitter, about 20 % of minutiae lost) of one of ``distinct`` masters. Returns the minutiae
    (sum(counts), 3) uint16 as the gallery keeps them (x*8, y*8, direction in 1/65536 turn) and the counts."""
    masters = [master(rng).minutiae for _ in range(distinct)]
    sizes = np.array([m.shape[0] for m in masters])
    start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    pool = np.concatenate(masters).astype(np.float64)
    which = rng.integers(0, distinct, fingers)
    rows = np.repeat(start[which], sizes[which]) + (
        np.arange(int(sizes[which].sum())) - np.repeat(np.cumsum(sizes[which]) - sizes[which], sizes[which])
    )
    owner = np.repeat(np.arange(fingers), sizes[which])
    keep = rng.random(rows.shape[0]) < 0.8
    rows, owner = rows[keep], owner[keep]
    a = rng.uniform(-0.35, 0.35, fingers)[owner]
    dx, dy = rng.uniform(-25, 25, fingers)[owner], rng.uniform(-25, 25, fingers)[owner]
    m = pool[rows]
    x, y = m[:, 0] - WIDTH / 2, m[:, 1] - HEIGHT / 2
    nx = np.cos(a) * x - np.sin(a) * y + WIDTH / 2 + 30 + dx + rng.normal(0, 2.0, x.shape[0])
    ny = np.sin(a) * x + np.cos(a) * y + HEIGHT / 2 + 30 + dy + rng.normal(0, 2.0, x.shape[0])
    nt = np.mod(m[:, 2] - a, 2 * math.pi)
    q = np.empty((x.shape[0], 3), dtype=np.uint16)
    q[:, 0] = np.clip(np.round(nx * 8), 0, 65535)
    q[:, 1] = np.clip(np.round(ny * 8), 0, 65535)
    q[:, 2] = np.round(nt * (65536 / (2 * math.pi))).astype(np.int64) % 65536
    return q, np.bincount(owner, minlength=fingers)
