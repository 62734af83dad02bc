"""The geometry of a master fingerprint: class, finger shape, singular points, orientation and ridge period.

Everything here works in image coordinates at 500 ppi: x to the right, y *down*, angles measured from the
positive x axis towards positive y (so they turn clockwise on screen). Orientations are ridge directions
modulo pi. The orientation field follows the zero-pole model (Sherlock and Monro) with the per-singularity
piecewise-linear corrections of Vizcaya and Gerhardt; arches, which have no singular points, use a smooth
analytic arch field.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

CLASSES = ("arch", "tented_arch", "left_loop", "right_loop", "whorl")
# Natural frequencies of the five classes (Wilson, Candela and Watson, NIST 1994), as used by SFinGe.
CLASS_FREQUENCIES = (0.037, 0.029, 0.338, 0.317, 0.279)

CORRECTION_KNOTS = 8  # Vizcaya-Gerhardt: the correction g is piecewise linear on 8 sectors
CORRECTION_SD = 0.3  # radians: how far each knot of g bends from the plain zero-pole flow
# Individual bends of the ridge flow: smooth random fields (knots on a coarse and on a finer grid over the
# image, standard deviation in radians) added to the model's orientation. Without them two fingers of the
# same class have nearly the same flow, and the matcher scores them far above real impostors.
BENDS = ((10, 0.2), (4, 0.3))
# Ridge period of the whole finger: the map is scaled by a factor drawn per finger (people differ).
PERIOD_SCALE = (0.88, 1.18)
PERIOD_RANGE = (7.0, 13.0)  # pixels at 500 ppi
PERIOD_NOISE = 0.35  # pixels: standard deviation of the period's smooth variation within a finger


@dataclass(frozen=True)
class Shape:
    """A fingertip outline: an upper half-ellipse over a lower rounded rectangle, centred at (cx, cy)."""

    cx: float
    cy: float
    half_width: float
    top: float  # height of the upper (elliptic) part above cy
    bottom: float  # height of the lower part below cy


@dataclass(frozen=True)
class SingularPoints:
    cores: np.ndarray  # float (n, 2): x, y
    deltas: np.ndarray  # float (m, 2): x, y


def draw_class(rng: np.random.Generator) -> str:
    return CLASSES[int(rng.choice(len(CLASSES), p=np.asarray(CLASS_FREQUENCIES) / sum(CLASS_FREQUENCIES)))]


def draw_shape(rng: np.random.Generator, width: int, height: int) -> Shape:
    half_width = rng.uniform(115.0, 140.0)
    top = rng.uniform(130.0, 160.0)
    bottom = rng.uniform(170.0, 210.0)
    cx = width / 2.0 + rng.uniform(-6.0, 6.0)
    cy = (height - (top + bottom)) / 2.0 + top + rng.uniform(-6.0, 6.0)
    return Shape(cx, cy, half_width, top, bottom)


def shape_mask(shape: Shape, width: int, height: int) -> np.ndarray:
    """Soft 0..1 mask of the fingertip (float32, height x width)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    dx = (xx - shape.cx) / shape.half_width
    up = yy < shape.cy
    dy = np.where(up, (shape.cy - yy) / shape.top, (yy - shape.cy) / shape.bottom)
    # Ellipse above, a super-ellipse (nearly a rectangle with rounded corners) below.
    r = np.where(up, dx**2 + dy**2, np.abs(dx) ** 4 + np.abs(dy) ** 6)
    mask = (r <= 1.0).astype(np.float32)
    return cv2.GaussianBlur(mask, (0, 0), 3.0)


def draw_singular_points(rng: np.random.Generator, fp_class: str, shape: Shape) -> SingularPoints:
    cx, cy = shape.cx, shape.cy
    core_y = cy - rng.uniform(-20.0, 70.0)
    none = np.zeros((0, 2))
    if fp_class == "arch":
        return SingularPoints(none, none)
    if fp_class == "tented_arch":
        x = cx + rng.uniform(-25.0, 25.0)
        d = rng.uniform(30.0, 80.0)
        return SingularPoints(np.array([[x, core_y]]), np.array([[x + rng.uniform(-10, 10), core_y + d]]))
    if fp_class in ("left_loop", "right_loop"):
        side = 1.0 if fp_class == "left_loop" else -1.0  # left loop: the delta lies to the viewer's right
        core = np.array([[cx - side * rng.uniform(-10.0, 40.0), core_y]])
        dist = rng.uniform(60.0, 170.0)
        ang = np.deg2rad(rng.uniform(30.0, 80.0))
        delta = core + np.array([[side * dist * np.cos(ang), dist * np.sin(ang)]])
        return SingularPoints(core, delta)
    # whorl: two cores close together, a delta on each side below
    sep = rng.uniform(10.0, 60.0)
    tilt = rng.uniform(-0.6, 0.6) + (np.pi / 2 if rng.random() < 0.5 else 0.0)
    mid = np.array([cx + rng.uniform(-25, 25), core_y + 10.0])
    off = 0.5 * sep * np.array([np.cos(tilt), np.sin(tilt)])
    cores = np.stack([mid - off, mid + off])
    deltas = []
    for side in (-1.0, 1.0):
        dist = rng.uniform(80.0, 160.0)
        ang = np.deg2rad(rng.uniform(35.0, 75.0))
        deltas.append(mid + np.array([side * dist * np.cos(ang), dist * np.sin(ang)]))
    return SingularPoints(cores, np.stack(deltas))


def _correction(rng: np.random.Generator, strength: float) -> np.ndarray:
    """Knot values g(alpha_i) of a Vizcaya-Gerhardt correction: alpha_i plus a small random bend."""
    knots = np.linspace(-np.pi, np.pi, CORRECTION_KNOTS + 1)
    bend = rng.normal(0.0, strength, CORRECTION_KNOTS + 1)
    bend[0] = bend[-1] = 0.0  # g(-pi) = -pi, g(pi) = pi keeps the field continuous
    return knots + bend


def _apply_correction(alpha: np.ndarray, g: np.ndarray) -> np.ndarray:
    knots = np.linspace(-np.pi, np.pi, CORRECTION_KNOTS + 1)
    return np.interp(alpha, knots, g)


def orientation_field(
    rng: np.random.Generator, fp_class: str, sp: SingularPoints, shape: Shape, width: int, height: int
) -> np.ndarray:
    """Ridge orientation in radians (float32, height x width), modulo pi."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    if fp_class == "arch":
        amp = rng.uniform(0.9, 1.5)
        s = shape.half_width * rng.uniform(0.45, 0.6)
        ya = shape.cy + rng.uniform(-10.0, 40.0)
        h = rng.uniform(90.0, 130.0)
        gx = (xx - shape.cx) / s
        slope = amp * gx * np.exp(-0.5 * gx**2) * np.exp(-(((yy - ya) / h) ** 2))
        theta = np.arctan(slope) + rng.normal(0.0, 0.03)
    else:
        theta = np.zeros_like(xx)
        for d in sp.deltas:
            g = _correction(rng, CORRECTION_SD)
            theta -= 0.5 * _apply_correction(np.arctan2(yy - d[1], xx - d[0]), g)
        for c in sp.cores:
            g = _correction(rng, CORRECTION_SD)
            theta += 0.5 * _apply_correction(np.arctan2(yy - c[1], xx - c[0]), g)
        theta += rng.normal(0.0, 0.04)
    theta = theta.astype(np.float32) + individual_bends(rng, width, height)
    return np.mod(theta, np.pi).astype(np.float32)


def smooth_field(rng: np.random.Generator, knots: int, width: int, height: int) -> np.ndarray:
    """A smooth random field (float32, height x width): standard normal values at ``knots`` x ``knots``
    points, interpolated bicubically."""
    small = rng.normal(0.0, 1.0, (knots, knots)).astype(np.float32)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


def individual_bends(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """What makes one finger's ridge flow its own beyond its class and singular points (radians).

    Continuous and single-valued, so it moves no singular point's index and creates none."""
    return sum((sd * smooth_field(rng, knots, width, height) for knots, sd in BENDS), np.float32(0.0))


def period_field(
    rng: np.random.Generator, sp: SingularPoints, shape: Shape, width: int, height: int
) -> np.ndarray:
    """Ridge period in pixels (float32), about 7-13 px at 500 ppi, varying smoothly.

    Ridges are a little wider apart above the core and towards the tip than around and below the
    singular points, as in real prints; a smooth random field adds local variation, and the whole map is
    scaled by a factor of the finger (:data:`PERIOD_SCALE`).
    """
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(8.0, 9.2)
    ref_y = float(sp.cores[:, 1].mean()) if len(sp.cores) else shape.cy - 20.0
    above = np.clip((ref_y - yy) / max(shape.top, 1.0), 0.0, 1.0)
    period = base + rng.uniform(0.3, 1.0) * above
    noise = smooth_field(rng, 6, width, height)
    period += PERIOD_NOISE * noise
    period = np.clip(period, 8.0, 11.0) * rng.uniform(*PERIOD_SCALE)
    return np.clip(period, *PERIOD_RANGE).astype(np.float32)
