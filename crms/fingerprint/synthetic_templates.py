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
