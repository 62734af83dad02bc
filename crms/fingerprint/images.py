"""Fingerprint image intake: decode, guard against hostile files, gray-scale, normalise to 500 ppi.

Formats: PNG, JPEG, TIFF, BMP, WSQ (through the ``wsq`` Pillow plugin) and JPEG 2000 where Pillow
was built with OpenJPEG. Every failure is an :class:`ImageError` naming the file and what is wrong;
nothing here may crash or hang on a hostile file: the byte size is checked before decoding, the
dimensions from the header before the pixels are decoded (no side over :data:`MAX_SIDE`, no more than
:data:`MAX_PIXELS` pixels: what a finger can be at 1000 ppi; Pillow's decompression-bomb guard is set to
the same limit), and truncated data raises instead of being padded with gray.

The decoders are C code, and a hostile file can crash one (a WSQ file with three flipped bytes segfaults
NBIS), make it loop or make it allocate gigabytes. So :func:`decode` runs them in a worker process with
CPU-time and memory limits (:mod:`crms.fingerprint.sandbox`): a crash or an overrun is an
:class:`ImageError` naming the file, and the calling process (the API server) carries on.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crms.errors import ValidationError, rule_error

TARGET_DPI = 500
MAX_BYTES = 50 * 1024 * 1024  # an uncompressed 16-bit finger at the pixel limits fits
# A finger, rolled nail to nail, is at most about 1.6 x 2 inches; at 1000 ppi (the highest resolution
# the standards use for fingerprints) with a margin: no side over 3 inches, no more than 2 x 3 inches.
MAX_SIDE = 3000  # pixels, each side, from the header, before decoding
MAX_PIXELS = 6_000_000  # width * height, from the header, before decoding
MIN_SIDE = 32  # pixels at the source resolution
MIN_DPI, MAX_DPI = 100, 2000
SCREEN_DPI = (72.0, 96.0, 120.0)  # defaults of image editors, never a scanner's resolution
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".wsq", ".jp2", ".j2k", ".jpx"}

# Magic numbers of the formats we accept: the content decides, never the file name.
_MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
    (b"\xff\xa0\xff\xa8", "WSQ"),
    (b"\xff\xa0", "WSQ"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG2000"),
    (b"\xff\x4f\xff\x51", "JPEG2000"),
]


class ImageError(ValidationError):
    """An image that cannot be used: unreadable, hostile, too big, too small, or of unknown resolution."""

    def __init__(self, message: str, *, field: str | None = "image", details: list[dict] | None = None):
        super().__init__(message, field=field, details=details)


def image_error(kind: str, message: str, field: str = "image", **values) -> ImageError:
    """ImageError of ``field`` by a rule of ``kind`` (crms.errors.RULE_KINDS), its values named."""
    return rule_error(field, kind, message, error=ImageError, **values)  # type: ignore[return-value]


def _too_many_bytes(name: str, size: int) -> ImageError:
    message = f"{name}: {size} bytes is over the limit of {MAX_BYTES} bytes"
    return image_error("image_too_many_bytes", message, size=size, limit=MAX_BYTES, mb=MAX_BYTES // 2**20)


def _undecodable(message: str, fmt: str) -> ImageError:
    return image_error("image_undecodable", message, format=fmt)


@dataclass
class FingerImage:
    """A gray-scale fingerprint at 500 ppi (uint8, dark ridges on a light background)."""

    pixels: np.ndarray  # uint8 (H, W) at TARGET_DPI
    dpi: float  # the source resolution that was used
    dpi_source: str  # "caller", "file", "estimated" or "default" (see choose_dpi)
    source_size: tuple[int, int]  # (width, height) before resampling
    format: str
    dpi_reason: str | None = None  # why that resolution, in words
    dpi_file: float | None = None  # the file's tag, if any (also when not used)
    dpi_estimate: float | None = None  # the ridge-period estimate, when one was made

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def sniff_format(data: bytes) -> str | None:
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    return None


def _pil():
    from PIL import Image

    try:
        import wsq  # noqa: F401  (registers the WSQ plugin with Pillow)
    except ImportError:  # pragma: no cover - wsq is a declared dependency
        pass
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    return Image


def decode(data: bytes, name: str = "image", *, sandbox: bool = True) -> tuple[np.ndarray, float | None, str]:
    """Decode bytes to a uint8 gray-scale array. Returns (pixels, dpi from the file or None, format).

    The decoder runs in a limited worker process (``sandbox=False``: in this process, for bytes that are
    known to be safe). Everything that goes wrong is an :class:`ImageError` naming the file."""
    if len(data) == 0:
        raise image_error("image_empty", f"{name}: the file is empty")
    if len(data) > MAX_BYTES:
        raise _too_many_bytes(name, len(data))
    fmt = sniff_format(data)
    if fmt is None:
        known = "PNG, JPEG, TIFF, BMP, WSQ, JPEG 2000"
        message = f"{name}: not a supported image ({known}): unrecognised content"
        raise image_error("image_format_unknown", message)
    if not sandbox:
        return _decode_here(data, name, fmt, MAX_PIXELS, MAX_SIDE)
    from crms.fingerprint import sandbox as sb

    try:
        return sb.shared("images", preload=(__name__,)).run(
            _decode_here, bytes(data), name, fmt, MAX_PIXELS, MAX_SIDE
        )
    except sb.SandboxStopped:  # the service is being stopped: not the file's fault
        raise
    except sb.SandboxFailure as exc:
        raise _undecodable(f"{name}: the {fmt} decoder {exc.reason}; the file cannot be used", fmt) from None
    except ImageError:
        raise
    except ValidationError as exc:  # the worker's ImageError, as it crossed the process boundary
        raise ImageError(exc.message, field=exc.field, details=exc.details) from None


def _decode_here(
    data: bytes, name: str, fmt: str, max_pixels: int, max_side: int
) -> tuple[np.ndarray, float | None, str]:
    """:func:`decode` in this process (what a sandbox worker runs). The limits travel as arguments."""
    Image = _pil()
    Image.MAX_IMAGE_PIXELS = max_pixels
    from PIL import ImageFile, UnidentifiedImageError

    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            w, h = im.size
            if w <= 0 or h <= 0 or w * h > max_pixels or max(w, h) > max_side:
                message = (
                    f"{name}: {w}x{h} pixels is over the limit for a finger ({max_side} pixels a side, "
                    f"{max_pixels} pixels in all: 3 x 2 inches at 1000 ppi)"
                )
                sizes = {"width": w, "height": h, "side": max_side, "pixels": max_pixels}
                raise image_error("image_too_many_pixels", message, **sizes)
            if min(w, h) < MIN_SIDE:
                message = f"{name}: {w}x{h} pixels is too small (each side at least {MIN_SIDE})"
                raise image_error("image_too_small", message, width=w, height=h, side=MIN_SIDE)
            im.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        message = f"{name}: rejected as a decompression bomb ({exc})"
        raise image_error("image_too_many_pixels", message, side=max_side, pixels=max_pixels) from None
    except UnidentifiedImageError:
        raise _undecodable(f"{name}: content looks like {fmt} but cannot be decoded", fmt) from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, MemoryError) as exc:
        raise _undecodable(f"{name}: damaged or truncated {fmt} file ({exc})", fmt) from None
    except Exception as exc:  # noqa: BLE001 - a decoder bug on hostile input must not escape as a crash
        raise _undecodable(f"{name}: cannot decode {fmt} file ({type(exc).__name__}: {exc})", fmt) from None
    dpi = _file_dpi(im)
    try:
        if im.mode in ("I;16", "I;16B", "I;16L", "I"):
            arr = np.asarray(im)  # one copy at the source depth; scaled in place in float32
            lo, hi = float(arr.min()), float(arr.max())
            scaled = arr.astype(np.float32)
            del arr
            scaled -= lo
            scaled *= 255.0 / max(hi - lo, 1.0)
            arr = scaled.astype(np.uint8)
        else:
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                # Transparent pixels become white paper, not black ridges.
                bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(bg, im.convert("RGBA"))
            arr = np.asarray(im.convert("L"), dtype=np.uint8)
    except Exception as exc:  # noqa: BLE001
        raise _undecodable(f"{name}: cannot convert {fmt} pixels to gray ({exc})", fmt) from None
    return np.ascontiguousarray(arr), dpi, fmt


def _file_dpi(im) -> float | None:
    """The resolution recorded in the file, if it is plausible on its own (many files say 72 or 96:
    screen defaults); ``choose_dpi`` also checks it against the ridge period."""
    dpi = im.info.get("dpi")
    val: float | None = None
    if isinstance(dpi, tuple) and dpi:
        try:
            val = float(dpi[0])
        except (TypeError, ValueError):
            val = None
    elif isinstance(dpi, (int, float)):
        val = float(dpi)
    if val is None or not math.isfinite(val):
        return None
    val = round(val, 1)
    if val in SCREEN_DPI or not (MIN_DPI <= val <= MAX_DPI):
        return None
    return val


def resample(pixels: np.ndarray, dpi: float, target: int = TARGET_DPI) -> np.ndarray:
    """Resample an image from ``dpi`` to ``target`` ppi (area when shrinking, cubic when enlarging)."""
    import cv2

    if abs(dpi - target) < 0.5:
        return pixels
    scale = target / dpi
    h, w = pixels.shape
    nw, nh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(pixels, (nw, nh), interpolation=interp)


# The smallest finger width (mm) an image is taken to show: its smaller side cannot be fewer than this
# many millimetres, which bounds the resolution from above (a 96 px wide image is at most 244 ppi). It
# keeps the spectral peak off the low frequencies of the print's outline on small images.
MIN_FINGER_MM = 10.0


def _central_patch(pixels: np.ndarray) -> np.ndarray:
    """The square at the print's centre that the resolution is measured on: 90 % of the smaller side, at
    most 256 pixels."""
    h, w = pixels.shape
    side = max(16, min(int(min(h, w) * 0.9), 256))
    y0, x0 = (h - side) // 2, (w - side) // 2
    return pixels[y0 : y0 + side, x0 : x0 + side]


# Below this clarity (crms.fingerprint.quality: ridge-flow coherence times contrast, 0-1) of the central
# square there are no ridges to measure, and the spectrum's peak is noise: a print smudged or washed out.
# The lowest of the FVC, SOCOFing and NIST prints is 0.08; a print blurred (σ 4 px) to a tenth of its
# contrast gives 0.004-0.010 (bench/fp_resolution.py).
MIN_ESTIMATE_CLARITY = 0.03


def ridge_clarity(pixels: np.ndarray) -> float:
    """Clarity of the ridges in the central square the estimate reads (mean local quality over its
    foreground; 0 without one)."""
    from crms.fingerprint.quality import local_quality

    local = local_quality(_central_patch(pixels))
    foreground = local > 0
    return float(local[foreground].mean()) if foreground.any() else 0.0


def estimate_ridge_period(pixels: np.ndarray, max_period: float = 25.0) -> float:
    """Dominant ridge period in pixels, from the radial peak of the power spectrum of the central part
    (Hann window; radial mean times r^2 to undo the 1/f^2 fall-off; peak refined by a parabola).
    Only periods from 2.2 to ``max_period`` pixels are considered."""
    patch = _central_patch(pixels).astype(np.float64)
    side = patch.shape[0]
    patch = patch - patch.mean()
    win = np.outer(np.hanning(side), np.hanning(side))
    spec = np.abs(np.fft.fftshift(np.fft.fft2(patch * win))) ** 2
    cy, cx = side // 2, side // 2
    yy, xx = np.indices(spec.shape)
    r = np.hypot(yy - cy, xx - cx)
    rmin, rmax = side / max(max_period, 2.5), side / 2.2
    rb = np.round(r).astype(int)
    sel = (r >= rmin) & (r <= rmax)
    prof = np.bincount(rb[sel], weights=spec[sel], minlength=side)
    cnt = np.bincount(rb[sel], minlength=side)
    prof = np.where(cnt > 0, prof / np.maximum(cnt, 1), 0.0) * np.arange(side) ** 2  # undo the 1/f^2 fall-off
    prof = np.convolve(prof, np.ones(3) / 3, mode="same")
    k = int(np.argmax(prof))
    if k <= 0 or prof[k] <= 0:
        raise ImageError("cannot estimate the ridge period: no ridge pattern found", field="dpi")
    kf = float(k)
    if k < side - 1 and prof[k - 1] > 0 and prof[k + 1] > 0:
        den = prof[k - 1] - 2 * prof[k] + prof[k + 1]
        if den < 0:
            kf = k + 0.5 * (prof[k - 1] - prof[k + 1]) / den
    return side / kf


# The ridge period (pixels) of a typical print at 500 ppi: the median over the 8 FVC B sets at their
# true resolutions (bench/fp_resolution.py); SOCOFing and the NIST prints are held out.
TYPICAL_PERIOD_500 = 8.5


def estimate_dpi(pixels: np.ndarray, *, min_clarity: float = MIN_ESTIMATE_CLARITY) -> float:
    """Estimate the resolution from the ridge frequency, assuming a typical adult ridge period and a
    finger at least ``MIN_FINGER_MM`` wide across the image's smaller side. ImageError where the ridges are
    too unclear to measure (:func:`ridge_clarity` below ``min_clarity``)."""
    if min_clarity > 0 and ridge_clarity(pixels) < min_clarity:
        raise ImageError("cannot estimate the resolution: no ridge pattern found", field="dpi")
    h, w = pixels.shape
    dpi_cap = min(h, w) * 25.4 / MIN_FINGER_MM
    period = estimate_ridge_period(pixels, max_period=min(25.0, TYPICAL_PERIOD_500 * dpi_cap / TARGET_DPI))
    dpi = period / TYPICAL_PERIOD_500 * TARGET_DPI
    return float(min(max(dpi, MIN_DPI), MAX_DPI))


# A file's tag is implausible when the ridge-period estimate differs from it by more than this factor
# either way. Prints at their tagged resolution stay inside (the estimate's error is under 30 % for 95 %
# of the FVC, SOCOFing and NIST prints, at most about 50 %: bench/fp_resolution.py); a print tagged
# 500 ppi but scanned at 170 (SOCOFing), or tagged 1000 but at 500, falls outside.
TAG_TOLERANCE = 1.6


def choose_dpi(
    pixels: np.ndarray, file_dpi: float | None, requested: float | str | None
) -> tuple[float, str, str, float | None]:
    """The source resolution to use: (ppi, source, reason, estimate or None).

    - a number from the caller wins (source "caller");
    - "auto": the ridge-period estimate (source "estimated");
    - otherwise the file's tag (source "file") when it is plausible: present, not a screen default
      (72/96/120), within 100-2000 ppi, and within a factor ``TAG_TOLERANCE`` of the estimate;
    - a missing or implausible tag: the estimate (source "estimated");
    - no ridge pattern to estimate from (none, or too unclear to measure: a smudged print): the tag if
      any, else 500 (source "default").
    """
    if requested is not None and requested != "auto":
        return float(requested), "caller", "given by the caller", None
    try:
        est: float | None = estimate_dpi(pixels)
    except ImageError:
        est = None
    if requested == "auto":
        if est is None:
            raise ImageError("cannot estimate the resolution: no ridge pattern found", field="dpi")
        return est, "estimated", "estimate asked for (auto)", est
    if file_dpi is not None:
        if est is None:
            return file_dpi, "file", f"the file's tag ({file_dpi:g} ppi); no ridge pattern to check it", None
        if 1 / TAG_TOLERANCE <= est / file_dpi <= TAG_TOLERANCE:
            return file_dpi, "file", f"the file's tag ({file_dpi:g} ppi), consistent with the ridges", est
        return (
            est,
            "estimated",
            f"the file's tag ({file_dpi:g} ppi) is implausible: the ridge period says {est:.0f} ppi",
            est,
        )
    if est is None:
        return float(TARGET_DPI), "default", "no resolution in the file and no ridge pattern: 500 ppi", None
    return est, "estimated", "no usable resolution in the file: estimated from the ridge period", est


def parse_dpi(value: str | int | float | None) -> float | str | None:
    """CLI/API helper: None, "auto" or a number of ppi (validated)."""
    if value is None:
        return None
    if isinstance(value, str):
        v = value.strip().lower()
        if v == "auto":
            return "auto"
        try:
            value = float(v)
        except ValueError:
            raise ImageError(f"dpi must be a number or 'auto', got {value!r}", field="dpi") from None
    if not math.isfinite(float(value)) or not (MIN_DPI <= float(value) <= MAX_DPI):
        message = f"dpi must be between {MIN_DPI} and {MAX_DPI}, got {value}"
        raise image_error("ppi_outside", message, "dpi", ppi=f"{float(value):g}", low=MIN_DPI, high=MAX_DPI)
    return float(value)


def load_image(
    source: str | Path | bytes,
    dpi: float | str | None = None,
    name: str | None = None,
    *,
    sandbox: bool = True,
) -> FingerImage:
    """Read a fingerprint image and normalise it to 500 ppi.

    ``dpi``: None → the file's resolution if plausible, else estimated from the ridge period (see
    ``choose_dpi``); a number → the caller's value wins; "auto" → the estimate.
    ``FingerImage.dpi_source`` and ``dpi_reason`` say which was used and why.
    ``sandbox``: decode in a limited worker process (see :func:`decode`).
    """
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
        label = name or "image"
    else:
        path = Path(source)
        label = name or str(path)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise ImageError(f"{label}: cannot read ({exc.strerror or exc})") from None
        if size > MAX_BYTES:
            raise _too_many_bytes(label, size)
        if not path.is_file():
            raise ImageError(f"{label}: not a regular file")
        data = path.read_bytes()
    pixels, file_dpi, fmt = decode(data, label, sandbox=sandbox)
    used, how, reason, est = choose_dpi(pixels, file_dpi, parse_dpi(dpi))
    out = resample(pixels, used)
    if min(out.shape) < MIN_SIDE:
        width, height = int(out.shape[1]), int(out.shape[0])
        message = f"{label}: only {width}x{height} pixels at 500 ppi: too small"
        raise image_error("image_too_small_at_ppi", message, width=width, height=height, ppi=f"{used:g}")
    return FingerImage(
        np.ascontiguousarray(out),
        round(used, 1),
        how,
        (pixels.shape[1], pixels.shape[0]),
        fmt,
        dpi_reason=reason,
        dpi_file=file_dpi,
        dpi_estimate=None if est is None else round(est, 1),
    )


def list_images(folder: Path) -> list[Path]:
    """Image files of a folder (not recursive), sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
