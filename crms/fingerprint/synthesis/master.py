"""Master fingerprints: the ridge pattern of one finger, from which every impression is rendered."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from crms.fingerprint.synthesis import fields
from crms.fingerprint.synthesis.ridges import grow_ridges

MASTER_WIDTH = 352
MASTER_HEIGHT = 448
GROWTH_ITERATIONS = 14
SEEDS_PER_KPIXEL = 0.35  # seeds per 1000 pixels of finger area, spread over a grid (seed_points)
SEED_RADIUS = 6


@dataclass
class Master:
    """One synthetic finger. ``ridges``: float32 in [-1, 1], ridges positive; ``mask``: 0..1 finger area."""

    seed: int
    finger_index: int
    fp_class: str
    ridges: np.ndarray
    mask: np.ndarray
    orientation: np.ndarray
    period: np.ndarray
    singular_points: fields.SingularPoints
    shape: fields.Shape

    @property
    def height(self) -> int:
        return int(self.ridges.shape[0])

    @property
    def width(self) -> int:
        return int(self.ridges.shape[1])


def master_rng(seed: int, finger_index: int) -> np.random.Generator:
    """The generator of finger ``finger_index``: independent of how many fingers are made, in what order."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(finger_index), 0]))


def seed_points(
    rng: np.random.Generator, inside: np.ndarray, per_kpixel: float
) -> tuple[np.ndarray, np.ndarray]:
    """Where ridge growth starts: one point in each cell of a grid over the finger (a cell holds 1000 /
    ``per_kpixel`` pixels), anywhere in its cell, kept where ``inside``. Spread this way, few seeds still
    leave no wide gap for the growth to fill, so fewer seeds give fewer minutiae without bare patches."""
    h, w = inside.shape
    step = float(np.sqrt(1000.0 / per_kpixel))
    gy, gx = np.mgrid[0 : int(np.ceil(h / step)), 0 : int(np.ceil(w / step))].astype(np.float64)
    ys = np.clip((gy.ravel() + rng.uniform(0.0, 1.0, gy.size)) * step, 0, h - 1).astype(int)
    xs = np.clip((gx.ravel() + rng.uniform(0.0, 1.0, gx.size)) * step, 0, w - 1).astype(int)
    keep = inside[ys, xs]
    return ys[keep], xs[keep]


def generate_master(
    seed: int, finger_index: int, fp_class: str | None = None, *, iterations: int = GROWTH_ITERATIONS
) -> Master:
    """Generate master fingerprint number ``finger_index`` of the set seeded by ``seed``.

    ``fp_class`` forces a class (one of :data:`fields.CLASSES`); by default it is drawn with natural
    frequencies. ``iterations`` of ridge growth trade time for finish: 12 costs about 15 % less and
    leaves the pattern nearly as complete (for bulk demo data); the default is what the benchmarks use.
    Same arguments, same master, bit for bit.
    """
    if not 4 <= iterations <= 50:
        raise ValueError("iterations must be between 4 and 50")
    if fp_class is not None and fp_class not in fields.CLASSES:
        raise ValueError(f"fp_class must be one of {', '.join(fields.CLASSES)}, not {fp_class!r}")
    if seed < 0 or finger_index < 0:
        raise ValueError("seed and finger_index must be non-negative")
    rng = master_rng(seed, finger_index)
    cls = fields.draw_class(rng)
    if fp_class is not None:
        cls = fp_class
    w, h = MASTER_WIDTH, MASTER_HEIGHT
    shape = fields.draw_shape(rng, w, h)
    mask = fields.shape_mask(shape, w, h)
    sp = fields.draw_singular_points(rng, cls, shape)
    orientation = fields.orientation_field(rng, cls, sp, shape, w, h)
    period = fields.period_field(rng, sp, shape, w, h)

    # Grow a little beyond the finger outline so that impressions never see the growth border.
    region = cv2.dilate((mask > 0.02).astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    # Seeds: small patches of ridge with random phases, one in each cell of a grid. Each grows outwards;
    # where two patches meet out of phase, and where the flow bends or the period changes, ridges end or
    # fork: the minutiae.
    seeds = np.zeros((h, w), np.float32)
    ys, xs = seed_points(rng, mask > 0.3, SEEDS_PER_KPIXEL)
    n_seeds = len(ys)
    phases = rng.uniform(0.0, 2.0 * np.pi, n_seeds)
    r = SEED_RADIUS
    py, px = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float32)
    env = np.exp(-(px**2 + py**2) / (2.0 * (r / 2.0) ** 2))
    for k in range(n_seeds):
        y, x = int(ys[k]), int(xs[k])
        if y < r or x < r or y + r >= h or x + r >= w:
            continue
        th = float(orientation[y, x])
        omega = 2.0 * np.pi / float(period[y, x])
        wave = np.cos(omega * (-np.sin(th) * px + np.cos(th) * py) + phases[k]) * env
        seeds[y - r : y + r + 1, x - r : x + r + 1] = wave
    ridges = grow_ridges(seeds, orientation, period, region, iterations)
    return Master(seed, finger_index, cls, ridges, mask, orientation, period, sp, shape)
