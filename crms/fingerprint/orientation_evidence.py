"""Orientation-field evidence for prints with few minutiae (prototype, issue 24 item 2).

A print is reduced to a coarse grid of its ridge orientation field: one complex number per block of
``block_px`` pixels at 500 ppi, ``z = coherence * exp(2i * theta)`` (doubled angle, so 0 and 180 degrees
agree), zero outside the segmentation mask. Two grids are compared by a search over a few rotations of the
probe and every translation (FFT cross-correlation on a zero-padded canvas, so there is no wrap-around):

    raw = max over rotation r, shift s of  sum over overlapping blocks  w_p * w_g * k(2 * dtheta)

with ``w = |z|`` and ``k`` a short cosine series ``a0 + a1 cos(phi) + a2 cos(2 phi) + ...``
(``OrientationParams.kernel``). With ``a0 < 0`` every block that disagrees by more than a few degrees
counts against the pair, so the sum grows with the agreeing area and impostors stay low. Each harmonic
is one spectrum per print; their weighted sum needs one inverse FFT per (rotation, gallery print).

``fit_calibration`` turns raw values into scores on the matcher's scale, about 10*log10(1/FMR), from a set
of impostor raw values (the calibration belongs to the population it was fitted on: image size and sensor
change the impostor distribution). ``fuse`` combines a minutiae score with an orientation score for probes
with few minutiae. Only NumPy and OpenCV; no per-pair Python loops.

Measured (bench/socofing_fewminutiae.py, 2 shared CPU cores): descriptor 11-20 ms per image, comparison
about 1.0-1.6 ms per pair (9 rotations, 3 harmonics, ~81 x 81 canvas), some 40 times the minutiae
matcher's; orientation score alone between different impressions, EER 8.2 % (FVC2002 DB1_B, the set the
kernel was chosen on), 11.1 % (FVC2002 DB3_B), 19.6 % (FVC2004 DB2_B). A calibration fitted on one
population over-promises on another (SOCOFing-fitted, on whole FVC prints: 4-6 % of impostors at >= 30).
A prototype: not used by the matcher or the identification service.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# ------------------------------------------------------------------------------------------ parameters


@dataclass(frozen=True)
class OrientationParams:
    """Field, descriptor and comparison settings (pixels at 500 ppi)."""

    block_px: int = 12  # grid step of the descriptor
    gradient_sigma: float = 1.0  # Gaussian before the Sobel gradients
    tensor_sigma: float = 8.0  # Gaussian over the gradient structure tensor
    # Gradients this close to the image's edge are dropped before the tensor is smoothed: a scanner's
    # frame line (SOCOFing has one) would otherwise give the same coherent blocks in every print.
    edge_margin_px: int = 10
    min_foreground: float = 0.6  # a block counts when this fraction of it lies in the mask
    min_blocks: int = 4  # fewer foreground blocks than this: an empty descriptor
    rotations_deg: tuple[float, ...] = (-30.0, -22.5, -15.0, -7.5, 0.0, 7.5, 15.0, 22.5, 30.0)
    # k(phi) = kernel[0] + sum_n kernel[n] cos(n phi), phi the doubled-angle difference of two blocks:
    # positive only within about 7 degrees of orientation difference. Chosen on FVC2002 DB1_B alone
    # (orientation-score EER, bench/socofing_fewminutiae.py); (-0.8, 1.0) and (-0.9, 1.0) were worse there.
    kernel: tuple[float, ...] = (-0.93, 0.5, 0.5)


DEFAULT_ORIENTATION = OrientationParams()


@dataclass(frozen=True)
class FusionParams:
    """When and how the orientation score joins the minutiae score (see :func:`fuse`)."""

    max_probe_minutiae: int = 10  # fusion only for probes with fewer minutiae than this
    # "max": max(s_m, s_o) - 10*log10(2) (union bound); "sum": s_m + s_o through a calibration fitted on
    # impostor sums (needs that calibration: see ``fuse``)
    rule: str = "max"
    orientation_offset: float = 0.0  # subtracted from the orientation score before fusion


# ------------------------------------------------------------------------------------------ descriptor


@dataclass(frozen=True)
class OrientationDescriptor:
    """Block grid of ``coherence * exp(2i theta)`` (complex64), cropped to its foreground blocks.

    ``z.size == 0`` is the empty descriptor (no usable foreground): it scores 0 against everything."""

    z: np.ndarray
    block_px: int

    @property
    def empty(self) -> bool:
        return self.z.size == 0

    @property
    def blocks(self) -> int:
        return int(np.count_nonzero(self.z))


def structure_tensor(pixels: np.ndarray, p: OrientationParams = DEFAULT_ORIENTATION) -> np.ndarray:
    """Smoothed gradient structure tensor as three float32 images (gxx - gyy, 2 gxy, gxx + gyy); zero
    gradients within ``p.edge_margin_px`` of the image's edge."""
    import cv2

    img = cv2.GaussianBlur(pixels.astype(np.float32), (0, 0), p.gradient_sigma)
    gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
    m = p.edge_margin_px
    if m > 0:
        inner = np.zeros(img.shape, np.float32)
        inner[m:-m, m:-m] = 1.0
        gx, gy = gx * inner, gy * inner
    out = np.stack([gx * gx - gy * gy, 2.0 * gx * gy, gx * gx + gy * gy])
    return np.stack([cv2.GaussianBlur(c, (0, 0), p.tensor_sigma) for c in out])


def block_means(a: np.ndarray, block: int) -> np.ndarray:
    """Mean over non-overlapping ``block`` x ``block`` tiles of the last two axes (partial tiles dropped)."""
    h, w = a.shape[-2] // block, a.shape[-1] // block
    a = a[..., : h * block, : w * block]
    return a.reshape(*a.shape[:-2], h, block, w, block).mean(axis=(-3, -1))


def crop_to_content(z: np.ndarray) -> np.ndarray:
    """The smallest window of ``z`` holding all its non-zero blocks (shape (0, 0) when there are none)."""
    nz = z != 0
    rows, cols = np.flatnonzero(nz.any(axis=1)), np.flatnonzero(nz.any(axis=0))
    if rows.size == 0:
        return np.zeros((0, 0), np.complex64)
    return np.ascontiguousarray(z[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])


def describe(
    pixels: np.ndarray, mask: np.ndarray, p: OrientationParams = DEFAULT_ORIENTATION
) -> OrientationDescriptor:
    """Descriptor of a 500 ppi gray image (uint8) and its segmentation mask (non-zero = finger).

    Raises ValueError for an image smaller than two blocks a side or a mask of another shape; a mask
    with fewer than ``p.min_blocks`` foreground blocks gives the empty descriptor."""
    pixels, mask = np.asarray(pixels), np.asarray(mask)
    if pixels.ndim != 2 or min(pixels.shape) < 2 * p.block_px:
        raise ValueError(
            f"orientation descriptor: image of shape {pixels.shape} is smaller than 2 blocks of "
            f"{p.block_px} px a side"
        )
    if mask.shape != pixels.shape:
        raise ValueError(f"orientation descriptor: mask shape {mask.shape} differs from image {pixels.shape}")
    tensor = block_means(structure_tensor(pixels, p), p.block_px)
    fg = block_means((mask > 0).astype(np.float32), p.block_px)
    c, s, e = tensor
    mag = np.hypot(c, s)
    coherence = np.where(e > 1e-6, mag / np.maximum(e, 1e-6), 0.0)
    unit = np.where(mag > 1e-9, (c + 1j * s) / np.maximum(mag, 1e-9), 0.0)
    z = (unit * coherence * (fg >= p.min_foreground)).astype(np.complex64)
    if np.count_nonzero(z) < p.min_blocks:
        return OrientationDescriptor(np.zeros((0, 0), np.complex64), p.block_px)
    return OrientationDescriptor(crop_to_content(z), p.block_px)


def describe_image(pixels: np.ndarray, p: OrientationParams = DEFAULT_ORIENTATION) -> OrientationDescriptor:
    """:func:`describe` with the extractor's own segmentation (GMFS, ``crms.fingerprint.extract``)."""
    from crms.fingerprint import extract as ex

    ctx: dict = {"image": pixels}
    ex.step_segment(ctx, ex.DEFAULT_SEGMENT)
    return describe(pixels, ctx["mask"], p)


# ------------------------------------------------------------------------------------------ comparison


def rotate_descriptor(z: np.ndarray, degrees: float) -> np.ndarray:
    """The grid of a print rotated by ``degrees`` (counter-clockwise as displayed, y down): positions
    rotated about the grid's centre (bilinear, on a canvas that holds the whole rotated grid) and
    orientations turned with them (doubled angle minus twice the rotation), cropped to its content."""
    import cv2

    if degrees == 0.0 or z.size == 0:
        return z
    h, w = z.shape
    a = math.radians(degrees)
    side_w = int(math.ceil(abs(w * math.cos(a)) + abs(h * math.sin(a)))) + 2
    side_h = int(math.ceil(abs(h * math.cos(a)) + abs(w * math.sin(a)))) + 2
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees, 1.0)
    m[0, 2] += (side_w - w) / 2
    m[1, 2] += (side_h - h) / 2
    parts = [
        cv2.warpAffine(
            np.ascontiguousarray(part, np.float32),
            m,
            (side_w, side_h),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
        )
        for part in (z.real, z.imag)
    ]
    turned = (parts[0] + 1j * parts[1]) * np.exp(-2j * a)
    return crop_to_content(turned.astype(np.complex64))


def harmonics(z: np.ndarray, n: int) -> np.ndarray:
    """``|z| * (z / |z|)**k`` for k = 0..n-1 (stacked on a new first axis)."""
    w = np.abs(z)
    unit = np.where(w > 0, z / np.maximum(w, 1e-12), 0)
    return np.stack([w * unit**k for k in range(n)]).astype(np.complex64)


def _fft_size(n: int) -> int:
    """The smallest 2^a 3^b >= n (fast for pocketfft)."""
    best = 1 << max(0, (n - 1).bit_length())
    k3 = 1
    while k3 < best:
        k2 = k3
        while k2 < n:
            k2 *= 2
        best = min(best, k2)
        k3 *= 3
    return best


@dataclass(frozen=True)
class PackedFields:
    """A gallery of descriptors as spectra on one canvas: ``spectra[k, g]`` is the FFT of harmonic k of
    print g, zero-padded to ``canvas``; ``max_shape`` the largest gallery grid; ``empty[g]`` marks
    empty descriptors."""

    spectra: np.ndarray
    canvas: tuple[int, int]
    max_shape: tuple[int, int]
    empty: np.ndarray

    def __len__(self) -> int:
        return int(self.empty.size)


def pack_fields(
    gallery: list[OrientationDescriptor],
    p: OrientationParams = DEFAULT_ORIENTATION,
    max_probe_blocks: int = 0,
) -> PackedFields:
    """Spectra of a gallery for :func:`compare_many`. The canvas holds a probe grid of up to
    ``max_probe_blocks`` a side (default: twice the largest gallery side) next to any gallery grid."""
    n = len(p.kernel)
    hs = [d.z.shape[0] for d in gallery] or [0]
    ws = [d.z.shape[1] for d in gallery] or [0]
    mh, mw = max(hs), max(ws)
    probe = max_probe_blocks or 2 * max(mh, mw)
    canvas = (_fft_size(max(1, mh + probe)), _fft_size(max(1, mw + probe)))
    spectra = np.zeros((n, len(gallery), *canvas), np.complex64)
    for g, d in enumerate(gallery):
        if not d.empty:
            grid = np.zeros((n, *canvas), np.complex64)
            grid[:, : d.z.shape[0], : d.z.shape[1]] = harmonics(d.z, n)
            spectra[:, g] = np.fft.fft2(grid)
    empty = np.array([d.empty for d in gallery], dtype=bool)
    return PackedFields(spectra, canvas, (mh, mw), empty)


def _fit_probe(z: np.ndarray, packed: PackedFields) -> np.ndarray:
    """``z`` centre-cropped so that probe + gallery grids fit the canvas without wrap-around."""
    lim_h = packed.canvas[0] - packed.max_shape[0]
    lim_w = packed.canvas[1] - packed.max_shape[1]
    h, w = z.shape
    y0, x0 = max(0, (h - lim_h) // 2), max(0, (w - lim_w) // 2)
    return z[y0 : y0 + min(h, lim_h), x0 : x0 + min(w, lim_w)]


def compare_many(
    probe: OrientationDescriptor,
    packed: PackedFields,
    p: OrientationParams = DEFAULT_ORIENTATION,
    chunk: int = 256,
) -> np.ndarray:
    """Raw orientation similarity of ``probe`` against every packed print (float64, in order): the best
    over ``p.rotations_deg`` and all shifts of the kernel-weighted block agreement (module docstring).
    0 for an empty probe or gallery descriptor (and never below 0)."""
    out = np.zeros(len(packed))
    if probe.empty or len(packed) == 0:
        return out
    if probe.block_px != p.block_px:
        raise ValueError(f"probe descriptor has blocks of {probe.block_px} px, parameters {p.block_px}")
    coef = np.asarray(p.kernel, np.float32).reshape(-1, 1, 1, 1)
    probe_spectra = []
    for deg in p.rotations_deg:
        z = _fit_probe(rotate_descriptor(probe.z, deg), packed)
        grid = np.zeros((len(p.kernel), *packed.canvas), np.complex64)
        grid[:, : z.shape[0], : z.shape[1]] = harmonics(z, len(p.kernel))
        probe_spectra.append(np.conj(np.fft.fft2(grid)) * coef[:, 0])
    for g0 in range(0, len(packed), chunk):
        spec = packed.spectra[:, g0 : g0 + chunk]
        best = np.zeros(spec.shape[1])
        for ps in probe_spectra:
            cross = np.einsum("kgyx,kyx->gyx", spec, ps)
            corr = np.fft.ifft2(cross).real
            best = np.maximum(best, corr.reshape(corr.shape[0], -1).max(axis=1))
        out[g0 : g0 + spec.shape[1]] = best
    out[packed.empty] = 0.0
    return out


# ------------------------------------------------------------------------------------------ calibration


@dataclass(frozen=True)
class Calibration:
    """Piecewise-linear map raw -> score through (``raw``, ``score``) knots, then linear with
    ``tail_slope`` beyond the last knot; ``fitted_on`` says what impostors it came from."""

    raw: tuple[float, ...]
    score: tuple[float, ...]
    tail_slope: float
    fitted_on: str = ""


def fit_calibration(impostor_raw: np.ndarray, fitted_on: str = "", tail: int = 50) -> Calibration:
    """Scores ~ 10*log10(1/FMR) from impostor raw values: knots at the empirical impostor quantiles for
    FMR 10^(-s/10), s = 0, 2.5, ... while at least ``tail`` impostors lie above the knot; beyond it the
    score grows linearly with the slope fitted (maximum likelihood, exponential tail) to the ``tail``
    highest impostors."""
    r = np.sort(np.asarray(impostor_raw, np.float64))
    n = r.size
    if n < 2 * tail:
        raise ValueError(f"need at least {2 * tail} impostor values to calibrate, got {n}")
    raw_k, score_k = [0.0], [0.0]
    s = 2.5
    while n * 10 ** (-s / 10) >= tail:
        q = float(np.quantile(r, 1 - 10 ** (-s / 10)))
        if q > raw_k[-1]:
            raw_k.append(q)
            score_k.append(s)
        s += 2.5
    top = r[-tail:]
    last = raw_k[-1]
    excess = float(np.mean(top - max(last, top.min()))) or 1e-9
    # Exponential tail: FMR falls by a factor e per `excess` raw units beyond the last knot.
    slope = 10 / math.log(10) / excess
    return Calibration(tuple(raw_k), tuple(score_k), slope, fitted_on)


def calibrate(raw: np.ndarray, cal: Calibration) -> np.ndarray:
    """Scores of raw similarities under ``cal`` (0 at raw <= 0, non-decreasing)."""
    raw = np.asarray(raw, np.float64)
    kr, ks = np.asarray(cal.raw), np.asarray(cal.score)
    out = np.interp(raw, kr, ks)
    beyond = raw > kr[-1]
    out[beyond] = ks[-1] + (raw[beyond] - kr[-1]) * cal.tail_slope
    return np.where(raw > 0, out, 0.0)


# ------------------------------------------------------------------------------------------ fusion

UNION_PENALTY = 10 * math.log10(2)


def fuse(
    minutiae_score: np.ndarray,
    orientation_score: np.ndarray,
    probe_minutiae: int,
    f: FusionParams = FusionParams(),
    sum_calibration: Calibration | None = None,
) -> np.ndarray:
    """Fused scores of one probe against a gallery: the minutiae scores unchanged when the probe has at
    least ``f.max_probe_minutiae`` minutiae; else ``max(s_m, s_o) - 10*log10(2)`` (rule "max": if each
    score is calibrated, the chance that either of two reaches s is at most twice the chance of one)
    or the calibrated sum (rule "sum", ``sum_calibration`` fitted on impostor sums)."""
    sm = np.asarray(minutiae_score, np.float64)
    if probe_minutiae >= f.max_probe_minutiae:
        return sm
    so = np.maximum(np.asarray(orientation_score, np.float64) - f.orientation_offset, 0.0)
    if f.rule == "max":
        return np.maximum(np.maximum(sm, so) - UNION_PENALTY, 0.0)
    if f.rule == "sum":
        if sum_calibration is None:
            raise ValueError("fusion rule 'sum' needs a calibration of the summed scores")
        return calibrate(sm + so, sum_calibration)
    raise ValueError(f"unknown fusion rule {f.rule!r}")
