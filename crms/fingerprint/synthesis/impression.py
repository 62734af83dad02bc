"""Impressions of a master fingerprint: what a live-scan sensor, or a surface at a crime scene, records.

An impression places the master on the sensor (displacement, rotation), deforms the skin non-linearly
(Cappelli, Maio and Maltoni's plastic distortion model: a rigid core where the finger presses, a free outer
part that has moved, and a smooth transition between them), limits it to the area in contact, thins or
thickens ridges with skin condition and pressure (dry skin: thin, broken ridges; wet skin: thick, merged
ridges), adds pores, sensor blur, noise and a background. Latent-like impressions keep only a small smudged
part of the finger on a textured surface at low contrast.
"""

from __future__ import annotations

import cv2
import numpy as np

from crms.fingerprint.synthesis.master import Master

IMPRESSION_WIDTH = 288  # the size of FVC2002 / FVC2004 DB4 (SFinGe) images, 500 ppi
IMPRESSION_HEIGHT = 384
LATENT_WIDTH = 320
LATENT_HEIGHT = 400
LATENT_MIN_FRACTION = 0.15  # share of the finger area a latent shows
LATENT_MAX_FRACTION = 0.40

_IMPRESSION_STREAM = 1
_LATENT_STREAM = 2


def impression_rng(master: Master, index: int, stream: int = _IMPRESSION_STREAM) -> np.random.Generator:
    return np.random.default_rng(
        np.random.SeedSequence([master.seed, master.finger_index, stream, int(index)])
    )


def _as_rng(master: Master, impression: int | np.random.Generator, stream: int) -> np.random.Generator:
    if isinstance(impression, np.random.Generator):
        return impression
    if int(impression) < 0:
        raise ValueError("impression index must be non-negative")
    return impression_rng(master, int(impression), stream)


def _smooth_noise(rng: np.random.Generator, width: int, height: int, cell: float) -> np.ndarray:
    """Zero-mean, unit-ish random field varying over about ``cell`` pixels (float32)."""
    gh, gw = int(np.ceil(height / cell)) + 2, int(np.ceil(width / cell)) + 2
    small = rng.normal(0.0, 1.0, (gh, gw)).astype(np.float32)
    big = cv2.resize(small, (int(gw * cell), int(gh * cell)), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(big[:height, :width])


def _brake(x: np.ndarray, k: float) -> np.ndarray:
    """Cappelli's brake function: 0 inside (x <= 0), rising smoothly to 1 at x >= k."""
    t = np.clip(x / k, 0.0, 1.0)
    return 0.5 * (1.0 - np.cos(np.pi * t))


def _source_coordinates(
    rng: np.random.Generator,
    master: Master,
    width: int,
    height: int,
    max_rotation: float,
    max_shift: float,
    distortion: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where each output pixel comes from in the master (map_x, map_y), and the contact-centre distance."""
    sh = master.shape
    phi = np.deg2rad(float(np.clip(rng.normal(0.0, max_rotation / 2.5), -max_rotation, max_rotation)))
    shift = np.clip(rng.normal(0.0, max_shift / 2.5, 2), -max_shift, max_shift)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    qx = xx - width / 2.0
    qy = yy - height / 2.0
    c, s = np.cos(phi), np.sin(phi)
    mcx = sh.cx + shift[0]
    mcy = sh.cy - 0.25 * sh.top + shift[1]  # sensors see the upper part of the fingertip best
    vx = c * qx + s * qy + mcx
    vy = -s * qx + c * qy + mcy
    # Plastic distortion: the contact core stays put, the outside moves by a small rigid transform.
    ccx = sh.cx + rng.normal(0.0, 10.0)
    ccy = sh.cy + rng.normal(0.0, 10.0)
    r_in = rng.uniform(50.0, 80.0)
    k = rng.uniform(60.0, 110.0)
    psi = np.deg2rad(rng.normal(0.0, 3.5 * distortion))
    tau = rng.normal(0.0, 7.0 * distortion, 2)
    dx, dy = vx - ccx, vy - ccy
    dist = np.sqrt(dx * dx + dy * dy)
    b = _brake(dist - r_in, k)
    cp, sp = np.cos(psi), np.sin(psi)
    tx = cp * dx - sp * dy + ccx + tau[0]
    ty = sp * dx + cp * dy + ccy + tau[1]
    map_x = (vx + b * (tx - vx)).astype(np.float32)
    map_y = (vy + b * (ty - vy)).astype(np.float32)
    return map_x, map_y, np.float32(ccx), np.float32(ccy)


def _ink(
    rng: np.random.Generator,
    ridges: np.ndarray,
    pressure: np.ndarray,
    moisture: float,
    width: int,
    height: int,
    harsh: float = 0.0,
) -> np.ndarray:
    """Ridge ink coverage 0..1 from the ridge field, skin moisture (-1 dry .. +1 wet) and local pressure 0..1.

    Ink is the ridge field pushed up or down and thresholded softly: wet skin and high pressure thicken the
    ridges until they merge, dry skin and low pressure thin and break them into dots, as in real scans.
    """
    r = ridges
    if moisture > 0:  # wet: ridges spread and merge
        r = cv2.GaussianBlur(r, (0, 0), 0.5 + 0.7 * moisture)
    dry = max(0.0, -moisture)
    fine = _smooth_noise(rng, width, height, rng.uniform(2.5, 4.0))  # skin texture: breaks ridges into dots
    coarse = _smooth_noise(rng, width, height, 14.0)
    level = (
        r
        + 0.35 * moisture
        + 0.8 * (pressure - 0.85)
        - (0.45 + 0.6 * dry + 0.5 * (1.0 - pressure)) * (1.0 + harsh) * np.maximum(fine, 0.0)
        - 0.15 * (1.0 + 2.0 * harsh) * np.maximum(coarse, 0.0)
    )
    ink = np.clip(0.5 + level / 0.5, 0.0, 1.0)
    if moisture > 0.75:
        ink = cv2.dilate(ink, np.ones((2, 2), np.uint8))
    elif moisture < -0.75:
        ink = cv2.erode(ink, np.ones((2, 2), np.uint8))
    # sweat pores: small light dots on the ridges
    pores = rng.random((height, width)) < 0.01
    pores = cv2.GaussianBlur(pores.astype(np.float32), (0, 0), 0.8) * 3.0
    return np.clip(ink * (1.0 - np.clip(pores, 0.0, 0.7)), 0.0, 1.0)


def render_impression(
    master: Master,
    impression: int | np.random.Generator = 0,
    *,
    width: int = IMPRESSION_WIDTH,
    height: int = IMPRESSION_HEIGHT,
    difficulty: float = 0.0,
) -> np.ndarray:
    """Render one plain impression of ``master`` (uint8, height x width, dark ridges on light, 500 ppi).

    ``impression`` is the impression number (each number gives its own, reproducible impression) or a
    ``numpy.random.Generator``. Impressions of the same master are mates of each other. ``difficulty``
    (0 to 1) makes them harder to match: wider placement, stronger distortion, smaller contact, more extreme
    skin, more breaks and noise, lower contrast. For this project's matcher 0 is easier and 1 far harder
    than FVC2002/2004 DB4 (measured figures in docs/BENCHMARKS.md, "Synthetic fingerprints").
    """
    if not 0.0 <= difficulty <= 1.0:
        raise ValueError("difficulty must be between 0 and 1")
    d = float(difficulty)
    rng = _as_rng(master, impression, _IMPRESSION_STREAM)
    map_x, map_y, ccx, ccy = _source_coordinates(
        rng, master, width, height, 20.0 + 10.0 * d, 30.0 + 25.0 * d, 1.0 + 1.2 * d
    )
    if d > 0:  # extra smooth, non-rigid skin stretch
        map_x += 5.0 * d * _smooth_noise(rng, width, height, 70.0)
        map_y += 5.0 * d * _smooth_noise(rng, width, height, 70.0)
    ridges = cv2.remap(master.ridges, map_x, map_y, cv2.INTER_LINEAR, borderValue=0.0)
    finger = cv2.remap(master.mask, map_x, map_y, cv2.INTER_LINEAR, borderValue=0.0)
    sh = master.shape
    # Contact area: an ellipse around the pressing point, larger under a firm press; pressure falls off
    # towards its ragged edge, where ridges thin out and break up.
    force = rng.uniform(0.0, 1.0)
    ax = sh.half_width * rng.uniform(0.95, 1.2) * (0.85 + 0.2 * force) * (1.0 - 0.25 * d)
    ay = 0.5 * (sh.top + sh.bottom) * rng.uniform(1.0, 1.25) * (0.85 + 0.2 * force) * (1.0 - 0.2 * d)
    ecx = ccx + rng.normal(0.0, 8.0)
    ecy = ccy + rng.normal(0.0, 10.0)
    rho2 = ((map_x - ecx) / ax) ** 2 + ((map_y - ecy) / ay) ** 2
    edge_noise = 0.15 * _smooth_noise(rng, width, height, 20.0)
    contact = np.clip((1.0 - rho2 + edge_noise) / 0.2, 0.0, 1.0) * np.clip(finger * 1.3, 0.0, 1.0)
    pressure = np.clip(
        0.35 + 0.35 * force + 0.6 * (1.0 - rho2) + 0.15 * _smooth_noise(rng, width, height, 40.0), 0.0, 1.0
    )
    moisture = float(np.clip(rng.normal(0.0, 0.45 + 0.35 * d), -1.0, 1.0))
    ink = _ink(rng, ridges, pressure * contact, moisture, width, height, d) * contact
    # Residue and dirt on the platen: blotches where the print is washed out, a few dark specks.
    blotch = np.clip(_smooth_noise(rng, width, height, 28.0) - rng.uniform(0.6, 1.6) + 0.5 * d, 0.0, 1.0)
    ink *= 1.0 - 0.9 * blotch
    specks = cv2.GaussianBlur((rng.random((height, width)) < 0.0002).astype(np.float32), (0, 0), 1.0) * 5.0
    ink = np.maximum(ink, np.clip(specks, 0.0, 0.8))
    background = rng.uniform(175.0, 220.0) + 5.0 * _smooth_noise(rng, width, height, 60.0)
    contrast = rng.uniform(130.0, 175.0) * (0.85 + 0.15 * pressure) * (1.0 - 0.3 * d)
    img = background - contrast * ink
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), rng.uniform(0.5, 0.8) * (1.0 + 0.5 * d))
    img += rng.normal(0.0, rng.uniform(3.0, 9.0) * (1.0 + d), img.shape).astype(np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _texture(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A surface for a latent print: paper, wood grain, woven fabric or a smooth stained surface (float32)."""
    kind = int(rng.integers(0, 4))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    tone = rng.uniform(110.0, 200.0)
    tex = tone + 18.0 * _smooth_noise(rng, width, height, 90.0)
    if kind == 0:  # paper: fine fibres
        tex += 7.0 * cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), 0.7)
    elif kind == 1:  # wood grain: wavy stripes
        a = rng.uniform(0, np.pi)
        u = np.cos(a) * xx + np.sin(a) * yy + 25.0 * _smooth_noise(rng, width, height, 70.0)
        tex += 10.0 * np.sin(2 * np.pi * u / rng.uniform(14.0, 30.0))
    elif kind == 2:  # woven fabric: two crossed fine weaves
        a = rng.uniform(0, np.pi)
        p = rng.uniform(4.5, 7.0)
        u = np.cos(a) * xx + np.sin(a) * yy
        v = -np.sin(a) * xx + np.cos(a) * yy
        tex += 12.0 * np.sin(2 * np.pi * u / p) * np.sin(2 * np.pi * v / p)
    else:  # glossy surface with stains
        stains = _smooth_noise(rng, width, height, 35.0)
        tex += 25.0 * np.clip(stains - 0.8, 0.0, None)
    return tex.astype(np.float32)


def render_latent(
    master: Master,
    latent: int | np.random.Generator = 0,
    *,
    width: int = LATENT_WIDTH,
    height: int = LATENT_HEIGHT,
) -> np.ndarray:
    """Render a latent-like impression of ``master``: 15-40 % of the finger, smudged, blurred, low contrast,
    on a textured background (uint8, 500 ppi)."""
    return _latent_layers(master, _as_rng(master, latent, _LATENT_STREAM), width, height)[0]


def _latent_layers(
    master: Master, rng: np.random.Generator, width: int, height: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """The latent image, the touched area (float 0..1) and the target fraction of the finger area."""
    map_x, map_y, _, _ = _source_coordinates(rng, master, width, height, 40.0, 30.0)
    ridges = cv2.remap(master.ridges, map_x, map_y, cv2.INTER_LINEAR, borderValue=0.0)
    finger = cv2.remap(master.mask, map_x, map_y, cv2.INTER_LINEAR, borderValue=0.0)
    finger_area = float((master.mask > 0.5).sum())
    target = rng.uniform(LATENT_MIN_FRACTION, LATENT_MAX_FRACTION) * finger_area
    # The touching part: a blob with a ragged edge around a random point of the finger.
    ys, xs = np.nonzero(finger > 0.8)
    if len(ys) == 0:
        raise ValueError("the finger lies outside the latent canvas")
    i = int(rng.integers(len(ys)))
    bx, by = float(xs[i]), float(ys[i])
    elong = rng.uniform(0.6, 1.0)
    ang = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    u = np.cos(ang) * (xx - bx) + np.sin(ang) * (yy - by)
    v = -np.sin(ang) * (xx - bx) + np.cos(ang) * (yy - by)
    ragged = 0.25 * _smooth_noise(rng, width, height, 18.0)
    base = np.sqrt(u * u + (v / elong) ** 2)
    inside = finger > 0.5
    lo, hi = 5.0, 400.0  # bisect the blob radius so that the touching area hits the target
    for _ in range(18):
        mid = 0.5 * (lo + hi)
        area = float(((base / mid + ragged < 1.0) & inside).sum())
        lo, hi = (mid, hi) if area < target else (lo, mid)
    radius = 0.5 * (lo + hi)
    blob = np.clip((1.0 - (base / radius + ragged)) / 0.15, 0.0, 1.0) * np.clip(finger * 1.3, 0.0, 1.0)
    pressure = np.clip(0.5 + 0.5 * blob + 0.15 * _smooth_noise(rng, width, height, 30.0), 0.0, 1.0)
    moisture = float(np.clip(rng.normal(0.0, 0.6), -1.0, 1.0))
    ink = _ink(rng, ridges, pressure, moisture, width, height) * blob
    # Smudge: a directional drag over part of the print.
    length = int(rng.integers(5, 16))
    kern = np.zeros((length, length), np.float32)
    cv2.line(kern, (0, length // 2), (length - 1, length // 2), 1.0, 1)
    rot = cv2.getRotationMatrix2D(((length - 1) / 2.0, (length - 1) / 2.0), rng.uniform(0, 180), 1.0)
    kern = cv2.warpAffine(kern, rot, (length, length))
    kern /= max(float(kern.sum()), 1e-6)
    smeared = cv2.filter2D(ink, -1, kern)
    where = np.clip(0.5 + 1.5 * _smooth_noise(rng, width, height, 50.0), 0.0, 1.0)
    ink = (1.0 - where) * ink + where * smeared
    ink = cv2.GaussianBlur(ink, (0, 0), rng.uniform(0.8, 1.6))
    surface = _texture(rng, width, height)
    contrast = rng.uniform(25.0, 60.0) * (1.0 if rng.random() < 0.75 else -1.0)  # powder can be light
    img = surface - contrast * ink
    img += rng.normal(0.0, rng.uniform(3.0, 8.0), img.shape).astype(np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), blob, target / finger_area
